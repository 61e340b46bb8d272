"""The top-level packages of proirp import each other without a cycle.

import-linter's contracts (pyproject.toml) say which layer may import which; this test reads every
import from the source itself, those inside functions included, so a cycle cannot hide from it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import proirp

SOURCE = Path(proirp.__file__).parent


def _module_name(path: Path) -> list[str]:
    parts = ["proirp", *path.relative_to(SOURCE).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(path: Path) -> Iterator[str]:
    """Every module `path` imports, wherever the import statement stands."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module
            if module == "proirp":  # `from proirp import runtime` imports proirp.runtime
                yield from (f"proirp.{alias.name}" for alias in node.names)


def package_graph() -> dict[str, set[str]]:
    """Top-level package (or module) of proirp -> those it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in SOURCE.rglob("*.py"):
        source = _module_name(path)
        if len(source) < 2:
            continue  # proirp/__init__.py itself
        for module in _imported(path):
            parts = module.split(".")
            if parts[0] == "proirp" and len(parts) > 1 and parts[1] != source[1]:
                graph[source[1]].add(parts[1])
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in `graph` as a path that returns to its start, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            cycle = visit(target, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_the_top_level_packages_import_each_other_without_a_cycle() -> None:
    cycle = find_cycle(package_graph())
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def test_the_scan_sees_imports_inside_functions() -> None:
    graph = package_graph()
    # cli imports runtime only inside its commands; a scan of module level would miss it.
    assert "runtime" in graph["cli"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_sandbox_imports_nothing_of_the_product_but_its_settings() -> None:
    assert package_graph()["sandbox"] <= {"config"}
