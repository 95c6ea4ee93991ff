"""What must hold on every supported stack (Django 5.2, 6.0, 6.1)."""

from __future__ import annotations

import textwrap

import django
import pytest
from django.core import checks
from django.test import override_settings

from dovecote import compat
from dovecote.checks import check_mailers, check_tasks_api
from tests.subproc import environ_without, run_python

# Django's own classes are not subscriptable; django_stubs_ext.monkeypatch()
# makes them so, and the django-tasks backport (and django-tasks-db) call it
# on import. Dovecote must not need that: block the module, import everything.
NO_STUBS_EXT = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    sys.modules["django_stubs_ext"] = None  # any import of it now fails

    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "dovecote",
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        },
        SECRET_KEY="x",
    )
    django.setup()
    from django.contrib import admin

    admin.autodiscover()  # imports dovecote.admin
    assert "dovecote.admin" in sys.modules
    import dovecote

    skip = ("dovecote.migrations", "dovecote.testing")
    if django.VERSION < (6, 0):
        # The backport itself needs django_stubs_ext: the modules that
        # import it are left out here (they are imported everywhere else):
        # tasks, and the Celery backend with its tasks.
        skip += (
            "dovecote.delivery.tasks",
            "dovecote.delivery.celery",
            "dovecote.tasks",
        )
    names = [
        m.name
        for m in pkgutil.walk_packages(dovecote.__path__, "dovecote.")
        if not m.name.startswith(skip)
    ]
    for name in names:
        importlib.import_module(name)
    print(len(names), "modules")
    """
)


def test_dovecote_and_its_admin_load_without_django_stubs_ext():
    done = run_python("-W", "error", "-c", NO_STUBS_EXT, env=environ_without("DJANGO_"))
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[0]) > 40


def test_the_tasks_api_is_django_tasks_on_django_6_else_the_backport():
    from dovecote.delivery import tasks

    expected = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
    assert compat.tasks_api() == expected
    assert tasks.task.__module__.startswith(expected + ".")
    # One registry: the backend dovecote enqueues on is django.tasks's own.
    assert type(tasks.backend()).__module__.startswith(expected + ".")
    assert check_tasks_api() == []


def test_a_missing_tasks_api_is_an_error_that_names_the_package(monkeypatch):
    monkeypatch.setattr(compat, "DJANGO_6", False)
    monkeypatch.setattr(compat, "TASKS_BACKPORT", "django_tasks_not_installed")
    (error,) = check_tasks_api()
    assert error.id == "dovecote.E030"
    assert "pip install 'django-tasks>=0.12'" in error.msg
    assert error.hint and "django-tasks" in error.hint


@pytest.mark.skipif(not compat.DJANGO_6, reason="Django 6 has django.tasks")
def test_the_backports_backend_on_django_6_is_a_warning(settings):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}
    }
    (warning,) = check_tasks_api()
    assert warning.id == "dovecote.W030"
    assert "'django.tasks.backends.immediate.ImmediateBackend'" in str(warning.hint)


def email_channel(**options):
    return {
        "DOVECOTE_CHANNELS": [
            {"BACKEND": "dovecote.channels.email.EmailChannel", **options}
        ]
    }


@pytest.mark.skipif(not compat.HAS_MAILERS, reason="MAILERS is new in Django 6.1")
def test_an_unknown_mailer_alias_is_an_error():
    with override_settings(**email_channel(OPTIONS={"mailer": "transactional"})):
        (error,) = check_mailers()
    assert error.id == "dovecote.E031"
    assert "'transactional'" in error.msg and "default" in str(error.hint)
    with override_settings(**email_channel(BACKENDS=["mailer:default", "mailer:x"])):
        assert [e.msg for e in check_mailers()] == [
            "The channel 'email' names the mailer 'x', which MAILERS does not define."
        ]
    locmem = {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    known = {"default": locmem, "transactional": locmem}
    with override_settings(
        MAILERS=known, **email_channel(OPTIONS={"mailer": "transactional"})
    ):
        assert check_mailers() == []


@pytest.mark.skipif(compat.HAS_MAILERS, reason="Django 6.1 has MAILERS")
def test_a_mailer_before_django_6_1_is_an_error():
    with override_settings(**email_channel(OPTIONS={"mailer": "transactional"})):
        (error,) = check_mailers()
    assert error.id == "dovecote.E032"
    assert isinstance(error, checks.Error)


@pytest.mark.skipif(not compat.HAS_MAILERS, reason="MAILERS is new in Django 6.1")
@pytest.mark.django_db(transaction=True)
def test_a_channel_sends_through_the_mailer_it_names(tmp_path):
    from dovecote import Recipient, send_notification
    from dovecote.models import Delivery

    filebased = "django.core.mail.backends.filebased.EmailBackend"
    mailers = {
        "default": {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"},
        "transactional": {"BACKEND": filebased, "OPTIONS": {"file_path": tmp_path}},
    }
    with override_settings(
        MAILERS=mailers, **email_channel(OPTIONS={"mailer": "transactional"})
    ):
        send_notification(
            "weekly-digest", Recipient(email="ada@example.com"), channels=["email"]
        )
    row = Delivery.objects.get()
    assert row.status == "sent"
    assert row.backend == f"mailer:transactional ({filebased})"
    (written,) = tmp_path.iterdir()
    assert "To: ada@example.com" in written.read_text()


@pytest.mark.django_db(transaction=True)
def test_the_default_transport_is_recorded_on_each_delivery(dovecote_outbox):
    from dovecote import Recipient, send_notification
    from dovecote.models import Delivery

    send_notification(
        "weekly-digest", Recipient(email="ada@example.com"), channels=["email"]
    )
    row = Delivery.objects.get()
    locmem = "django.core.mail.backends.locmem.EmailBackend"
    expected = f"mailer:default ({locmem})" if compat.HAS_MAILERS else locmem
    assert (row.status, row.backend) == ("sent", expected)
    assert [m.to for m in dovecote_outbox.email] == [["ada@example.com"]]


OLD_EMAIL_SETTINGS_ON_6_1 = textwrap.dedent(
    """
    import sys, warnings
    import django
    from django.conf import settings

    out = sys.argv[1]
    templates = {
        "dovecote/hello/email_subject.txt": "Hello",
        "dovecote/hello/email_body.txt": "Body",
    }
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.auth", "django.contrib.contenttypes", "dovecote"
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        },
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [("django.template.loaders.locmem.Loader", templates)]
            },
        }],
        TASKS={
            "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
        },
        USE_TZ=True,
        SECRET_KEY="x",
        # The settings Django 6.1 deprecates, and no MAILERS:
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=out,
    )
    django.setup()
    from django.core.management import call_command

    from dovecote import Notification, Recipient, register, send_notification
    from dovecote.compat import email_file_paths
    from dovecote.models import Delivery

    call_command("migrate", verbosity=0)

    @register
    class Hello(Notification):
        name = "hello"
        channels = ["email"]

    send_notification("hello", Recipient(email="ada@example.com"))
    print(Delivery.objects.get().status, Delivery.objects.get().backend, sep="|")
    print(email_file_paths() == [out])
    """
)


@pytest.mark.skipif(not compat.HAS_MAILERS, reason="MAILERS is new in Django 6.1")
def test_old_email_settings_on_django_6_1_send_with_no_warning_from_dovecote(
    tmp_path,
):
    done = run_python(
        # Any warning that names a dovecote module as its place is an error.
        *("-W", "error::Warning:dovecote"),
        *("-c", OLD_EMAIL_SETTINGS_ON_6_1, str(tmp_path)),
        env=environ_without("DJANGO_"),
    )
    assert done.returncode == 0, done.stderr
    filebased = "django.core.mail.backends.filebased.EmailBackend"
    assert done.stdout.splitlines() == [f"sent|mailer:default ({filebased})", "True"]
    (written,) = tmp_path.iterdir()
    assert "To: ada@example.com" in written.read_text()
