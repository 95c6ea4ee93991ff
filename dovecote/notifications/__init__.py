"""Notification types, their registry, sending, recipients and preferences."""
