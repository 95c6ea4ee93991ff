"""The dovecote pages worth visiting, for the home page and the demo."""

from django.urls import NoReverseMatch, reverse

PREFIX = "notifications/"

#: URL name and what the page is.
PAGES = [
    ("dovecote:preferences", "preference centre"),
    ("dovecote:inbox", "in-app inbox"),
    ("dovecote:outbox", "dev outbox: every channel's messages and previews"),
]


def dovecote_pages() -> list[tuple[str, str]]:
    """Return (label, path) of each page dovecote's URLconf provides."""
    found = []
    for name, label in PAGES:
        try:
            found.append((label, reverse(name)))
        except NoReverseMatch:
            continue
    return found
