"""`make prove` (`python -m prove`): every area in order, one table, non-zero exit on a miss.

    python -m prove [--quick] [--only AREA ...] [--accept-known]

--quick        every area at a smaller size (`make prove QUICK=1`; CI runs it)
--only         just these areas (outage, deaths, network, clock, load, storm, fuzz, webhooks,
               secrets)
--accept-known exit 0 when the only misses are the ones `prove/known.py` lists, each of which
               the README explains (CI passes it: a new miss still fails)
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from prove.figures import Figure, table
from prove.known import KNOWN_MISSES
from prove.run import Run
from prove.services import private_services

AREAS = ["outage", "deaths", "network", "clock", "load", "storm", "fuzz", "webhooks", "secrets"]
AREA_TITLES = {
    "outage": "Faults",
    "deaths": "Faults",
    "network": "Faults",
    "clock": "Faults",
    "load": "Load",
    "storm": "Load",
    "fuzz": "Bad input",
    "webhooks": "Bad input",
    "secrets": "Secrets",
}
REPORT = Path("var/prove/latest.txt")


def _run_area(name: str, run: Run) -> list[Figure]:
    started = time.perf_counter()
    print(f"\n--- {name} ---", flush=True)
    try:
        module = importlib.import_module(f"prove.{name}")
        figures: list[Figure] = module.prove(run)
    except Exception as exc:  # an area that breaks is a miss of its own, and the rest still run
        trace = run.folder / f"{name}.traceback.txt"
        trace.write_text(traceback.format_exc())
        print(f"{name} broke: {type(exc).__name__} (traceback in {trace})", flush=True)
        figures = [
            Figure(AREA_TITLES[name], f"{name}: ran to the end", type(exc).__name__, "yes", False)
        ]
    for figure in figures:
        mark = "met" if figure.met else "MISSED"
        print(f"  {figure.name}: {figure.measured} (target {figure.target}) {mark}", flush=True)
    print(f"  ({name} took {time.perf_counter() - started:.0f} s)", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=AREAS, default=None)
    parser.add_argument("--accept-known", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder afterwards")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    areas = [area for area in AREAS if args.only is None or area in args.only]
    started = time.perf_counter()
    figures: list[Figure] = []
    folder = Path(tempfile.mkdtemp(prefix="proirp-prove-"))
    folder.chmod(0o755)  # PostgreSQL's own user must reach its folder inside
    print(f"proof: {'quick' if args.quick else 'full'}, in {folder}", flush=True)
    try:
        with private_services(folder / "services") as services:
            run = Run(quick=args.quick, folder=folder, services=services)
            for area in areas:
                figures.extend(_run_area(area, run))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    minutes = (time.perf_counter() - started) / 60
    figures = with_known_misses(figures)
    mode = "quick" if args.quick else "full"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = f"`make prove` ({mode}), {when}, {minutes:.1f} minutes\n\n{table(figures)}\n"
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report)
    print(f"\n{report}\n(written to {REPORT})")
    return exit_status(figures, accept_known=args.accept_known)


def with_known_misses(figures: list[Figure]) -> list[Figure]:
    """Each missed figure with the README's explanation, if `prove/known.py` has one for the
    start of its name (a name may end with what was counted: "of 3,806")."""

    def known(name: str) -> str:
        return next((why for start, why in KNOWN_MISSES.items() if name.startswith(start)), "")

    return [f if f.met else dataclasses.replace(f, known=known(f.name)) for f in figures]


def exit_status(figures: list[Figure], *, accept_known: bool) -> int:
    """1 when a figure missed its target (with `accept_known`: one the README does not explain)."""
    missed = [f for f in figures if not f.met]
    unexplained = [f for f in missed if not (accept_known and f.known)]
    if missed:
        print(f"{len(missed)} of {len(figures)} figures missed their target", file=sys.stderr)
    if unexplained and accept_known:
        names = ", ".join(f.name for f in unexplained)
        print(f"not among the known misses: {names}", file=sys.stderr)
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
