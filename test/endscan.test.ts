// The end-of-command scan (native/common/endscan.c, docs/SPOOL.md op POST): one POST per distinct
// PATH / PATH2 of the run's successful effect records, in first-touch order, with the path's lstat
// now, except a path absent whose parent is in the scan and absent too. The expectation is
// computed here from the spool's effect records and lstat, independently of the C code; the run
// is big enough (spool > 8 MiB) that the scan lets go of the spool's pages behind its read. The
// scan keeps its paths front-coded and its stats as differences between passes: so every field
// is compared, with times before 1970, a FIFO and (as root) a device node and another owner.
import { test } from "node:test";
import assert from "node:assert/strict";
import { lstatSync, readFileSync, type BigIntStats } from "node:fs";
import { join } from "node:path";
import { sandbox, out } from "./helpers.ts";
import { Op, Tag, decodeStat, readRecords } from "../dist/spool/records.js";

const lstatOrNull = (p: string): BigIntStats | null => {
  try {
    return lstatSync(p, { bigint: true });
  } catch {
    return null;
  }
};

test("the end scan's POSTs: each touched path once, in first-touch order, its lstat now, none below a directory gone", (t) => {
  const s = sandbox(t);
  s.sh(
    "mkdir -p big t/a/b t/c; for d in $(seq 1 25); do mkdir big/d$d; (cd big/d$d && seq 1 1000 | xargs touch); done; " +
      "for i in $(seq 1 30); do echo $i > t/a/f$i; echo $i > t/a/b/g$i; echo $i > t/c/h$i; done; echo k > keep",
  );
  const script =
    "touch n1 n2; mkdir nd; echo x > nd/y; ln -s nd/y sl; rm -rf t/a big; mv t/c t/c2; mv keep keep2; echo again > keep; " +
    "rm n1; mv n2 n3; mkdir t/a; echo z > t/a/f1; rm -rf t/c2/h3; touch -d 1960-01-01 past; mkfifo fifo; " +
    (process.getuid?.() === 0 ? "mknod t/a/dev c 1 3; touch t/a/mine; chown 4242:4343 t/a/mine; " : "") +
    "touch 'a long name that shares little' a";
  const r = s.shit(["run", "--", "bash", "-c", script]);
  assert.equal(r.status, 0, out(r));
  const id = (JSON.parse(s.shit(["list", "--json"]).stdout) as { id: string }[])[0].id;
  const buf = readFileSync(join(s.state, "spool", `${id}.spool`));
  assert.ok(buf.length > 8 << 20, `spool of ${buf.length} bytes: more than one 8 MiB step of the scan`);
  const recs = readRecords(buf).records;

  const touched: string[] = [];
  const seen = new Set<string>();
  for (const rec of recs)
    if (rec.op >= Op.UNLINK && rec.op <= Op.MKNOD && rec.err === 0)
      for (const tag of [Tag.PATH, Tag.PATH2]) {
        const p = rec.fields.get(tag)?.toString();
        if (p && !seen.has(p)) (seen.add(p), touched.push(p));
      }
  assert.ok(touched.length > 25000, `${touched.length} paths touched`);
  const expected = touched.filter((p) => {
    if (lstatOrNull(p)) return true;
    const up = p.slice(0, p.lastIndexOf("/"));
    return !(up && seen.has(up) && !lstatOrNull(up));
  });

  const posts = recs.filter((rec) => rec.op === Op.POST);
  assert.deepEqual(
    posts.map((rec) => rec.fields.get(Tag.PATH)?.toString()),
    expected,
  );
  let present = 0;
  for (const rec of posts) {
    const p = rec.fields.get(Tag.PATH)!.toString();
    const now = lstatOrNull(p);
    const st = decodeStat(rec.fields.get(Tag.POST));
    assert.equal(!!st, !!now, `${p}: POST field present iff the path is there`);
    if (!st || !now) continue;
    present++;
    assert.deepEqual(
      [st.dev, st.ino, st.mode, st.uid, st.gid, st.nlink, st.size, st.mtimeNs, st.ctimeNs, st.atimeNs],
      [now.dev, now.ino, Number(now.mode), Number(now.uid), Number(now.gid), Number(now.nlink), now.size, now.mtimeNs, now.ctimeNs, now.atimeNs],
      p,
    );
    if (now.isCharacterDevice()) assert.equal(st.rdev, now.rdev, p);
  }
  // what the run left: n3 nd nd/y sl keep2 keep t/c2 (renamed to) t/a t/a/f1, and the renamed-from t/c keep n2 absent with their parent there
  assert.ok(present >= 12, `${present} POSTs with a stat`);
  const past = decodeStat(posts.find((rec) => rec.fields.get(Tag.PATH)?.toString().endsWith("/past"))?.fields.get(Tag.POST));
  assert.ok(past && past.mtimeNs < 0n, "a time before 1970 kept as it is");
  assert.ok(posts.length < 200, `${posts.length} POSTs: none below big/ or t/a's old tree`);
});
