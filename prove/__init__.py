"""`make prove`: what Pro IRP promises a practice, shown on this machine under faults, load, bad
input and a search for leaked secrets, as one table of figures with their targets.

Each area is a module with `prove(run: Run) -> list[Figure]` (see `prove.run`); `python -m prove`
runs them in order, prints the table, writes it to `var/prove/latest.txt` and exits non-zero when a
figure misses its target. `--quick` (`make prove QUICK=1`) runs every area at a smaller size.
"""
