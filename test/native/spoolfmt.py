"""spoolfmt.py — encode and decode spool records and plan steps (docs/SPOOL.md), for tests."""
import struct, time, os

MAGIC, VERSION, HDR = 0x5053, 1, 32
# The vocabulary as src/spool/records.ts has it (test/vocabulary.test.ts checks the two agree):
# record ops, plan steps (STEP_*), plan step flags (STEP_F_*) and field tags.
OPS = {1: 'BEGIN', 2: 'END', 3: 'UNLINK', 4: 'RMDIR', 5: 'RENAME', 6: 'OPEN', 7: 'TRUNCATE', 8: 'MKDIR',
       9: 'LINK', 10: 'SYMLINK', 11: 'CHMOD', 12: 'CHOWN', 13: 'UTIMES', 14: 'SETXATTR',
       15: 'REMOVEXATTR', 16: 'MKNOD', 17: 'NOTCAPTURED', 18: 'POST', 19: 'EXEC',
       20: 'VOID', 21: 'STAGED', 22: 'KILL'}
STEPS = {64: 'STEP_EXPECT', 65: 'STEP_REMOVE', 66: 'STEP_RENAME', 67: 'STEP_PLACE', 68: 'STEP_REWRITE',
         69: 'STEP_TRUNCATE', 70: 'STEP_LINK', 71: 'STEP_META', 72: 'STEP_XATTR'}
OPNUM = {v: k for k, v in OPS.items()}
STEPNUM = {v: k for k, v in STEPS.items()}
STEP_FLAGS = {'STEP_F_FORCE': 1, 'STEP_F_FINAL_META': 2, 'STEP_F_KEPT_WHOLE': 4}
TAGS = ['', 'PATH', 'PATH2', 'PRE', 'PRE2', 'KEEP', 'KEEP2', 'TARGET', 'NOTE', 'ARGV', 'CWD', 'POST',
        'PARENT', 'PARENT2', 'XNAME', 'XVALUE', 'ARG', 'TARGET2', 'STEP', 'KIND', 'OF',
        # plan steps only
        'LENGTH', 'TAIL_OF', 'RDEV', 'TYPE', 'DEV', 'INO', 'SIZE', 'MTIME',
        # records again
        'KEPT', 'SHELL', 'ENV', 'START', 'KEPT_CTIME']
I64_TAGS = ('ARG', 'LENGTH', 'TAIL_OF', 'RDEV', 'TYPE', 'DEV', 'INO', 'SIZE', 'MTIME', 'SHELL', 'START', 'KEPT_CTIME')
TAGNUM = {n: i for i, n in enumerate(TAGS) if n}
STAT_FIELDS = ('dev', 'ino', 'mode', 'uid', 'gid', 'nlink', 'size', 'mtime_ns', 'ctime_ns', 'atime_ns')
STAT_FMT = '<QQIIIIqqqq'


def b(x):
    return x if isinstance(x, bytes) else os.fsencode(x)


def stat_bytes(st):
    """st: os.stat_result, or a dict with the STAT_FIELDS."""
    if isinstance(st, os.stat_result):
        d = dict(dev=st.st_dev, ino=st.st_ino, mode=st.st_mode, uid=st.st_uid, gid=st.st_gid,
                 nlink=st.st_nlink, size=st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns,
                 atime_ns=st.st_atime_ns)
    else:
        d = dict.fromkeys(STAT_FIELDS, 0)
        d.update(st)
    return struct.pack(STAT_FMT, *(d[k] for k in STAT_FIELDS))


def record(op, fields, flags=0, err=0, pid=None):
    """fields: list of (tag name, value); value bytes/str, int (I64_TAGS, STEP), stat, or ('R', path) for KEEP."""
    body = b''
    for tag, val in fields:
        t = TAGNUM[tag]
        if tag in ('PRE', 'PRE2', 'POST', 'PARENT', 'PARENT2'):
            data = stat_bytes(val)
        elif tag in I64_TAGS:
            data = struct.pack('<q', val)
        elif tag == 'STEP':
            data = struct.pack('<I', val)
        elif tag in ('KEEP', 'KEEP2'):
            data = b(val[0]) + b(val[1])
        else:
            data = b(val)
        body += struct.pack('<HHI', t, 0, len(data)) + data + b'\0' * ((-len(data)) % 8)
    n = HDR + len(body)
    hdr = struct.pack('<IHBBiiqII', n, MAGIC, VERSION, op, pid if pid is not None else os.getpid(), err,
                      time.time_ns(), flags, len(fields))
    return hdr + body


