// Ingest: a spool cut off mid-record is read up to its last whole record and finished later;
// ingesting the same bytes again changes nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync, appendFileSync, truncateSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Op, Tag, encodeRecord, encodeStat } from "../dist/spool/records.js";
import { sandbox, out } from "./helpers.ts";

const counts = (state: string) => {
  const db = new DatabaseSync(join(state, "index.sqlite"), { readOnly: true });
  try {
    const n = (t: string) => (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    return { commands: n("commands"), events: n("events"), posts: n("posts"), keeps: n("keeps") };
  } finally {
    db.close();
  }
};

/** `rm -r` of a dir of five files under capture; its spool's path, bytes and record offsets. */
function removeFiveFiles(s: ReturnType<typeof sandbox>) {
  s.sh("mkdir d; for i in 1 2 3 4 5; do printf $i > d/f$i; done");
  assert.equal(s.shit(["run", "--", "rm", "-r", "d"]).status, 0);
  const spool = join(s.state, "spool", readdirSync(join(s.state, "spool"))[0]);
  const whole = readFileSync(spool);
  const starts: number[] = [];
  for (let o = 0; o < whole.length; o += whole.readUInt32LE(o)) starts.push(o);
  return { spool, whole, starts };
}

test("a spool cut off mid-record is read up to the last whole record, the rest later", (t) => {
  const s = sandbox(t);
  const { spool, whole, starts } = removeFiveFiles(s);
  // cut the file in the middle of its third record
  const cut = starts[2] + 13;
  truncateSync(spool, cut);
  const r = s.shit(["list", "--json"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(r.stderr, "", "a cut-off record is not an error");
  const early = counts(s.state);
  appendFileSync(spool, whole.subarray(cut));
  assert.equal(s.shit(["list"]).status, 0);
  const full = counts(s.state);
  assert.ok(full.events > early.events, "the rest was ingested when it arrived");
  assert.equal(full.events, 6, "5 unlinks and an rmdir");
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 0, out(undo));
  assert.equal(readFileSync(join(s.work, "d", "f3"), "utf8"), "3");
});

test("ingesting the same spool again changes nothing", (t) => {
  const s = sandbox(t);
  s.sh("printf a > a; printf b > b");
  assert.equal(s.shit(["run", "--", "sh", "-c", "rm a; echo x > b; mkdir c"]).status, 0);
  assert.equal(s.shit(["list"]).status, 0);
  const first = counts(s.state);
  const db = new DatabaseSync(join(s.state, "index.sqlite"));
  db.exec("UPDATE spools SET offset = 0");
  db.close();
  assert.equal(s.shit(["list"]).status, 0);
  assert.deepEqual(counts(s.state), first);
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 0, out(undo));
  assert.equal(readFileSync(join(s.work, "a"), "utf8"), "a");
  assert.equal(readFileSync(join(s.work, "b"), "utf8"), "b");
});

test("bytes that are not records: read up to them, one warning, the rest of the history intact", (t) => {
  const s = sandbox(t);
  s.sh("printf a > a");
  assert.equal(s.shit(["run", "--", "rm", "a"]).status, 0);
  const spool = join(s.state, "spool", readdirSync(join(s.state, "spool"))[0]);
  appendFileSync(spool, Buffer.alloc(64, 0x41));
  const r = s.shit(["list", "--json"]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stderr, /unreadable bytes/);
  assert.equal(JSON.parse(r.stdout)[0].effects.deleted, 1);
});

test("a record torn by a writer killed mid-write is skipped; the records after it still count", (t) => {
  const s = sandbox(t);
  const { spool, whole, starts } = removeFiveFiles(s);
  // BEGIN, EXEC, then the unlinks (each followed by the STAGED stat of what it kept): tear the
  // second unlink's record 40 bytes in, as a kill -9 mid-write would
  const unlinks = starts.filter((o) => whole[o + 7] === Op.UNLINK);
  const i = starts.indexOf(unlinks[1]);
  const torn = Buffer.concat([whole.subarray(0, starts[i] + 40), whole.subarray(starts[i + 1])]);
  writeFileSync(spool, torn);
  const r = s.shit(["show", "--json"]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stderr, /unreadable bytes/);
  const ev = JSON.parse(r.stdout).events;
  assert.equal(ev.length, 5, "6 effects less the torn one");
  assert.ok(JSON.parse(r.stdout).ended, "the END after the torn record was read");
});

test("the end scan reads on past a torn record: a path changed after it is still a conflict", (t) => {
  const s = sandbox(t);
  s.sh("printf 0 > a; printf 0 > b");
  // between the two writes, the spool gets 40 bytes of a record, as from a writer killed mid-write
  const cmd = 'echo 1 > a; sp="$SHIT_STATE/spool/$SHIT_CMD.spool"; head -c 40 "$sp" > "$SHIT_STATE/torn"; cat "$SHIT_STATE/torn" >> "$sp"; echo 2 > b';
  assert.equal(s.shit(["run", "--", "bash", "-c", cmd]).status, 0);
  s.sh("sleep 0.01; printf later > b");
  const r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 3, out(r));
  assert.match(r.stderr, /conflict: b: it was modified since the command/);
  assert.match(r.stderr, /unreadable bytes/);
});

