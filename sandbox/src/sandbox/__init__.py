"""Stand-ins for the systems the bulk bill-payment platform talks to.

Only demos (`make run`) and tests use this package; production code never imports it.
`python -m sandbox` starts a stand-in: `mobiquity` today, `mail` and `sms` later.
"""
