"""``pip install 'django-dovecote[all]'`` installs every optional integration."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
#: Extras that are not an integration of a user's project.
NOT_INTEGRATIONS = {"all", "dev"}


def project() -> dict[str, Any]:
    meta: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(meta["project"])


def expand(extra: str, extras: dict[str, list[str]], name: str) -> set[str]:
    """Return the requirements ``extra`` installs, its self-references followed."""
    found: set[str] = set()
    for line in extras[extra]:
        requirement = Requirement(line)
        if requirement.name == name:
            for inner in requirement.extras:
                assert inner in extras, f"[{extra}] names unknown extra [{inner}]"
                found |= expand(inner, extras, name)
        else:
            found.add(str(requirement))
    return found


def test_all_installs_every_optional_integration():
    meta = project()
    extras = meta["optional-dependencies"]
    assert "all" in extras, "pyproject.toml has no [all] extra"
    every = set().union(
        *(expand(e, extras, meta["name"]) for e in extras if e not in NOT_INTEGRATIONS)
    )
    assert every
    assert expand("all", extras, meta["name"]) == every