test("an inode kept whole gets its identity from its STAGED record, in the same slice or a later one", (t) => {
  const keepIds = (state: string) => {
    const db = new DatabaseSync(join(state, "index.sqlite"), { readOnly: true });
    try {
      return db.prepare("SELECT name, ino, ctime, state FROM keeps ORDER BY name").all() as Array<{
        name: string;
        ino: number | null;
        ctime: string | null;
        state: string;
      }>;
    } finally {
      db.close();
    }
  };
  // whole: each STAGED in the slice of the unlink it follows
  const a = sandbox(t);
  removeFiveFiles(a);
  assert.equal(a.shit(["list"]).status, 0);
  const ids = keepIds(a.state);
  assert.equal(ids.length, 5);
  for (const k of ids) assert.ok(k.state === "inode" && k.ino !== null && k.ctime !== null, JSON.stringify(k));

  // cut right after the first unlink: its STAGED comes in the next ingest, and still counts
  const b = sandbox(t);
  const { spool, whole, starts } = removeFiveFiles(b);
  const first = starts.find((o) => whole[o + 7] === Op.UNLINK)!;
  const cut = starts[starts.indexOf(first) + 1];
  assert.equal(whole[cut + 7], Op.STAGED, "capture writes STAGED right after the unlink");
  truncateSync(spool, cut);
  assert.equal(b.shit(["list"]).status, 0);
  const early = keepIds(b.state);
  assert.equal(early.length, 1);
  assert.equal(early[0].ctime, null, "no identity before its STAGED record is in");
  appendFileSync(spool, whole.subarray(cut));
  assert.equal(b.shit(["list"]).status, 0);
  for (const k of keepIds(b.state)) assert.ok(k.ino !== null && k.ctime !== null, JSON.stringify(k));
  // and the undo, which checks each against it, puts them back
  const undo = b.shit(["undo", "--yes"]);
  assert.equal(undo.status, 0, out(undo));
});

test("the end scan leaves out what is below a directory it found absent: an rm -rf of a tree ends with a POST per top path, and still reads as deleted", (t) => {
  const s = sandbox(t);
  s.sh("mkdir -p t/a/b t/c && for d in t/a t/a/b t/c; do for i in 1 2 3; do echo $i > $d/f$i; done; done && echo keep > k");
  assert.equal(s.shit(["run", "--", "sh", "-c", "rm -rf t; echo more >> k"]).status, 0);
  assert.equal(s.shit(["list"]).status, 0);
  const db = new DatabaseSync(join(s.state, "index.sqlite"), { readOnly: true });
  const posts = (db.prepare("SELECT CAST(path AS TEXT) AS p, post IS NULL AS gone FROM posts ORDER BY p").all() as Array<{ p: string; gone: number }>).map(
    (r) => `${r.p.slice(s.work.length + 1)}${r.gone ? " (absent)" : ""}`,
  );
  db.close();
  // 9 files and 3 dirs below t were removed: their absence is t's (13 POSTs before)
  assert.deepEqual(posts, ["k", "t (absent)"]);
  // what was below still reads as deleted: its diff is all removed lines
  const d = s.shit(["diff", "@", "t/a/b/f2"]);
  assert.equal(d.status, 0, out(d));
  assert.match(d.stdout, /^-2$/m);
  // and t made again since is a conflict, named at t
  s.sh("mkdir -p t/a && echo new > t/a/f1");
  const r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 3, out(r));
  assert.match(r.stderr, /conflict: t: it was gone after the command, and now there is a directory/);
});

