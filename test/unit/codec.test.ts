// The spool record codec (src/spool/records.ts, format in docs/SPOOL.md), on buffers only: round
// trips, a record still being written, torn records, stat_rec and KEEP fields.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeRecord, readRecords, decodeStat, encodeStat, keepField, parseKeep, i64, Op, RecordWriter, Tag, type Stat } from "../../dist/spool/records.js";

const rec = (op: number, path: string, flags = 0, err = 0) => encodeRecord(op, flags, [[Tag.PATH, Buffer.from(path)]], err);
const paths = (buf: Buffer, start = 0) => readRecords(buf, start).records.map((r) => r.fields.get(Tag.PATH)?.toString());

test("encodeRecord/readRecords: header and fields round trip, every field length padded to 8", () => {
  const fields: Array<[number, Buffer]> = [];
  for (let n = 0; n <= 17; n++) fields.push([100 + n, Buffer.alloc(n, n + 1)]); // 0..17 bytes: every padding
  fields.push([Tag.PATH, Buffer.from("/tmp/caf\xe9", "latin1")]);
  const b = encodeRecord(Op.RENAME, 0x80241, fields, 13);
  assert.equal(b.length % 8, 0);
  assert.equal(b.readUInt32LE(0), b.length);
  const r = readRecords(b);
  assert.equal(r.corrupt, false);
  assert.equal(r.next, b.length);
  assert.equal(r.records.length, 1);
  const [x] = r.records;
  assert.equal(x.op, Op.RENAME);
  assert.equal(x.flags, 0x80241);
  assert.equal(x.err, 13);
  assert.equal(x.pid, process.pid);
  assert.equal(x.offset, 0);
  assert.ok(x.timeNs > 0n);
  assert.deepEqual(
    [...x.fields.keys()],
    fields.map(([t]) => t),
  );
  for (const [t, v] of fields) assert.deepEqual(x.fields.get(t), v, `field ${t}`);
});

test("readRecords: several records, offsets, and a read from the middle", () => {
  const parts = [rec(Op.BEGIN, "/a"), rec(Op.UNLINK, "/a/bb"), rec(Op.MKDIR, "/a/ccc/dddddddd", 0o755), rec(Op.END, "/", 0, 3)];
  const buf = Buffer.concat(parts);
  const r = readRecords(buf);
  assert.deepEqual(
    r.records.map((x) => x.op),
    [Op.BEGIN, Op.UNLINK, Op.MKDIR, Op.END],
  );
  const starts = [0, parts[0].length, parts[0].length + parts[1].length, buf.length - parts[3].length];
  assert.deepEqual(
    r.records.map((x) => x.offset),
    starts,
  );
  assert.equal(r.records[2].flags, 0o755);
  assert.equal(r.records[3].err, 3);
  assert.equal(r.next, buf.length);
  assert.deepEqual(paths(buf, starts[2]), ["/a/ccc/dddddddd", "/"]);
  assert.deepEqual(readRecords(buf, buf.length), { records: [], next: buf.length, corrupt: false });
  assert.deepEqual(readRecords(Buffer.alloc(0)), { records: [], next: 0, corrupt: false });
});

test("readRecords: a record still being written is left alone, and read whole once the rest is there", () => {
  const a = rec(Op.UNLINK, "/x/first");
  const b = encodeRecord(Op.OPEN, 1, [
    [Tag.PATH, Buffer.from("/x/second")],
    [Tag.PRE, Buffer.alloc(64, 7)],
  ]);
  const whole = Buffer.concat([a, b]);
  for (let cut = a.length; cut < whole.length; cut++) {
    const r = readRecords(whole.subarray(0, cut));
    assert.deepEqual(
      r.records.map((x) => x.op),
      [Op.UNLINK],
      `cut at ${cut}`,
    );
    assert.equal(r.next, a.length, `cut at ${cut}: the next read starts at the partial record`);
    assert.equal(r.corrupt, false, `cut at ${cut}`);
  }
  const later = readRecords(whole, a.length);
  assert.deepEqual(
    later.records.map((x) => x.op),
    [Op.OPEN],
  );
  assert.equal(later.next, whole.length);
  assert.deepEqual(later.records[0].fields.get(Tag.PRE), Buffer.alloc(64, 7));
});

