"""Bill accounts: the accounts themselves, their groups, listing and selection, bulk upload.

Views (``views.py`` pages, ``api.py`` JSON) stay thin; the rules live in the service modules
(``service.py``, ``groups.py``, ``listing.py``, ``upload/``), which take a SQLAlchemy
``Connection`` and know nothing of Flask, so the fetch and payment features reuse them.
"""
