"""Reading uploaded files within limits: every kind of upload (bill accounts today,
reconciliation reports later) names its :class:`~bbp_portal.files.limits.UploadLimits`, and
the readers here refuse a file the moment it breaks one, before memory or CPU runs away.

Pure: bytes in, rows out, no database and no Flask.
"""
