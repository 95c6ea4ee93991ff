"""docs/guards.md and docs/escalation.md: their examples pass ``manage.py check``.

Each Python block of the two pages is run as a reader pastes it (the
``send_notification(...)`` calls aside: they need the reader's templates):
the UPPERCASE names it sets become settings, the notification types it
defines are registered. Then dovecote's start-up check of guards, chains and
breakers (``dovecote.E060``) must find nothing wrong, so an example that
drifts from what the code accepts fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.dispatch import receiver
from django.test import override_settings

from dovecote import Notification, Step
from dovecote.guardchecks import check_guards
from dovecote.notifications.registry import register, unregister
from tests.project.test_getting_started import parse

ROOT = Path(__file__).resolve().parents[2]


def examples(page: str) -> tuple[dict[str, Any], list[type[Notification]]]:
    """Run the page's Python blocks; return the settings and types they make."""
    made: list[type[Notification]] = []

    def collect(cls: type[Notification]) -> type[Notification]:
        made.append(cls)
        return cls

    namespace: dict[str, Any] = {
        "Notification": Notification,
        "Step": Step,
        "register": collect,
        "receiver": receiver,
    }
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    for block in parse(text):
        if block.lang != "python" or "DATABASES" in block.code:
            continue
        code = "\n".join(
            line
            for line in block.code.splitlines()
            if not line.startswith(("send_notification(", "from dovecote import "))
        )
        exec(compile(code, f"{page}:{block.line}", "exec"), namespace)
    for value in namespace.values():
        if (
            isinstance(value, type)
            and issubclass(value, Notification)
            and value is not Notification
            and value not in made
        ):
            made.append(value)
    settings = {k: v for k, v in namespace.items() if k.isupper()}
    return settings, made


@pytest.fixture
def registered() -> Iterator[list[type[Notification]]]:
    done: list[type[Notification]] = []
    yield done
    for cls in done:
        unregister(cls)


@pytest.mark.parametrize("page", ["guards.md", "escalation.md"])
def test_the_examples_pass_the_checks(
    page: str, registered: list[type[Notification]]
) -> None:
    settings, types = examples(page)
    assert types, f"{page} defines no notification type"
    for cls in types:
        register(cls)
        registered.append(cls)
    with override_settings(**settings):
        assert check_guards() == []


def test_the_guards_example_settings_are_all_there() -> None:
    settings, types = examples("guards.md")
    assert set(settings) == {
        "DOVECOTE_USER_CAPS",
        "DOVECOTE_BUDGETS",
        "DOVECOTE_CIRCUIT_BREAKER",
    }
    assert {cls.name for cls in types} == {"payment-failed", "low-stock"}


def test_a_malformed_example_would_fail(registered: list[type[Notification]]) -> None:
    settings, types = examples("guards.md")
    for cls in types:
        register(cls)
        registered.append(cls)
    settings["DOVECOTE_USER_CAPS"] = {"sms": "5 per hour"}
    with override_settings(**settings):
        errors = check_guards()
    assert [e.id for e in errors] == ["dovecote.E060"]
    assert "5 per hour" in errors[0].msg
