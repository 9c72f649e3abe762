#!/usr/bin/env python3
"""One table of every row the bench scripts wrote to ROWS (bench/benchrows.py's format), in the
order they ran: name, measured, target, ok/MISSED/FAILED/skipped. bench/all.sh prints it last.

    python3 bench/summary.py ROWS

Exits 0 once the table is printed (a missed target is a row, not an error); 2 when ROWS cannot
be read.
"""
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summary.py ROWS")
    try:
        lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
    except OSError as e:
        print("bench summary: cannot read %s: %s" % (sys.argv[1], e.strerror), file=sys.stderr)
        return 2
    rows = []
    for line in lines:
        f = line.split("\t")
        if len(f) != 5:  # a row cut short (a script killed mid-write) still shows
            f = (f + ["?"] * 5)[:4] + ["FAILED: malformed row"]
        rows.append(f)
    heads = ("bench", "row", "measured", "target", "status")
    width = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(heads)]
    fmt = lambda r: "  ".join(("%-*s" % (width[i], c)) if i < 4 else c for i, c in enumerate(r))
    print()
    print("shit bench summary — every target row of this run (ratios against the plain command measured")
    print("side by side in the same run; a target is met when the measured value is at or under it)")
    print()
    print(fmt(heads))
    print(fmt(["-" * w for w in width]))
    step = None
    for r in rows:
        print(fmt([r[0] if r[0] != step else ""] + r[1:]))
        step = r[0]
    count = {}
    for r in rows:
        word = r[4].split(":")[0].split()[0] if r[4].strip() else "?"
        count[word] = count.get(word, 0) + 1
    print()
    print("%d rows: %s" % (len(rows), ", ".join("%d %s" % (n, w) for w, n in sorted(count.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
