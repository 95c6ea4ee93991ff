"""Views of the web side: preferences, unsubscribe, inbox, dev outbox."""
