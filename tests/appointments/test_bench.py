"""The reminder benchmark, run small: it must meet its own targets (every reminder queued within
a clock step of its due time, each exactly once at the sandbox, no PHI in any body)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.comms.rows import database_kind

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_meets_its_targets_on_a_small_run() -> None:
    args = ["--appointments", "40", "--clients", "10", "--days", "1"]
    args += ["--database", database_kind()]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    done = subprocess.run(  # noqa: S603 (our own benchmark)
        [sys.executable, "-m", "bench.reminders", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ledger duplicates             0" in done.stdout
