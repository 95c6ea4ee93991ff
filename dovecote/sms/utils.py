"""Read back the records written by the console and file SMS backends."""

from __future__ import annotations

from typing import IO

from dovecote.sms.message import Message

_TERMINATOR = "\n" + "-" * 79 + "\n"


def messages_from_bytes(data: bytes) -> list[Message]:
    """Return one :class:`Message` per record in ``data``, in order.

    Empty ``data`` (a connection that sent nothing) holds no records.
    Raise ``ValueError`` if ``data`` is not a sequence of records.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    if not text:
        return []
    if not text.endswith(_TERMINATOR):
        raise ValueError("Not an SMS record: it must end with a line of 79 '-'.")
    messages = []
    for record in text[: -len(_TERMINATOR)].split(_TERMINATOR):
        header_from, _, rest = record.partition("\n")
        header_to, _, body = rest.partition("\n")
        if not header_from.startswith("from: ") or not header_to.startswith("to: "):
            raise ValueError(
                "Not an SMS record: it must start with 'from: ' and 'to: ' lines."
            )
        message = Message(body, recipients=[header_to[len("to: ") :]])
        message.originator = header_from[len("from: ") :]
        messages.append(message)
    return messages


def message_from_bytes(data: bytes) -> Message:
    """Return the message written as the records in ``data``.

    The records of one message (one per recipient) are joined back into a
    message with all its recipients. Raise ``ValueError`` if ``data`` holds
    no record, or records of messages with different senders or bodies
    (read those with :func:`messages_from_bytes`).
    """
    messages = messages_from_bytes(data)
    if not messages:
        raise ValueError("No SMS record in the data.")
    first = messages[0]
    for other in messages[1:]:
        if (other.originator, other.body) != (first.originator, first.body):
            raise ValueError(
                "The records hold more than one message; use messages_from_bytes()."
            )
        first.recipients.extend(other.recipients)
    return first


def message_from_binary_file(fp: IO[bytes]) -> Message:
    """Return the message written in the open binary file ``fp``."""
    return message_from_bytes(fp.read())


def messages_from_binary_file(fp: IO[bytes]) -> list[Message]:
    """Return every message written in the open binary file ``fp``."""
    return messages_from_bytes(fp.read())
