#!/usr/bin/env python3
"""dumpspool.py FILE... — print spool records / plan steps one per line."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spoolfmt
for f in sys.argv[1:]:
    with open(f, 'rb') as fh:
        for r in spoolfmt.parse(fh.read()):
            print(spoolfmt.fmt(r))
