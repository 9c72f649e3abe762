#!/usr/bin/env python3
"""shimcheck.py — helpers for shim-smoke.sh.

  shimcheck.py snap ROOT OUT.json     inode-keyed snapshot of a tree (bytes hashed)
  shimcheck.py tree ROOT              canonical listing (no inode numbers, no times): compares
                                      the result of a command with and without the shim
  shimcheck.py check STATE CMD SNAP.json [--expect OP:HOW ...] [--forbid-under PATH]
                                      the spool parses; every KEEP's staged file holds the
                                      pre-image (same bytes; for R/L the very same inode)
"""
import hashlib, json, os, stat, struct, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spoolfmt


def sha(p):
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def walk(root):
    yield root
    for dp, dns, fns in os.walk(root):
        for n in sorted(dns + fns):
            yield os.path.join(dp, n)


def snap(root, out):
    inodes = {}
    for p in walk(root):
        st = os.lstat(p)
        e = dict(path=p, mode=st.st_mode, size=st.st_size, mtime_ns=st.st_mtime_ns)
        if stat.S_ISREG(st.st_mode):
            e['sha'] = sha(p)
            with open(p, 'rb') as f:
                e['bytes'] = f.read().hex() if st.st_size <= 1 << 16 else None
        elif stat.S_ISLNK(st.st_mode):
            e['target'] = os.readlink(p)
        inodes['%d-%d' % (st.st_dev, st.st_ino)] = e
    with open(out, 'w') as f:
        json.dump(inodes, f)


def tree(root):
    for p in walk(root):
        st = os.lstat(p)
        rel = os.path.relpath(p, root)
        m = st.st_mode
        if rel == '.git/index':  # git's stat cache: inode numbers and times differ run to run
            what = 'f (git index)'
        elif stat.S_ISREG(m):
            what = 'f %s n%d' % (sha(p)[:16], st.st_nlink)
        elif stat.S_ISLNK(m):
            what = 'l ' + os.readlink(p)
        elif stat.S_ISDIR(m):
            what = 'd'
        else:
            what = 'o %o' % stat.S_IFMT(m)
        print('%s %o %s' % (rel, stat.S_IMODE(m), what))


def check(state, cmd, snapfile, expects, forbid):
    with open(snapfile) as f:
        snapd = json.load(f)
    sp = os.path.join(state, 'spool', cmd + '.spool')
    buf = open(sp, 'rb').read() if os.path.exists(sp) else b''
    recs = list(spoolfmt.parse(buf))
    # the parser stops at a cut-off record: make sure every byte was consumed
    off = 0
    while off < len(buf):
        ln = struct.unpack_from('<I', buf, off)[0]
        off += ln
    assert off == len(buf), 'spool has trailing bytes'
    errs = []
    seen = set()
    staging = os.path.join(state, 'staging')
    # a VOID says the latest record of its pid, op (flags) and PATH, written before its call, did
    # not happen (the call failed): that record counts as a failed call, as ingest takes it
    for i, r in enumerate(recs):
        if r['opname'] != 'VOID':
            continue
        for q in reversed(recs[:i]):
            if q['op'] == r['flags'] and q['pid'] == r['pid'] and q['fields'].get('PATH') == r['fields'].get('PATH') and not q['err']:
                q['err'] = r['err'] or 1
                q['voided'] = True  # its staged name may be another record's keep (EEXIST)
                break
        else:
            errs.append('VOID with no record to void: ' + spoolfmt.fmt(r))
    for r in recs:
        fl = r['fields']
        for tag in ('PATH', 'PATH2'):
            if tag in fl:
                p = fl[tag]
                if not p.startswith(b'/'):
                    errs.append('relative %s in %s' % (tag, spoolfmt.fmt(r)))
                if forbid and (p == forbid or p.startswith(forbid + b'/')):
                    errs.append('path under the state dir: %s' % spoolfmt.fmt(r))
        if r['opname'] == 'NOTCAPTURED':
            errs.append('NOTCAPTURED: ' + spoolfmt.fmt(r))
        if 'NOTE' in fl:
            errs.append('NOTE: ' + spoolfmt.fmt(r))
        if r['opname'] == 'STAGED':
            # the kept inode's stat right after the keep: names a keep of an earlier record
            name = fl['KEEP'][1:].decode()
            if not any(q['fields'].get(t, b'')[1:].decode() == name for q in recs if q is not r for t in ('KEEP', 'KEEP2')):
                errs.append('STAGED of no keep: ' + spoolfmt.fmt(r))
            continue
        for ktag, ptag in (('KEEP', 'PRE'), ('KEEP2', 'PRE2')):
            if ktag not in fl:
                continue
            how, name = chr(fl[ktag][0]), fl[ktag][1:].decode()
            seen.add('%s:%s' % (r['opname'], how))
            staged = os.path.join(staging, name)
            if r['err']:
                if os.path.exists(staged) and how != 'E' and not r.get('voided'):
                    errs.append('failed call left its keep: ' + spoolfmt.fmt(r))
                continue
            if not os.path.lexists(staged):
                errs.append('missing staged file %s (%s)' % (staged, spoolfmt.fmt(r)))
                continue
            pre = fl.get(ptag)
            key = '%d-%d' % (pre['dev'], pre['ino'])
            sn = snapd.get(key)
            sst = os.lstat(staged)
            if how in 'RL':
                if sst.st_ino != pre['ino']:
                    errs.append('%s keep is not the same inode: %s' % (how, spoolfmt.fmt(r)))
            if how == 'E' or sn is None or sn['mtime_ns'] != pre['mtime_ns'] or sn['size'] != pre['size']:
                continue  # an object the command made or changed before this capture
            if stat.S_ISLNK(sn['mode']):
                if os.readlink(staged) != sn['target']:
                    errs.append('symlink target differs: ' + spoolfmt.fmt(r))
            elif stat.S_ISREG(sn['mode']):
                if how == 'T':
                    want = bytes.fromhex(sn['bytes'])[fl['ARG']:] if sn['bytes'] is not None else None
                    got = open(staged, 'rb').read()
                    if want is not None and got != want:
                        errs.append('tail bytes differ: ' + spoolfmt.fmt(r))
                elif sha(staged) != sn['sha']:
                    errs.append('staged bytes differ: ' + spoolfmt.fmt(r))
    for e in expects:
        if e not in seen:
            errs.append('expected a %s keep; saw %s' % (e, sorted(seen)))
    for e in errs:
        print('  FAIL', e)
    print('  %d records, keeps %s' % (len(recs), ' '.join(sorted(seen)) or '-'))
    return 1 if errs else 0


if __name__ == '__main__':
    a = sys.argv[1:]
    if a[0] == 'snap':
        snap(a[1], a[2])
    elif a[0] == 'tree':
        tree(a[1])
    elif a[0] == 'check':
        expects, forbid, rest = [], None, a[4:]
        i = 0
        while i < len(rest):
            if rest[i] == '--expect':
                expects.append(rest[i + 1]); i += 2
            elif rest[i] == '--forbid-under':
                forbid = os.fsencode(rest[i + 1]); i += 2
            else:
                raise SystemExit('bad arg ' + rest[i])
        sys.exit(check(a[1], a[2], a[3], expects, forbid))