test("readRecords: a record torn by a killed writer is skipped up to the next clean record, flagged corrupt", () => {
  const a = rec(Op.UNLINK, "/t/a");
  const torn = encodeRecord(Op.OPEN, 0, [
    [Tag.PATH, Buffer.from("/t/torn")],
    [Tag.PRE, Buffer.alloc(64, 1)],
  ]);
  const c = rec(Op.RMDIR, "/t/c");
  const d = rec(Op.END, "/t/d");
  for (const keep of [8, 32, 40, torn.length - 8]) {
    const buf = Buffer.concat([a, torn.subarray(0, keep), c, d]);
    const r = readRecords(buf);
    assert.deepEqual(
      r.records.map((x) => x.fields.get(Tag.PATH)?.toString()),
      ["/t/a", "/t/c", "/t/d"],
      `torn after ${keep} bytes`,
    );
    assert.equal(r.corrupt, true, `torn after ${keep} bytes`);
    assert.equal(r.next, buf.length);
    assert.equal(r.records[1].offset, a.length + keep);
  }
});

test("readRecords: bytes that are not records stop the read there, flagged corrupt", () => {
  const a = rec(Op.UNLINK, "/g/a");
  const buf = Buffer.concat([a, Buffer.from("this is not a spool record at all, no magic in here")]);
  const r = readRecords(buf);
  assert.deepEqual(
    r.records.map((x) => x.op),
    [Op.UNLINK],
  );
  assert.equal(r.next, a.length);
  assert.equal(r.corrupt, true);
  // a header with a length that is no multiple of 8 is no record either
  const bad = Buffer.from(a);
  bad.writeUInt32LE(a.length + 3, 0);
  assert.equal(readRecords(Buffer.concat([bad, Buffer.alloc(8)])).records.length, 0);
});

test("decodeStat/encodeStat: 64 bytes, every field round trips, extremes included", () => {
  const s: Stat = {
    dev: 0xfffffffffffffffen,
    ino: 1n << 40n,
    mode: 0o100644,
    uid: 0xfffffffe,
    gid: 1000,
    nlink: 3,
    size: (1n << 62n) + 5n,
    mtimeNs: 1_700_000_000_123_456_789n,
    ctimeNs: -1_000_000_001n,
    atimeNs: 0n,
  };
  const b = encodeStat(s);
  assert.equal(b.length, 64);
  assert.deepEqual(decodeStat(b), s);
  // a Uint8Array view into a bigger buffer decodes the same
  const big = new Uint8Array(80);
  big.set(b, 16);
  assert.deepEqual(decodeStat(big.subarray(16)), s);
  assert.equal(decodeStat(undefined), null);
  assert.equal(decodeStat(null), null);
  assert.equal(decodeStat(b.subarray(0, 63)), null, "shorter than a stat_rec");
  // a device's stat_rec is 72 bytes: its rdev follows; readers of the 64 take the rest as before
  const dev = { ...s, mode: 0o20620, rdev: (1n << 40n) + 0x103n };
  const db = encodeStat(dev);
  assert.equal(db.length, 72);
  assert.deepEqual(decodeStat(db), dev);
  const { rdev: _, ...first64 } = dev;
  assert.deepEqual(decodeStat(db.subarray(0, 64)), first64);
  // the layout of docs/SPOOL.md
  assert.equal(b.readUInt32LE(16), 0o100644);
  assert.equal(b.readUInt32LE(20), 0xfffffffe);
  assert.equal(b.readBigInt64LE(40), s.mtimeNs);
});

test("keepField/parseKeep: how and staging name; names that are not UTF-8 survive as latin1", () => {
  assert.deepEqual(parseKeep(keepField("R", "0123456789abcdef/2049-1234")), { how: "R", name: "0123456789abcdef/2049-1234" });
  const raw = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]); // "caf\xe9\n"
  const f = keepField("C", raw);
  assert.deepEqual(f, Buffer.concat([Buffer.from("C"), raw]));
  assert.deepEqual(parseKeep(f), { how: "C", name: "caf\xe9\n" });
  assert.equal(parseKeep(undefined), null);
  assert.equal(parseKeep(Buffer.from("R")), null, "a how with no name");
});

