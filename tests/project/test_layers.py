"""Imports inside ``dovecote/`` follow the layers downward only.

The layers, top to bottom, are those of the architecture page
(``design.md``: "Imports follow the layers downward only"); a module may
import its own layer or a lower one. Every ``import`` counts, at module
level or inside a function, except those under ``if TYPE_CHECKING:``
(annotations only: ``dovecote.types`` names upper-layer types that way).

The upward imports that exist today are listed in ``KNOWN_VIOLATIONS``, one
entry per (importer, imported) pair, each to be removed by re-housing the
code (issue #13). The test fails on any upward import not listed, and on
a listed one that no longer exists (delete its entry: the list only
shrinks).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dovecote"

#: Layer names, bottom (0) to top.
LAYERS = [
    "base",
    "low level",
    "http",
    "transports",
    "channels",
    "delivery",
    "notifications",
    "entry points",
]

#: Module prefix -> layer; the longest matching prefix wins.
LAYER_OF = {
    # base: models (+ managers), conf, exceptions, signals, types, compat
    "dovecote.models": "base",
    "dovecote.migrations": "base",
    "dovecote.conf": "base",
    "dovecote.exceptions": "base",
    "dovecote.signals": "base",
    "dovecote.types": "base",
    "dovecote.redaction": "base",
    "dovecote.compat": "base",  # what differs between Django versions
    "dovecote.status": "base",  # the status vocabulary (no models)
    # low level: rendering, the transport base (and its result type), dev backends
    "dovecote.rendering": "low level",
    "dovecote.transport": "low level",
    "dovecote.failures": "low level",
    "dovecote.esp": "low level",  # django-anymail's vocabulary
    "dovecote.results": "low level",
    "dovecote.devbackends": "low level",
    # http: the pooled HTTP client base
    "dovecote.http": "http",
    # transports: message, backends, each provider in one file
    "dovecote.sms": "transports",
    "dovecote.chat": "transports",
    "dovecote.push": "transports",
    # channels
    "dovecote.channels": "channels",
    # delivery: outbox, tasks, worker, retry, ratelimit, recovery, tracking; tokens
    "dovecote.delivery": "delivery",
    "dovecote.tracking": "delivery",
    "dovecote.tokens": "delivery",
    # notifications: send_notification, planning, results, preferences, registry
    "dovecote.notifications": "notifications",
    # entry points: views, webhooks, admin, management, testing, urls, and
    # Django's hooks (app config, system checks, template tags); the package
    # root re-exports the public API lazily.
    "dovecote": "entry points",
    "dovecote.views": "entry points",
    "dovecote.webhooks": "entry points",
    "dovecote.admin": "entry points",
    "dovecote.management": "entry points",
    "dovecote.testing": "entry points",
    "dovecote.urls": "entry points",
    "dovecote.apps": "entry points",
    "dovecote.checks": "entry points",
    "dovecote.templatetags": "entry points",
}

#: Upward imports found when this test was written; each is one violation
#: for the re-house to remove (then delete the entry). All are removed now:
#: the list stays empty.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def layer_of(module: str) -> str:
    """Return the layer of a ``dovecote`` module; fail for an unmapped one."""
    best = max(
        (
            prefix
            for prefix in LAYER_OF
            if module == prefix or module.startswith(prefix + ".")
        ),
        key=len,
        default=None,
    )
    if best is None:
        pytest.fail(f"{module} has no layer: add its prefix to LAYER_OF")
    return LAYER_OF[best]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (PACKAGE.parent / relative).with_suffix(".py").exists() or (
        PACKAGE.parent / relative / "__init__.py"
    ).exists()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(
    tree: ast.AST, importer: str, *, is_package: bool = False
) -> Iterator[str]:
    """Yield the modules ``tree`` (the source of ``importer``) imports when run.

    ``from package import name`` counts as importing ``package.name`` when
    that is a module of ``dovecote``, else ``package``.
    """
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = importer.split(".")
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield full if is_module(full) else base
        stack.extend(ast.iter_child_nodes(node))


def upward_imports() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        if importer.startswith("dovecote.migrations"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        own = LAYERS.index(layer_of(importer))
        imports = runtime_imports(tree, importer, is_package=path.name == "__init__.py")
        for imported in imports:
            if imported != "dovecote" and not imported.startswith("dovecote."):
                continue
            if LAYERS.index(layer_of(imported)) > own:
                found.add((importer, imported))
    return found


def test_every_module_has_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer_of(module_name(path))


def test_no_new_upward_import():
    new = upward_imports() - KNOWN_VIOLATIONS
    assert not new, (
        "Upward imports (a lower layer importing a higher one):\n"
        + "\n".join(
            f"  {importer} ({layer_of(importer)}) imports "
            f"{imported} ({layer_of(imported)})"
            for importer, imported in sorted(new)
        )
    )


def test_known_violations_still_exist():
    gone = KNOWN_VIOLATIONS - upward_imports()
    assert not gone, "Fixed; delete from KNOWN_VIOLATIONS:\n" + "\n".join(
        f"  {pair}" for pair in sorted(gone)
    )


def test_the_walker_sees_function_level_and_relative_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from dovecote.notifications import dispatch\n"
        "def f():\n"
        "    from dovecote.channels import get_channel\n"
        "    import dovecote.delivery.worker\n"
        "from . import signals\n"
    )
    found = set(runtime_imports(ast.parse(source), "dovecote.sms.message"))
    assert found == {
        "typing",
        "dovecote.channels",
        "dovecote.delivery.worker",
        "dovecote.sms.signals",
    }
