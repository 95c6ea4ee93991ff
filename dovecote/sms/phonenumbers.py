"""Phone numbers (E.164), sender ids, and GSM-7/UCS-2 encoding of SMS bodies."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers

from dovecote.conf import setting
from dovecote.exceptions import InvalidAddress

__all__ = [
    "SmsEncoding",
    "encoding_info",
    "is_gsm7",
    "normalize_number",
    "normalize_originator",
]

#: The GSM 03.38 basic character set (one septet each), without the escape.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The GSM 03.38 extension table: an escape plus one septet, so two each.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}")


def normalize_number(
    value: str | phonenumbers.PhoneNumber, region: str | None = None
) -> str:
    """Return ``value`` as an E.164 phone number (``+441134960000``).

    A number without a ``+`` country code is read as a number of ``region``
    (an ISO 3166 code such as ``"GB"``), by default the ``SMS_DEFAULT_REGION``
    setting. Raise :class:`~dovecote.exceptions.InvalidAddress`, naming the
    value, if it is not a valid number.
    """
    if isinstance(value, phonenumbers.PhoneNumber):
        return _valid_e164(value, repr(value))
    if not isinstance(value, str):
        raise InvalidAddress(f"{value!r} is not a phone number (not a string).")
    return _normalize_text(value, region or setting("SMS_DEFAULT_REGION"))


@functools.lru_cache(maxsize=4096)
def _normalize_text(value: str, region: str | None) -> str:
    # Cached: a worker sends from the same originator, and often to the same
    # numbers, many times; parsing and validating is the costly part of an
    # SMS on the sending side. Invalid numbers raise and are not cached.
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        reason = str(exc.args[0]).rstrip(".") if exc.args else "unparsable"
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            reason = (
                "it has no valid country code; write it as +<country code> "
                "or set SMS_DEFAULT_REGION"
            )
        raise InvalidAddress(
            f"{value!r} is not a valid phone number: {reason}."
        ) from exc
    return _valid_e164(parsed, repr(value))


def _valid_e164(parsed: phonenumbers.PhoneNumber, shown: str) -> str:
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidAddress(
            f"{shown} is not a valid phone number: no such number exists "
            "in its country's numbering plan."
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_originator(value: str, *, allow_alphanumeric: bool = True) -> str:
    """Return the sender ``value`` as an E.164 number or an alphanumeric id.

    An alphanumeric sender id is 1 to 11 characters of ``A-Z a-z 0-9`` and
    space with at least one letter (``"Dovecote"``); it is returned as given.
    Anything without a letter is read as a phone number. Raise
    :class:`~dovecote.exceptions.InvalidAddress` if ``value`` is neither, or
    is alphanumeric when ``allow_alphanumeric`` is False.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidAddress(f"{value!r} is not a valid sender: it is empty.")
    if not any(char.isalpha() for char in value):
        return normalize_number(value)
    if not _ALPHANUMERIC_SENDER.fullmatch(value):
        raise InvalidAddress(
            f"{value!r} is not a valid sender: an alphanumeric sender id is 1 to "
            "11 characters of A-Z, a-z, 0-9 and space."
        )
    if not allow_alphanumeric:
        raise InvalidAddress(
            f"{value!r} is not a valid sender: this backend needs a phone "
            "number, not an alphanumeric sender id."
        )
    return value


@dataclass(frozen=True)
class SmsEncoding:
    """How an SMS body is encoded and how many segments it takes.

    ``encoding`` is ``"GSM-7"`` or ``"UCS-2"``. ``units`` counts septets for
    GSM-7 (extension characters such as ``€`` count two) or UTF-16 code
    units for UCS-2 (an emoji counts two). ``per_segment`` is the capacity of
    one segment: 160 (GSM-7) or 70 (UCS-2) for a single-part message, 153 or
    67 once it is split, since each part then carries a header. An empty body
    takes 0 segments.
    """

    encoding: str
    units: int
    segments: int
    per_segment: int


def is_gsm7(body: str) -> bool:
    """Return True if every character of ``body`` exists in GSM-7."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in body)


def encoding_info(body: str) -> SmsEncoding:
    """Return the encoding, length and segment count of ``body``.

    Segments are counted as handsets and providers split them: a GSM-7
    escape pair or a UTF-16 surrogate pair is never cut across two parts, so
    a long body may take one segment more than ``units / per_segment``.
    """
    if is_gsm7(body):
        encoding, single, multi = "GSM-7", 160, 153
        sizes = [2 if char in GSM7_EXTENSION else 1 for char in body]
    else:
        encoding, single, multi = "UCS-2", 70, 67
        sizes = [2 if ord(char) > 0xFFFF else 1 for char in body]
    units = sum(sizes)
    if units <= single:
        return SmsEncoding(encoding, units, 1 if units else 0, single)
    segments, used = 1, 0
    for size in sizes:
        if used + size > multi:
            segments, used = segments + 1, 0
        used += size
    return SmsEncoding(encoding, units, segments, multi)
