"""Signals of the push transport."""

from django.dispatch import Signal

#: Sent by every push backend after ``send_messages()``, once per message that
#: reached a device or browser; ``sender`` is the message's class,
#: ``instance`` the message.
post_send = Signal()
