"""Management commands and the helpers they share with the admin."""
