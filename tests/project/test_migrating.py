"""docs/migrating.md's worked examples, run as written.

Each section (django-sms, django-courier, django-notifier) runs on its own:
files named in bold are created (Python modules in a package on
``sys.path``, templates in a template directory), ``settings.py`` blocks
become the settings, the other Python blocks run in order (their
``assert``s must hold), ``$ python manage.py`` lines run the command.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from dovecote.notifications.registry import registered_notifications, unregister
from tests.project.test_getting_started import Block, parse

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "migrating.md"


def section(title: str) -> list[Block]:
    text = GUIDE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return parse(text[start : end if end > 0 else None])


def run_section(title: str, tmp_path: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Run one section's blocks; return the namespace of its Python blocks."""
    from django.conf import settings

    (tmp_path / "templates").mkdir()
    (tmp_path / "myshop").mkdir()
    (tmp_path / "myshop" / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    engine: dict[str, Any] = dict(settings.TEMPLATES[0])
    overrides: dict[str, Any] = {
        "TEMPLATES": [{**engine, "DIRS": [tmp_path / "templates", *engine["DIRS"]]}]
    }
    namespace: dict[str, Any] = {}
    before = set(registered_notifications())
    ran = 0
    stack: list[Any] = []
    try:
        for block in section(title):
            if block.file == "settings.py":
                values: dict[str, Any] = {}
                exec(block.code, values)
                overrides.update({k: v for k, v in values.items() if k.isupper()})
            elif block.file:
                target = tmp_path / block.file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code)
            elif block.lang == "python":
                if not stack:
                    stack.append(override_settings(**{**overrides, **extra}))
                    stack[-1].enable()
                exec(compile(block.code, f"{GUIDE.name}: {title}", "exec"), namespace)
                ran += 1
            elif block.lang == "console":
                for line in block.code.splitlines():
                    argv = shlex.split(line.removeprefix("$ "))
                    assert argv[:2] == ["python", "manage.py"], line
                    call_command(*argv[2:])
                    ran += 1
        assert ran, f"no example ran in {title!r}"
        from django.core import checks

        # What ``manage.py check`` says with the section's settings.
        namespace["check_ids"] = {m.id for m in checks.run_checks()}
        return namespace
    finally:
        for switch in reversed(stack):
            switch.disable()
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "myshop"]:
            del sys.modules[name]
        for cls in set(registered_notifications()) - before:
            unregister(cls)


def test_from_django_sms(tmp_path):
    import dovecote.sms

    run_section("From django-sms", tmp_path, {})
    assert len(dovecote.sms.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_from_django_courier(tmp_path, fake_twilio):
    run_section(
        "From django-courier",
        tmp_path,
        {
            # The fake Twilio stands in for api.twilio.com with its own keys.
            "TWILIO_BASE_URL": fake_twilio.base_url,
            "TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
            "TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
            "DEFAULT_FROM_SMS": None,
        },
    )
    (request,) = fake_twilio.requests
    assert request.form == {
        "To": "+441134960000",
        "From": "+15005550006",  # TWILIO_FROM_NUMBER
        "Body": "Parcel P-7 is on its way.",
    }


@pytest.mark.django_db(transaction=True)
def test_from_django_notifier(tmp_path, dovecote_outbox, settings):
    from django.core import mail

    # A project as the guide builds it: no django.contrib.sites, so the
    # site's name comes from the guide's own settings.
    apps = [a for a in settings.INSTALLED_APPS if a != "django.contrib.sites"]
    namespace = run_section("From django-notifier", tmp_path, {"INSTALLED_APPS": apps})
    assert "dovecote.W021" not in namespace["check_ids"]
    assert mail.outbox[0].subject == "Your order shipped from Shop"
    assert dovecote_outbox.sms[0].body == "Ada: order 42 shipped."
    assert dovecote_outbox.sms[0].recipients == ["+441134960000"]
    copied = tmp_path / "templates" / "dovecote" / "order-dispatched"
    assert sorted(p.name for p in copied.iterdir()) == [
        "email_body.txt",
        "email_subject.txt",
        "sms.txt",
    ]
