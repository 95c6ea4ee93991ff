"""Modules in ``dovecote/`` meet through public names, small functions, no tricks.

- A module imports only public names of another: no ``from x import _y``,
  no ``x._y`` on an imported dovecote module (tests aside).
- No module-level ``__getattr__`` (lazy or compatibility names), except the
  lazy public APIs of ``dovecote`` and ``dovecote.push`` (:data:`LAZY_MODULES`).
- No function over :data:`MAX_FUNCTION_LINES` lines.
- No import cycles between modules, counting imports inside functions
  (``TYPE_CHECKING`` blocks aside).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dovecote"

#: The longest a function in ``dovecote/`` may be, ``def`` to last line.
MAX_FUNCTION_LINES = 80
#: Modules allowed a module-level ``__getattr__``: public package roots
#: importable without ``INSTALLED_APPS`` that load their model-backed names
#: on first use (``dovecote.send_notification``, ``dovecote.push.register_device``).
LAZY_MODULES = frozenset({"dovecote/__init__.py", "dovecote/push/__init__.py"})
#: Imports inside functions that close a cycle today, importer -> imported;
#: the list may only shrink. The delivery task (``tasks.deliver_task``,
#: whose path the docs and task logs show) runs ``worker.deliver`` and
#: ``recovery.recover``, and those (and the outbox, on commit) enqueue it
#: again, importing the Tasks API on use so that dovecote loads (and check
#: E030 reports) without it. ``Notification.send()``/``explain()`` are the
#: class's spelling of ``send_notification``/``explain_notification``.
KNOWN_BACK_EDGES = {
    ("dovecote.delivery.worker", "dovecote.delivery.tasks"),
    ("dovecote.delivery.recovery", "dovecote.delivery.tasks"),
    ("dovecote.delivery.outbox", "dovecote.delivery.tasks"),
    ("dovecote.notifications.base", "dovecote.notifications.dispatch"),
}


def _sources() -> Iterator[tuple[str, str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = path.relative_to(ROOT).as_posix()
        yield name, _module_name(path), ast.parse(path.read_text(), name)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


#: Underscored names that are public API elsewhere (Django's model ``_meta``).
PUBLIC_UNDERSCORED = frozenset({"_meta"})


def _is_private(name: str) -> bool:
    if name in PUBLIC_UNDERSCORED or (name.startswith("__") and name.endswith("__")):
        return False
    return name.startswith("_")


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join([*base, node.module] if node.module else base)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def private_imports(name: str, module: str, tree: ast.Module) -> list[str]:
    """Return ``"file:line: what"`` for each private name taken from another module."""
    found = []
    is_package = name.endswith("__init__.py")
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(module, node, is_package)
            if not source.startswith("dovecote") or source == module:
                continue
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"{name}:{node.lineno}: {source}.{alias.name}")
                else:
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dovecote") and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _is_private(node.attr)
        ):
            # ``from dovecote import tracking`` then ``tracking._x``.
            found.append(f"{name}:{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    return found


def module_imports(module: str, name: str, tree: ast.Module) -> set[str]:
    """Return the dovecote modules ``tree`` imports, at any depth.

    Imports inside functions count (a cycle put off until call time is
    still a cycle); those under ``if TYPE_CHECKING:`` do not.
    """
    is_package = name.endswith("__init__.py")
    imported: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                imported.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                source = _resolve(module, child, is_package)
                imported.add(source)
                imported.update(f"{source}.{a.name}" for a in child.names)
            visit(child)

    visit(tree)
    return {m for m in imported if m.startswith("dovecote")}


def import_cycles(known: frozenset[tuple[str, str]] = frozenset()) -> list[list[str]]:
    """Return the import cycles inside ``dovecote``, ``known`` edges left out."""
    trees = {module: (name, tree) for name, module, tree in _sources()}
    graph = {
        module: {
            target
            for target in module_imports(module, name, tree)
            if target in trees and target != module
        }
        for module, (name, tree) in trees.items()
    }
    # A package's __init__ is imported before its submodules: an edge from a
    # submodule to its own package is no cycle of the package's making.
    for module, targets in graph.items():
        targets.difference_update(t for t in list(targets) if (module, t) in known)
        targets.difference_update(
            p for p in list(targets) if module.startswith(p + ".")
        )
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                walk(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module)
    return cycles


def test_no_private_name_crosses_modules():
    found = [
        hit
        for name, module, tree in _sources()
        for hit in private_imports(name, module, tree)
    ]
    assert not found, "Import public names only:\n" + "\n".join(found)


def test_no_module_level_getattr():
    found = [
        f"{name}:{node.lineno}"
        for name, _, tree in _sources()
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and node.name == "__getattr__"
        and name not in LAZY_MODULES
    ]
    assert not found, (
        "Module-level __getattr__ (one import path per name):\n" + "\n".join(found)
    )


def test_no_function_over_the_limit():
    found = [
        f"{name}:{node.lineno}: {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, _, tree in _sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not found, f"Functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(found)


def test_no_import_cycles():
    cycles = import_cycles(frozenset(KNOWN_BACK_EDGES))
    assert not cycles, "Import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
    # Each known back edge still closes a cycle (else delete it from the list).
    closing = {(c[i], c[i + 1]) for c in import_cycles() for i in range(len(c) - 1)}
    gone = sorted(KNOWN_BACK_EDGES - closing)
    assert not gone, f"Remove from KNOWN_BACK_EDGES (no cycle left): {gone}"


# The checks themselves --------------------------------------------------------


def test_the_checks_catch_what_they_forbid():
    source = (
        "from dovecote.notifications.planning import _plan_chunks\n"
        "from dovecote import tracking\n"
        "tracking._apply()\n"
        "from . import _helper\n"
    )
    tree = ast.parse(source)
    hits = private_imports("dovecote/x/y.py", "dovecote.x.y", tree)
    assert hits == [
        "dovecote/x/y.py:1: dovecote.notifications.planning._plan_chunks",
        "dovecote/x/y.py:4: dovecote.x._helper",
        "dovecote/x/y.py:3: dovecote.tracking._apply",
    ]
    lazy = ast.parse(
        "if TYPE_CHECKING:\n    import dovecote.a\nimport dovecote.b\n"
        "def f():\n    from dovecote import d\n"
    )
    assert module_imports("dovecote.c", "dovecote/c.py", lazy) == {
        "dovecote",
        "dovecote.b",
        "dovecote.d",
    }
