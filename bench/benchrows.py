"""The rows `npm run bench` gathers into one summary table (bench/all.sh, bench/summary.py).

Each bench script prints its own report as before; where it judges a target it also calls row(),
which appends the row to the file named by $SHIT_BENCH_ROWS (nothing when unset: a script run
alone prints only its report). One line a row, tab-separated:

    STEP <TAB> NAME <TAB> MEASURED <TAB> TARGET <TAB> STATUS

STEP is $SHIT_BENCH_STEP (the script, named by bench/all.sh); STATUS is "ok", "MISSED",
"FAILED: why", "skipped: why" or "info". Python scripts import this module; shell scripts run
their reporting Python with PYTHONPATH=bench.
"""
import os


def row(name, measured, target, status):
    path = os.environ.get("SHIT_BENCH_ROWS")
    if not path:
        return
    step = os.environ.get("SHIT_BENCH_STEP", "?")
    clean = lambda s: " ".join(str(s).split())  # no tabs or newlines inside a field
    with open(path, "a") as fh:
        fh.write("\t".join(clean(x) for x in (step, name, measured, target, status)) + "\n")


def judge(value, target):
    """ok when value <= target (both numbers), else MISSED."""
    return "ok" if value <= target else "MISSED"
