"""Every page in docs/ is reachable from README's table and docs/index.md.

A page nobody links to is a page no new user finds; and a link to a page
that was renamed or removed is a dead end. Both fail here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(p.name for p in DOCS.glob("*.md"))
LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)")


def links(text: str) -> set[str]:
    return {Path(target).name for target in LINK.findall(text)}


@pytest.mark.parametrize("page", PAGES)
def test_readme_links_every_page(page: str) -> None:
    assert page in links((ROOT / "README.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", [p for p in PAGES if p != "index.md"])
def test_the_index_links_every_page(page: str) -> None:
    assert page in links((DOCS / "index.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize("source", ["README.md", *(f"docs/{p}" for p in PAGES)])
def test_links_to_docs_pages_resolve(source: str) -> None:
    path = ROOT / source
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        assert (path.parent / target).is_file(), f"{source} links to {target}"


def test_readme_names_the_features() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    head = text.split("## Two commands")[0]
    for feature in (
        "push",
        "Discord",
        "Microsoft Teams",
        "Telegram",
        "WhatsApp",
        "Celery",
        "Escalation",
        "budgets",
        "circuit breaker",
    ):
        assert feature in head, feature
