"""The communicator: the only caller of Mobiquity's bill endpoints, mail and SMS."""
