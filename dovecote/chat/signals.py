"""Signals of the chat transport."""

from django.dispatch import Signal

#: Sent after ``ChatMessage.send()``; arguments: ``instance`` (the ChatMessage).
post_send = Signal()
