"""What the fake Twilio checks of a WhatsApp message (``whatsapp:`` numbers).

As https://www.twilio.com/docs/whatsapp/api describes: ``To`` and ``From``
are both ``whatsapp:+<E.164>`` (else 21910), a content template is sent by
``ContentSid`` (``HX…``, else 21655) and ``ContentVariables`` (a JSON object
of non-empty strings, else 21656), and free-form text reaches the user only
within 24 hours of their last message: outside, the message is accepted and
then fails with 63016, which the status callback reports.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
PREFIX = "whatsapp:"


@dataclass
class WhatsAppState:
    """The WhatsApp side of a fake Twilio account."""

    #: Approved content templates: ``ContentSid`` -> text with ``{{1}}``...
    templates: dict[str, str] = field(default_factory=dict)
    #: Numbers (E.164) that wrote to the business in the last 24 hours.
    open_sessions: set[str] = field(default_factory=set)
    #: Numbers with no WhatsApp account (63003).
    unknown_numbers: set[str] = field(default_factory=set)

    def clear(self) -> None:
        self.templates.clear()
        self.open_sessions.clear()
        self.unknown_numbers.clear()


def check(
    state: WhatsAppState, form: dict[str, str]
) -> tuple[tuple[int, str] | None, str]:
    """Return ``(error, shown_body)`` for a WhatsApp request's form.

    ``error`` is ``(code, message)`` for a refused request, else None.
    """
    to, sender = form.get("To", ""), form.get("From", "")
    number = to.removeprefix(PREFIX)
    if not E164.match(number):
        return (21211, f"The 'To' number {to} is not a valid phone number."), ""
    if sender and not (sender.startswith(PREFIX) and E164.match(sender[len(PREFIX) :])):
        return (
            21910,
            "Invalid From and To pair. From and To should be of the same channel.",
        ), ""
    sid = form.get("ContentSid", "")
    raw_variables = form.get("ContentVariables")
    if raw_variables is not None and not sid:
        return (21654, "ContentSid Required"), ""
    if not sid:
        body = form.get("Body", "")
        if not body:
            return (21602, "Message body is required."), ""
        return None, body
    if not CONTENT_SID.match(sid) or sid not in state.templates:
        return (21655, "The ContentSid is Invalid"), ""
    variables: object = {}
    if raw_variables is not None:
        try:
            variables = json.loads(raw_variables)
        except ValueError:
            variables = None
    if not isinstance(variables, dict) or not all(
        isinstance(v, str) and v for v in variables.values()
    ):
        return (21656, "The ContentVariables Parameter is invalid"), ""
    shown = state.templates[sid]
    for key, value in variables.items():
        shown = shown.replace("{{" + str(key) + "}}", value)
    return None, shown


def delivery_report(
    state: WhatsAppState, form: dict[str, str], sid: str
) -> dict[str, str]:
    """Return the status callback Twilio would post once the message is done."""
    to = form.get("To", "")
    number = to.removeprefix(PREFIX)
    report = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": "delivered",
        "To": to,
        "From": form.get("From", ""),
        "ChannelPrefix": "whatsapp",
    }
    if number in state.unknown_numbers:
        report.update(MessageStatus="undelivered", ErrorCode="63003")
    elif not form.get("ContentSid") and number not in state.open_sessions:
        report.update(MessageStatus="failed", ErrorCode="63016")
    return report
