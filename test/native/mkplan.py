#!/usr/bin/env python3
"""mkplan.py OUT < steps.json — writes a plan file (docs/SPOOL.md, "Plan steps") for shit-apply.

steps.json: a list of objects, one per step, in plan order:
  {"kind": "EXPECT"|"REMOVE"|"RENAME"|"PLACE"|"REWRITE"|"TRUNCATE"|"LINK"|"META"|"XATTR"  (the step STEP_<kind>),
   "path": "/abs", "path2": "/abs", "flags": 0 (STEP_F_FORCE 1, STEP_F_FINAL_META 2),
   "pre":  {"lstat": "/some/path"} | {"mode": 33188, "uid": 0, ...},   (stat_rec fields)
   "post": {"lstat": "/some/path"} | {"mode": ..., "ino": ...}         (EXPECT: TYPE from mode, and DEV,
                                                                      INO, SIZE, MTIME from the fields
                                                                      given; omit: must be absent)
   "keep": ["R"|"C", "/abs/source"], "target": "...",
   "length": 123 (REWRITE, TRUNCATE), "tail_of": 5 (REWRITE), "rdev": 0 (PLACE),
   "xname": "user.x", "xvalue": "text" (omit: remove)}
"lstat" takes the stat of that path now (the test's way of saying "as it is at this moment")"""
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
        if 'post' in s and s['post'] is not None:
            post = stat_of(s['post'])
            f.append(('TYPE', post['mode'] & 0o170000))
            for tag, k in (('DEV', 'dev'), ('INO', 'ino'), ('SIZE', 'size'), ('MTIME', 'mtime_ns')):
                if k in post: f.append((tag, post[k]))
        if 'target' in s: f.append(('TARGET', s['target']))
        for tag, k in (('LENGTH', 'length'), ('TAIL_OF', 'tail_of'), ('RDEV', 'rdev')):
            if k in s: f.append((tag, s[k]))
        if 'xname' in s: f.append(('XNAME', s['xname']))
        if 'xvalue' in s: f.append(('XVALUE', s['xvalue']))
        if 'keep' in s: f.append(('KEEP', tuple(s['keep'])))
        out.append(record(STEPNUM['STEP_' + s['kind']], f, flags=s.get('flags', 0)))
    with open(sys.argv[1], 'wb') as fh:
        fh.write(b''.join(out))


main()
