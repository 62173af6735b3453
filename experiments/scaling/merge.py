#!/usr/bin/env python3
"""Merge the families' results.csv into one table with a `family` column (the union of columns,
empty where a family has no such key), for `slt fit --by family`.
  /usr/bin/python3 experiments/scaling/merge.py OUT.csv DIR/FAMILY/results.csv ..."""
import csv
import os
import sys


def main():
    rows, cols = [], ["family"]
    for path in sys.argv[2:]:
        family = os.path.basename(os.path.dirname(path))
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                r["family"] = family
                rows.append(r)
                cols += [c for c in r if c not in cols]
    with open(sys.argv[1], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, restval="")
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} runs from {len(sys.argv) - 2} families -> {sys.argv[1]}")


if __name__ == "__main__":
    main()
