"""A figure the proof measured, its target, and the table they make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure: `measured` and `target` are already worded for the table."""

    area: str  # the heading: Faults, Load, Bad input, Secrets
    name: str  # what was measured, in the practice's words
    measured: str
    target: str
    met: bool
    known: str = ""  # a miss the README explains (filled in by prove.known)


def count(area: str, name: str, value: int, *, at_most: int = 0, unit: str = "") -> Figure:
    """A figure that must stay at or under `at_most` (0 for lost, duplicated, leaked...)."""
    suffix = f" {unit}" if unit else ""
    return Figure(area, name, f"{value:,}{suffix}", f"≤ {at_most:,}{suffix}", value <= at_most)


def check(area: str, name: str, ok: bool, *, detail: str = "") -> Figure:
    """A yes-or-no figure (`detail` says what was seen)."""
    return Figure(area, name, detail or ("yes" if ok else "no"), "yes", ok)


def table(figures: Sequence[Figure]) -> str:
    """The figures as a Markdown table, in the order they were measured."""
    lines = ["| area | figure | measured | target | |", "| --- | --- | --- | --- | --- |"]
    for figure in figures:
        verdict = "met" if figure.met else ("missed (known)" if figure.known else "**missed**")
        lines.append(
            f"| {figure.area} | {figure.name} | {figure.measured} | {figure.target} | {verdict} |"
        )
    return "\n".join(lines)
