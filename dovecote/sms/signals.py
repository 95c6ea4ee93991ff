"""Signals of the SMS transport (as django-sms's ``sms.signals``)."""

from django.dispatch import Signal

#: Sent after ``Message.send()``; arguments: ``instance`` (the Message).
post_send = Signal()
