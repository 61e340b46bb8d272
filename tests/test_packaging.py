"""What the package ships: every package-data pattern in pyproject.toml names files that exist,
and no package is an empty shell."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "src"


def _package_data() -> dict[str, list[str]]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    data: dict[str, list[str]] = pyproject["tool"]["setuptools"].get("package-data", {})
    return data


def _has_code(init: Path) -> bool:
    """Whether an `__init__.py` holds anything but a docstring."""
    body = ast.parse(init.read_text()).body
    return any(
        not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body
    )


def test_every_package_data_pattern_matches_a_file() -> None:
    unmatched = [
        f"{package}: {pattern}"
        for package, patterns in _package_data().items()
        for pattern in patterns
        if not any(path.is_file() for path in (SOURCE / package.replace(".", "/")).glob(pattern))
    ]
    assert not unmatched, f"package-data patterns that match no file: {unmatched}"


def test_no_package_is_empty() -> None:
    empty = []
    for init in sorted(SOURCE.rglob("__init__.py")):
        package = init.parent
        contents = [
            path
            for path in package.iterdir()
            if path.name not in ("__init__.py", "__pycache__", "py.typed")
        ]
        if not contents and not _has_code(init):
            empty.append(str(package.relative_to(SOURCE)))
    assert not empty, f"packages with nothing in them: {empty}"
