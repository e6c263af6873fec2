"""Bulk fetch and payment requests: creating, cancelling, reading."""