def _header_ok(buf, off):
    if off + HDR > len(buf):
        return False
    n, magic, ver = struct.unpack_from('<IHB', buf, off)
    return magic == MAGIC and ver == VERSION and n >= HDR and n % 8 == 0


def _whole_at(buf, off):
    """Length of a whole well-formed record at off (fields fill it exactly), else 0."""
    if not _header_ok(buf, off):
        return 0
    n = struct.unpack_from('<I', buf, off)[0]
    end = off + n
    if end > len(buf):
        return 0
    p = off + HDR
    while p + 8 <= end:
        ln = struct.unpack_from('<I', buf, p + 4)[0]
        if p + 8 + ln > end:
            return 0
        p += 8 + ln + ((-ln) % 8)
    return n if p == end else 0


def _clean_at(buf, off):
    n = _whole_at(buf, off)
    if not n:
        return 0
    nxt = off + n
    return n if nxt == len(buf) or nxt + HDR > len(buf) or _header_ok(buf, nxt) else 0


def parse(buf):
    """Yields dicts: op, opname, pid, err, time_ns, flags, fields {tag name: decoded}.
    Like src/spool/records.ts: a record torn by a killed writer is skipped up to the next clean
    record; a record still being written at the end stops the parse; other bytes raise."""
    off = 0
    while off + HDR <= len(buf):
        n = _clean_at(buf, off)
        if not n:
            whole = _whole_at(buf, off)
            i = buf.find(b'SP\x01', off + 5)
            while i >= 0 and not _clean_at(buf, i - 4):
                i = buf.find(b'SP\x01', i + 1)
            nxt = i - 4 if i >= 0 else -1
            if whole and (nxt < 0 or nxt >= off + whole):
                n = whole          # a whole record stands unless a clean one starts inside it
            elif nxt >= 0:
                off = nxt          # torn by a killed writer: skip to the next clean record
                continue
            elif not _header_ok(buf, off):
                raise ValueError('bad record at %d' % off)
            else:
                break
        n, magic, ver, op, pid, err, t, flags, nf = struct.unpack_from('<IHBBiiqII', buf, off)
        p, end, fields = off + HDR, off + n, {}
        while p + 8 <= end:
            tag, _, ln = struct.unpack_from('<HHI', buf, p)
            data = buf[p + 8:p + 8 + ln]
            name = TAGS[tag] if tag < len(TAGS) else 'T%d' % tag
            if name in ('PRE', 'PRE2', 'POST', 'PARENT', 'PARENT2', 'KEPT'):
                st = dict(zip(STAT_FIELDS, struct.unpack_from(STAT_FMT, data)))
                if len(data) >= 72:  # a char or block device: its rdev follows
                    st['rdev'] = struct.unpack_from('<Q', data, 64)[0]
                data = st
            elif name in I64_TAGS:
                data = struct.unpack('<q', data)[0]
            elif name == 'STEP':
                data = struct.unpack('<I', data)[0]
            fields[name] = data
            p += 8 + ln + ((-ln) % 8)
        yield dict(op=op, opname=OPS.get(op) or STEPS.get(op, str(op)), pid=pid, err=err, time_ns=t, flags=flags, fields=fields)
        off += n


def fmt(rec):
    out = []
    for k, v in rec['fields'].items():
        if isinstance(v, dict):
            v = 'mode=%o ino=%d size=%d nlink=%d mtime=%d' % (v['mode'], v['ino'], v['size'], v['nlink'], v['mtime_ns'])
        elif isinstance(v, bytes):
            v = v.replace(b'\0', b' ').decode('utf-8', 'backslashreplace')
        out.append('%s=%s' % (k, v))
    return '%-12s err=%d flags=%#x %s' % (rec['opname'], rec['err'], rec['flags'], ' '.join(out))
