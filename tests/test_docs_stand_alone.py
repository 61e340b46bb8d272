"""The repository's words stand on their own: the README, docs/, the code and the benchmarks speak
of the product in its own terms ("the Node version" for the system it replaces) and refer to no
file a reader of the repository does not have."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Names for the Node version and for working notes that a reader has never seen. ("seed" alone
# stays free: the sandbox seeds events, and the benchmarks' --seed-sample option keeps its name.)
FOREIGN_WORDING = re.compile(
    r"\bseed's\b"
    r"|\bthe seed\b(?!\s+(?:of|for)\b)"
    r"|\bseed (?:loop|approach|version|names?|functions?|command|routes?|tables?)\b"
    r"|\bearlier version\b"
    r"|\bshared DESIGN\b"
    r"|INTEGRATION-COMPLETE",
    re.IGNORECASE,
)
# Paths that lead out of the repository.
OUTSIDE_PATH = re.compile(r"(?<![\w.])(?:\.\./)+shared\b|(?<![\w:/])/work/")
MARKDOWN_FILE = re.compile(r"(?<![\w/.-])([\w./-]*[\w-]+\.md)\b")


def _documents() -> Iterator[Path]:
    yield REPO / "README.md"
    yield REPO / ".env.example"
    yield from sorted((REPO / "docs").rglob("*.md"))
    for folder in ("src", "bench"):
        yield from sorted((REPO / folder).rglob("*.py"))


def _findings(pattern: re.Pattern[str], paths: Iterator[Path]) -> list[str]:
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for match in pattern.finditer(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {match.group(0)!r}")
    return found


def test_no_wording_a_reader_cannot_follow() -> None:
    found = _findings(FOREIGN_WORDING, _documents())
    assert not found, "say it in the product's own words:\n" + "\n".join(found)


def test_no_path_leads_out_of_the_repository() -> None:
    this = Path(__file__).resolve()
    tests = (path for path in sorted((REPO / "tests").rglob("*.py")) if path != this)
    found = _findings(OUTSIDE_PATH, iter([*_documents(), *tests]))
    assert not found, "bring what is needed into the repository:\n" + "\n".join(found)


def test_every_document_named_is_in_the_repository() -> None:
    missing = []
    for path in _documents():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for name in MARKDOWN_FILE.findall(line):
                places = (REPO / name, path.parent / name, REPO / "docs" / name)
                if not any(place.is_file() for place in places):
                    missing.append(f"{path.relative_to(REPO)}:{number}: {name}")
    assert not missing, "documents named but not in the repository:\n" + "\n".join(missing)
