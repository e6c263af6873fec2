"""The biller catalogue: utilities we fetch and pay, with each biller's payment coordinates."""
