"""``dovecote.types`` names the public argument types and loads nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import dovecote.types


def test_aliases_are_public():
    assert sorted(dovecote.types.__all__) == [
        "NotificationArg",
        "OneRecipient",
        "Recipients",
        "UserLike",
    ]
    for name in dovecote.types.__all__:
        assert isinstance(getattr(dovecote.types, name), str)  # a forward alias


def test_importable_without_settings_or_app_registry():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys, dovecote.types; "
        "assert 'django.contrib.auth.models' not in sys.modules; "
        "assert 'dovecote.models' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
