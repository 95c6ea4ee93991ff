"""Signals of the SMS transport (as django-sms's ``sms.signals``)."""

from django.dispatch import Signal

#: Sent by every SMS backend after ``send_messages()``, once per message that
#: reached a recipient (so ``Message.send()``, ``send_sms()`` and a direct
#: ``get_connection().send_messages([...])`` alike); ``sender`` is the
#: message's class, ``instance`` the message.
post_send = Signal()
