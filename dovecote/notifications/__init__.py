"""Notification types, their registry, rendering, recipients and preferences."""
