"""Pages for superadmins and auditors: the user registry and the audit log."""
