"""Email settings for tests, in the shape this Django wants.

Django 6.1 configures email with ``MAILERS`` (``EMAIL_BACKEND`` and the other
``EMAIL_*`` settings are deprecated there, and not allowed beside
``MAILERS``); Django 5.2 and 6.0 know only ``EMAIL_BACKEND``. Tests say
which backend and options they want; these helpers say it in settings.
"""

from __future__ import annotations

from typing import Any

from dovecote.compat import HAS_MAILERS


def email_settings(backend: str, **options: Any) -> dict[str, Any]:
    """Return ``override_settings`` keywords making ``backend`` the default.

    ``options`` are the backend's keywords (``host``, ``port``, ``timeout``,
    ``use_tls``, ``file_path``): ``MAILERS["default"]["OPTIONS"]`` on Django
    6.1, ``EMAIL_<NAME>`` settings before.
    """
    if HAS_MAILERS:
        return {"MAILERS": {"default": {"BACKEND": backend, "OPTIONS": options}}}
    return {
        "EMAIL_BACKEND": backend,
        **{f"EMAIL_{name.upper()}": value for name, value in options.items()},
    }


ANYMAIL_POSTMARK = "anymail.backends.postmark.EmailBackend"


def anymail_postmark_settings(fake: Any, **anymail: str) -> dict[str, Any]:
    """Settings sending email through anymail's Postmark backend to ``fake``.

    ``fake`` is a FakePostmark; ``anymail`` adds ``ANYMAIL`` entries
    (``WEBHOOK_SECRET``).
    """
    return {
        **email_settings(ANYMAIL_POSTMARK),
        "ANYMAIL": {
            "POSTMARK_SERVER_TOKEN": fake.server_token,
            "POSTMARK_API_URL": fake.api_url,
            **anymail,
        },
    }


def email_transports(
    *transports: tuple[str, dict[str, Any]],
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Return settings, a channel's ``BACKENDS`` and the recorded labels.

    Each transport is ``(backend path, options)``. On Django 6.1 each
    becomes a mailer (``t0``, ``t1``, ...) and the channel lists
    ``mailer:t0``, ...; before, the channel lists backend paths and the
    options go into the ``EMAIL_*`` settings (so they are shared).
    """
    if HAS_MAILERS:
        mailers = {
            f"t{i}": {"BACKEND": path, "OPTIONS": options}
            for i, (path, options) in enumerate(transports)
        }
        names = [f"mailer:{alias}" for alias in mailers]
        labels = [
            f"{name} ({path})"
            for name, (path, _) in zip(names, transports, strict=True)
        ]
        return {"MAILERS": mailers}, names, labels
    shared: dict[str, Any] = {}
    for _, options in transports:
        shared.update({f"EMAIL_{k.upper()}": v for k, v in options.items()})
    paths = [path for path, _ in transports]
    return shared, paths, paths
