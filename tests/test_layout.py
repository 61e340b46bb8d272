"""Every module stays short enough to read, and every function too (house style: ~400 lines a
module; a function that no longer fits on a screen becomes named steps). Migrations are history
and stay as written; the sandbox's imitations of vendor endpoints may be long functions."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import proirp

SOURCE = Path(proirp.__file__).parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # from the `def` line to the last line of the body


def _modules(*, excluding: tuple[str, ...]) -> Iterator[Path]:
    for path in sorted(SOURCE.rglob("*.py")):
        if not set(path.relative_to(SOURCE).parts) & set(excluding):
            yield path


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_no_module_is_too_long() -> None:
    long = [
        f"{path.relative_to(SOURCE)}: {count} lines"
        for path in _modules(excluding=("migrations",))
        if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, f"split by what they hold (at most {MAX_MODULE_LINES} lines): {long}"


def test_no_function_is_too_long() -> None:
    long = []
    for path in _modules(excluding=("migrations", "sandbox")):
        for function in _functions(ast.parse(path.read_text(), str(path))):
            assert function.end_lineno is not None
            # From the `def` line (decorators apart), as a reader counts it.
            count = function.end_lineno - function.lineno + 1
            if count > MAX_FUNCTION_LINES:
                where = f"{path.relative_to(SOURCE)}:{function.lineno}"
                long.append(f"{where} {function.name}(): {count} lines")
    assert not long, f"split into named steps (at most {MAX_FUNCTION_LINES} lines): {long}"
