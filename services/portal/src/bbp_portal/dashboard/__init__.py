"""The dashboard: what a person needs on arrival — what is running, what waits for a person,
and their own latest requests. A read model over both request kinds and the payments
(``queries``), and its page (``views``); nothing imports it but ``create_app``.
"""
