"""dovecote's management commands."""
