#!/usr/bin/env python3
"""mkplan.py OUT < steps.json — writes a plan file (docs/SPOOL.md, "Plan steps") for shit-apply.

steps.json: a list of objects, one per step, in plan order:
  {"kind": "EXPECT"|"REMOVE"|"RENAME"|"PLACE"|"REWRITE"|"TRUNCATE"|"LINK"|"META"|"XATTR"  (the step STEP_<kind>),
   "path": "/abs", "path2": "/abs", "flags": 0,
   "pre":  {"lstat": "/some/path"} | {"mode": 33188, "uid": 0, ...},   (stat_rec fields)
   "post": {"lstat": "/some/path"} | {...}                            (EXPECT; omit: must be absent)
   "keep": ["R"|"C", "/abs/source"], "target": "...", "arg": 123,
   "xname": "user.x", "xvalue": "text" (omit: remove)}
"lstat" takes the stat of that path now (the test's way of saying "as it is at this moment")."""
import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spoolfmt import record, STEPNUM


def stat_of(spec):
    if 'lstat' in spec:
        st = os.lstat(spec['lstat'])
        d = dict(dev=st.st_dev, ino=st.st_ino, mode=st.st_mode, uid=st.st_uid, gid=st.st_gid, nlink=st.st_nlink,
                 size=st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns, atime_ns=st.st_atime_ns)
        d.update({k: v for k, v in spec.items() if k != 'lstat'})
        return d
    return spec


def main():
    steps = json.load(sys.stdin)
    out = []
    for s in steps:
        f = [('PATH', s['path'])]
        if 'path2' in s: f.append(('PATH2', s['path2']))
        if 'pre' in s: f.append(('PRE', stat_of(s['pre'])))
        if 'post' in s and s['post'] is not None: f.append(('POST', stat_of(s['post'])))
        if 'target' in s: f.append(('TARGET', s['target']))
        if 'arg' in s: f.append(('ARG', s['arg']))
        if 'xname' in s: f.append(('XNAME', s['xname']))
        if 'xvalue' in s: f.append(('XVALUE', s['xvalue']))
        if 'keep' in s: f.append(('KEEP', tuple(s['keep'])))
        out.append(record(STEPNUM['STEP_' + s['kind']], f, flags=s.get('flags', 0)))
    with open(sys.argv[1], 'wb') as fh:
        fh.write(b''.join(out))


main()
