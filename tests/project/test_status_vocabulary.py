"""Dovecote's status words are written once, in ``dovecote/status.py``.

Everywhere else in ``dovecote/`` a status of dovecote's own (a Delivery's, a
channel's ``Outcome``, a transport's ``RecipientResult``) is named by
``DeliveryStatus`` or ``RESULT_INVALID``, never spelled as a string. The walk
below finds every string constant equal to a status word and fails on any
outside the allowed places:

- the definitions: ``dovecote/status.py`` and the members of
  ``TrackingStatus`` (the vocabulary provider reports are normalised to);
- labels (the argument of ``_()``/``gettext``), docstrings, migrations;
- a provider's own words: the fake providers (``dovecote/testing/fakes/``),
  the keys of tables mapping a provider's word to a ``TrackingStatus``, and
  the lines of ``PROVIDER_WORDS`` (each says whose word it is);
- the lines of ``TEXT``: a word in an error message, not a status.

An allowed line that no longer exists fails too (delete its entry).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from dovecote.delivery.reports import TrackingStatus
from dovecote.status import RESULT_INVALID, DeliveryStatus

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dovecote"

#: Every status word of dovecote's.
WORDS = frozenset(
    {*(s.value for s in DeliveryStatus), *(s.value for s in TrackingStatus)}
    | {RESULT_INVALID}
)

#: Files that define the vocabulary, or speak only a provider's.
ALLOWED_FILES = ("dovecote/status.py", "dovecote/testing/fakes/")
#: Enums whose members define a vocabulary.
VOCABULARY_CLASSES = frozenset({"DeliveryStatus", "TrackingStatus"})
GETTEXT = frozenset(
    {"_", "gettext", "gettext_lazy", "ngettext", "pgettext", "pgettext_lazy"}
)

#: (file, stripped source line) -> whose words these are.
PROVIDER_WORDS = {
    (
        "dovecote/esp.py",
        'REFUSED_STATUSES = frozenset({"rejected", "invalid", "failed"})',
    ): "anymail's recipient statuses",
    (
        "dovecote/esp.py",
        'is_gone=status == "invalid", is_suppressed=status == "rejected"',
    ): "anymail's recipient status",
    (
        "dovecote/sms/backends/messagebird.py",
        'ACCEPTED_STATUSES = frozenset({"scheduled", "sent", "buffered", "delivered"})',
    ): "MessageBird's recipient statuses",
    (
        "dovecote/sms/backends/twilio.py",
        'QUEUED_STATUSES = frozenset({"accepted", "queued", "scheduled"})',
    ): "Twilio's message statuses",
    (
        "dovecote/sms/backends/twilio.py",
        'status = str(data.get("status") or "queued")',
    ): "Twilio's message status",
    (
        "dovecote/sms/backends/twilio.py",
        'if status in ("failed", "undelivered"):',
    ): "Twilio's message statuses",
    (
        "dovecote/esp.py",
        'SUPPRESSING_REASONS = frozenset({"bounced", "spam", '
        '"unsubscribed", "timed_out"})',
    ): "anymail's reject reasons",
    (
        "dovecote/esp.py",
        'is_gone=reason == "invalid", is_suppressed=reason in SUPPRESSING_REASONS',
    ): "anymail's reject reason",
}

#: (file, stripped source line) -> why the word there is text.
TEXT = {
    (
        "dovecote/channels/base.py",
        'reason = outcome.error or "failed"',
    ): "a failover event's reason when the outcome has no error",
    (
        "dovecote/channels/outcome.py",
        'result.error_message or "failed",',
    ): "an error message when the provider gave none",
    (
        "dovecote/transport.py",
        "f\"{self.display_address(r.recipient)}: {r.error_message or 'failed'}\"",
    ): "an error message when the provider gave none",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(
            node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
        ):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
            ):
                found.add(id(body[0].value))
    return found


def _exempt(tree: ast.AST) -> set[int]:
    """Return the ids of the constants allowed wherever they appear."""
    exempt = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in VOCABULARY_CLASSES:
            exempt.update(id(n) for n in ast.walk(node))
        elif isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id in GETTEXT)
            or (isinstance(node.func, ast.Attribute) and node.func.attr in GETTEXT)
        ):
            exempt.update(id(n) for arg in node.args for n in ast.walk(arg))
        elif isinstance(node, ast.Dict):
            # A provider's word -> ours: the key stays the provider's.
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    key is not None
                    and isinstance(value, ast.Attribute)
                    and isinstance(value.value, ast.Name)
                    and value.value.id == "TrackingStatus"
                ):
                    exempt.add(id(key))
    return exempt


def status_literals(source: str) -> Iterator[tuple[int, str, str]]:
    """Yield ``(line number, stripped line, word)`` of each status literal."""
    tree = ast.parse(source)
    lines = source.splitlines()
    exempt = _exempt(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in WORDS
            and id(node) not in exempt
        ):
            yield node.lineno, lines[node.lineno - 1].strip(), node.value


def found_literals() -> dict[tuple[str, str], list[tuple[int, str]]]:
    found: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name.startswith(ALLOWED_FILES) or "/migrations/" in name:
            continue
        for lineno, line, word in status_literals(path.read_text(encoding="utf-8")):
            found.setdefault((name, line), []).append((lineno, word))
    return found


def test_no_status_literal_outside_the_vocabulary():
    allowed = PROVIDER_WORDS.keys() | TEXT.keys()
    stray = {key: hits for key, hits in found_literals().items() if key not in allowed}
    assert not stray, (
        "Status words spelled as strings: use DeliveryStatus.<NAME> (or "
        "RESULT_INVALID) from dovecote.status; a provider's own word goes in "
        "PROVIDER_WORDS with whose it is.\n"
        + "\n".join(
            f"  {name}:{lineno}: {word!r} in {line}"
            for (name, line), hits in sorted(stray.items())
            for lineno, word in hits
        )
    )


def test_every_allowed_line_still_exists():
    found = found_literals().keys()
    gone = (PROVIDER_WORDS.keys() | TEXT.keys()) - found
    assert not gone, "Gone; delete from PROVIDER_WORDS or TEXT:\n" + "\n".join(
        f"  {name}: {line}" for name, line in sorted(gone)
    )


def test_the_walk_finds_literals_and_skips_the_allowed_places():
    source = (
        '"""Module docstring: queued."""\n'
        "from django.utils.translation import gettext_lazy as _\n"
        "STATUS_MAP = {'delivered': TrackingStatus.DELIVERED}\n"
        "class TrackingStatus(StrEnum):\n"
        "    SENT = 'sent'\n"
        "LABEL = _('failed')\n"
        "def f(d):\n"
        "    '''Skipped.'''\n"
        "    if d.status == 'held':\n"
        "        return {'bounced': 'mine'}\n"
        "    return RecipientResult(status='invalid')\n"
    )
    assert sorted((n, w) for n, _line, w in status_literals(source)) == [
        (9, "held"),
        (10, "bounced"),
        (11, "invalid"),
    ]
