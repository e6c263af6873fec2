"""Reconciliation with Mobiquity's transaction report (issue 18, item 1).

A person uploads the report (CSV or XLSX, spooled to disk, read a line at a time:
:mod:`.reading`); its lines go into a temporary table in chunks and one set-based pass
matches them to our payments by reference id (:mod:`.matching`), putting each reference id in
one class. Nothing here changes a payment: a payment uncleared or ambiguous with a
definitive line (``definitive_for_open``) is resolved by a person through bulk resolution;
a payment of ours that failed or was never sent but shows paid raises a double-payment alarm
(``bbp_common.core.stores.alarms``) that a superadmin clears.
"""
