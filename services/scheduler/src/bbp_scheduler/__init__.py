"""The scheduler: paces work toward Mobiquity, tracks enquiries and finishes requests."""
