"""What differs between the supported Django versions, in one place.

Dovecote runs on Django 5.2 LTS (Python 3.11-3.13) and on Django 6.0 and 6.1
(Python 3.12-3.13):

- Tasks API: Django 6.0 has ``django.tasks``; on Django 5.2 dovecote uses
  the ``django-tasks`` backport. Package metadata cannot make a dependency
  depend on the installed Django version, so ``django-tasks`` is a
  dependency on every stack; dovecote imports ``django.tasks`` whenever it
  exists and never touches the backport on Django 6.
- Email: Django 6.1 configures email with ``MAILERS`` and opens a
  connection with ``django.core.mail.mailers[alias]``; ``EMAIL_BACKEND`` and
  ``get_connection()`` are deprecated there.
"""

from __future__ import annotations

from importlib.util import find_spec

import django
from django.conf import settings
from django.core.mail.backends.filebased import EmailBackend
from django.utils.module_loading import import_string

#: True on Django 6.0 and later (``django.tasks`` exists).
DJANGO_6 = django.VERSION >= (6, 0)

#: True on Django 6.1 and later (``django.core.mail.mailers`` exists).
HAS_MAILERS = django.VERSION >= (6, 1)

#: The module name of the backport, on Django 5.2.
TASKS_BACKPORT = "django_tasks"

TASKS_API_MISSING = (
    "dovecote needs Django's Tasks API. Django 6.0 and later have it as "
    "django.tasks; on Django 5.2 install the backport: "
    "pip install 'django-tasks>=0.12' (a dependency of django-dovecote that "
    "an install with --no-deps, or a later uninstall, left out)."
)


def tasks_api() -> str | None:
    """Return the module that provides the Tasks API, or None if none does.

    ``"django.tasks"`` on Django 6.0+, ``"django_tasks"`` (the backport) on
    Django 5.2 when it is installed.
    """
    if DJANGO_6:
        return "django.tasks"
    return TASKS_BACKPORT if find_spec(TASKS_BACKPORT) is not None else None


def mailers_configured() -> bool:
    """Return True when this Django has mailers and the settings define ``MAILERS``."""
    if not HAS_MAILERS:
        return False

    return hasattr(settings, "MAILERS")


def email_file_paths() -> list[str]:
    """Return the directories that file-based email backends write to.

    Django 6.1: the ``file_path`` of each ``MAILERS`` entry whose backend is
    (a subclass of) Django's file-based backend; without ``MAILERS``, the
    default mailer's. Django 5.2 and 6.0: ``EMAIL_FILE_PATH`` if set. Read
    so that no deprecated setting is touched.
    """
    if not HAS_MAILERS:
        path = getattr(settings, "EMAIL_FILE_PATH", None)
        return [str(path)] if path else []
    # Django 6.1 only (HAS_MAILERS): earlier versions have no mailers.
    from django.core.mail import mailers  # type: ignore[attr-defined]

    if not mailers_configured():
        try:
            path = getattr(mailers.default, "file_path", None)
        except Exception:  # a backend that cannot start here is no file backend
            return []
        return [str(path)] if path else []
    paths = []
    for config in settings.MAILERS.values():
        try:
            backend = import_string(config.get("BACKEND", ""))
        except ImportError:
            continue
        path = (config.get("OPTIONS") or {}).get("file_path")
        if isinstance(backend, type) and issubclass(backend, EmailBackend) and path:
            paths.append(str(path))
    return paths