test("a settled command's spool moves to spool/done/; a record written after that goes on in a new file, after it", (t) => {
  const s = sandbox(t);
  s.sh("printf a > a");
  assert.equal(s.shit(["run", "--", "rm", "a"]).status, 0);
  const id = readdirSync(join(s.state, "spool"))
    .find((n) => n.endsWith(".spool"))!
    .slice(0, -".spool".length);
  const live = join(s.state, "spool", `${id}.spool`);
  const moved = join(s.state, "spool", "done", `${id}.spool`);
  const sql = (q: string) => {
    const db = new DatabaseSync(join(s.state, "index.sqlite"));
    try {
      return db.prepare(q).all(id) as Array<Record<string, number>>;
    } finally {
      db.close();
    }
  };
  assert.equal(s.shit(["list"]).status, 0);
  assert.ok(existsSync(live), "a command that ended just now stays where it is");
  // ended 11 minutes ago, its processes seen gone: settled
  sql("UPDATE commands SET ended = ended - 660000 WHERE id = ?1");
  sql("UPDATE procs SET exited = 1 WHERE cmd = ?1");
  const before = sql("SELECT seq FROM events WHERE cmd = ?1 ORDER BY seq").map((r) => r.seq);
  assert.equal(s.shit(["list"]).status, 0);
  assert.ok(!existsSync(live) && existsSync(moved), "moved out of the listed directory");
  assert.deepEqual(
    sql("SELECT seq FROM events WHERE cmd = ?1 ORDER BY seq").map((r) => r.seq),
    before,
    "nothing read twice",
  );

  // killed between the move and its record (the position still that of the moved file): the
  // next ingest that meets a new file at the name finishes the settle first
  sql("UPDATE spools SET offset = base, base = 0 WHERE name = ?1 || '.spool'");
  // a background process of the command writes a record later: a new file at the name
  const late = (path: string) =>
    encodeRecord(Op.OPEN, 0o1101, [
      [Tag.PATH, Buffer.from(path)],
      [Tag.PARENT, encodeStat({ dev: 1n, ino: 2n, mode: 0o40755, uid: 0, gid: 0, nlink: 2, size: 0n, mtimeNs: 0n, ctimeNs: 0n, atimeNs: 0n })],
    ]);
  s.sh("printf x > late");
  appendFileSync(live, late(join(s.work, "late")));
  assert.equal(s.shit(["list"]).status, 0);
  // and another, on the new file
  s.sh("printf y > later");
  appendFileSync(live, late(join(s.work, "later")));
  const show = s.shit(["show", id]);
  assert.equal(show.status, 0, out(show));
  assert.match(show.stdout, /deleted\s+a\n/);
  assert.match(show.stdout, /created\s+late\n/, show.stdout);
  assert.match(show.stdout, /created\s+later\n/, show.stdout);
  const seqs = sql("SELECT seq FROM events WHERE cmd = ?1 ORDER BY seq").map((r) => r.seq);
  assert.equal(seqs.length, before.length + 2, "nothing read twice, nothing skipped");
  assert.ok(seqs.at(-2)! >= statSync(moved).size, "their seqs after the moved file's records");

  // gc frees the command: both files go
  const gc = s.shit(["gc", "--older-than", "0s"]);
  assert.equal(gc.status, 0, out(gc));
  assert.ok(!existsSync(live) && !existsSync(moved), "gc removed both files");
});
