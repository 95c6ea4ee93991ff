"""Signals of the chat transport."""

from django.dispatch import Signal

#: Sent by every chat backend after ``send_messages()``, once per message that
#: reached a webhook; ``sender`` is the message's class, ``instance`` the
#: message.
post_send = Signal()
