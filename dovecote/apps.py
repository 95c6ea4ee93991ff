"""Django app configuration for dovecote."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class DovecoteConfig(AppConfig):
    """Register system checks, autodiscover ``<app>/notifications.py``.

    With django-anymail installed, also receive its tracking events
    (:mod:`dovecote.webhooks.anymail`).
    """

    name = "dovecote"
    verbose_name = _("Dovecote notifications")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Here, not at the top: these use models, which load after apps.py.
        from . import (  # noqa: F401  (register the checks)
            checks,
            checks_celery,
            dbchecks,
            guardchecks,
        )
        from .delivery import (
            digests,  # noqa: F401  (settles digests' items)
            embedded,
        )

        embedded.connect()

        autodiscover_modules("notifications")
        connect_anymail()


def connect_anymail() -> bool:
    """Connect the anymail tracking receiver; return False without anymail."""
    try:
        # anymail is an optional dependency.
        from anymail.signals import tracking
    except ImportError:
        return False
    # Imported here: it reads models, which the app registry must have loaded.
    from .webhooks.anymail import receive_tracking

    tracking.connect(receive_tracking, dispatch_uid="dovecote.anymail.tracking")
    return True