test("i64: little-endian signed 64-bit, from number or bigint", () => {
  assert.deepEqual(i64(1), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
  assert.equal(i64(-2n).readBigInt64LE(0), -2n);
  assert.equal(i64(2 ** 40).readBigInt64LE(0), 2n ** 40n);
});

test("RecordWriter: each typed field is the bytes of the field encoders, across flushes into a reused buffer and growth", () => {
  const st: Stat = {
    dev: 2049n,
    ino: 1n << 40n,
    mode: 0o100644,
    uid: 1000,
    gid: 100,
    nlink: 1,
    size: 97n,
    mtimeNs: 1700000000123456789n,
    ctimeNs: 5n,
    atimeNs: 6n,
  };
  const dev: Stat = { ...st, mode: 0o020600, rdev: 0x0501n };
  const long = "/t/" + "n".repeat(3000); // more than the writer's first buffer
  const steps = [
    { path: "/tmp/caf\xe9/\xff", keep: ["R", "/s/abc/d1-2/caf\u00e9"], stat: st, int: -3n },
    { path: long, keep: ["C", "/s/x"], stat: dev, int: 1n << 62n },
    { path: "/", keep: ["R", "/s/y"], stat: st, int: 0 },
  ] as const;
  const expected = Buffer.concat(
    steps.map((s, i) =>
      encodeRecord(
        Op.RENAME,
        i,
        [
          [Tag.PATH, Buffer.from(s.path, "latin1")],
          [Tag.PRE, encodeStat(s.stat)],
          [Tag.LENGTH, i64(s.int)],
          [Tag.XNAME, Buffer.from("user.caf\u00e9")],
          [Tag.KEEP, keepField(s.keep[0], s.keep[1])],
        ],
        i + 1,
      ),
    ),
  );
  const parts: Buffer[] = [];
  const w = new RecordWriter(64, (b) => parts.push(Buffer.from(b)), 100); // flushed after every record, its buffer written over
  for (const [i, s] of steps.entries()) {
    w.begin(Op.RENAME, i, i + 1)
      .latin1(Tag.PATH, s.path)
      .stat(Tag.PRE, s.stat)
      .int(Tag.LENGTH, s.int)
      .utf8(Tag.XNAME, "user.caf\u00e9");
    w.keep(Tag.KEEP, s.keep[0], s.keep[1]).end();
  }
  w.flush();
  assert.ok(parts.length >= 3, `flushed as it went: ${parts.length}`);
  const got = Buffer.concat(parts);
  // the header's time is when each was encoded: the same field of the other
  const times = (b: Buffer) => readRecords(b).records.map((r) => r.offset);
  for (const at of times(expected)) expected.writeBigInt64LE(0n, at + 16);
  for (const at of times(got)) got.writeBigInt64LE(0n, at + 16);
  assert.equal(got.length, expected.length);
  assert.ok(got.equals(expected), "the same bytes, padding zero");
  assert.equal(readRecords(got).records.length, 3);
});

test("RecordWriter: bigints at the ends of the 64-bit ranges are encodeStat's and i64's bytes; one past them is refused, not wrapped", () => {
  const st: Stat = {
    dev: 0xffffffffffffffffn,
    ino: 0n,
    mode: 0o100600,
    uid: 0,
    gid: 0,
    nlink: 1,
    size: 0x7fffffffffffffffn,
    mtimeNs: -0x8000000000000000n,
    ctimeNs: -1n,
    atimeNs: 1n,
    rdev: 0xffffffffffffffffn,
  };
  const w = new RecordWriter(64);
  w.begin(Op.RENAME, 0).stat(Tag.PRE, st).int(Tag.LENGTH, -0x8000000000000000n).int(Tag.TAIL_OF, 0x7fffffffffffffffn).end();
  const recs = readRecords(w.take()).records;
  assert.equal(recs.length, 1);
  assert.ok(recs[0].fields.get(Tag.PRE)!.equals(encodeStat(st)));
  assert.ok(recs[0].fields.get(Tag.LENGTH)!.equals(i64(-0x8000000000000000n)));
  assert.ok(recs[0].fields.get(Tag.TAIL_OF)!.equals(i64(0x7fffffffffffffffn)));
  assert.throws(() => new RecordWriter(64).begin(Op.RENAME, 0).int(Tag.LENGTH, 1n << 63n), RangeError);
  assert.throws(() => new RecordWriter(64).begin(Op.RENAME, 0).stat(Tag.PRE, { ...st, ino: 1n << 64n }), RangeError);
  assert.throws(() => new RecordWriter(64).begin(Op.RENAME, 0).stat(Tag.PRE, { ...st, dev: -1n }), RangeError);
});
