"""Imports inside ``dovecote/`` sit at the top of their module.

An import inside a function is allowed only with a comment saying why, on
its line or the line above (a comment covers the block of imports right
below it). The reasons that hold today: the app registry (a module loaded
before Django is set up must not import models: ``apps.py``, the testing
package the pytest plugin loads), an import cycle, an optional dependency
or app, a Django version. Imports under ``if TYPE_CHECKING:`` do not count.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dovecote"

#: Tool directives, which say nothing about why.
DIRECTIVE = re.compile(r"(noqa(:\s*[A-Z0-9, ]+)?|type:\s*ignore(\[[^\]]*\])?)")


def _reason_lines(source: str) -> set[int]:
    """Return the numbers of the lines that carry a comment giving a reason."""
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = DIRECTIVE.sub("", token.string.lstrip("#")).strip(" #")
            if text:
                lines.add(token.start[0])
    return lines


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _function_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    def walk(node: ast.AST, in_function: bool) -> Iterator[ast.Import | ast.ImportFrom]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    yield from walk(sub, in_function)
                continue
            if in_function and isinstance(child, ast.Import | ast.ImportFrom):
                yield child
            yield from walk(
                child,
                in_function
                or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef),
            )

    yield from walk(tree, False)


def unexplained_imports(source: str) -> list[tuple[int, str]]:
    """Return ``(line, text)`` of each function-level import with no reason."""
    reasons = _reason_lines(source)
    lines = source.splitlines()
    explained_ends: set[int] = set()
    found = []
    for node in sorted(_function_imports(ast.parse(source)), key=lambda n: n.lineno):
        end = node.end_lineno or node.lineno
        own = any(line in reasons for line in range(node.lineno, end + 1))
        above = node.lineno - 1
        if own or above in reasons or above in explained_ends:
            explained_ends.add(end)
        else:
            found.append((node.lineno, lines[node.lineno - 1].strip()))
    return found


def test_every_function_level_import_says_why():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if "/migrations/" in name:
            continue
        for lineno, text in unexplained_imports(path.read_text(encoding="utf-8")):
            found.append(f"  {name}:{lineno}: {text}")
    assert not found, (
        "Imports inside functions with no comment saying why: move them to the "
        "top of the module, or say on the line (or the line above) why one "
        "must stay (app registry, import cycle, optional dependency):\n"
        + "\n".join(found)
    )


def test_the_walk_finds_unexplained_imports_only():
    source = (
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from x import y\n"
        "def a():\n"
        "    import json\n"  # 6: no reason
        "    # Import cycle: b imports this module.\n"
        "    from b import c\n"
        "    from b import (\n"
        "        d,\n"
        "    )\n"
        "\n"
        "    import re\n"  # 13: the block above ended
        "def e():\n"
        "    import csv  # noqa: F401\n"  # 15: a directive is no reason
        "    import abc  # optional dependency\n"
        "    class F:\n"
        "        def g(self):\n"
        "            import ast\n"  # 19: nested function
        "    if TYPE_CHECKING:\n"
        "        import typing\n"
    )
    assert [line for line, _text in unexplained_imports(source)] == [6, 13, 15, 19]
