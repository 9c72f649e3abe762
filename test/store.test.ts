// The content-addressed store (src/store/blobs.ts): what capture copied is kept once by content,
// compressed where that saves space, verified on every read; gc by age and budget, pins, forget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { sandbox, out, type Sandbox } from "./helpers.ts";
import { manifest, diffManifests } from "../dist/manifest.js";
import { daemonBox, until } from "./daemon-box.ts";

/** The blob files of the store: store/<hh>/<hash>[.zst]. */
function blobFiles(s: Sandbox): string[] {
  const dir = join(s.state, "store");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((d) => readdirSync(join(dir, d)).map((f) => join(dir, d, f)));
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

test("ten commands each overwriting a 10 MiB file with the same bytes add one blob; undo restores it from the store", (t) => {
  const s = sandbox(t);
  s.sh("head -c 10485760 /dev/urandom > same; cp same f");
  const bytes = readFileSync(join(s.work, "same"));
  for (let i = 0; i < 10; i++) assert.equal(s.shit(["run", "--", "sh", "-c", "cat same > f"]).status, 0);
  const r = s.shit(["list"]);
  assert.equal(r.status, 0, out(r));
  const blobs = blobFiles(s);
  assert.equal(blobs.length, 1, `one blob: ${blobs.join(" ")}`);
  assert.equal(
    blobs[0]
      .split("/")
      .pop()!
      .replace(/\.zst$/, ""),
    sha(bytes),
    "named by its sha256",
  );
  assert.equal(statSync(blobs[0]).mode & 0o777, 0o600);
  assert.equal(statSync(join(s.state, "store")).mode & 0o777, 0o700);
  // nothing of it is left in staging
  const staged = readdirSync(join(s.state, "staging"), { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
  assert.deepEqual(staged, []);
  // the newest undo restores f from the blob (a new file: the blob is still there, unchanged)
  s.sh("printf changed > f");
  const u = s.shit(["undo", "--yes", "--force"]);
  assert.equal(u.status, 0, out(u));
  assert.ok(readFileSync(join(s.work, "f")).equals(bytes), "f restored byte-exact");
  assert.ok(existsSync(blobs[0]), "the blob stays for the other nine");
  assert.notEqual(statSync(join(s.work, "f")).ino, statSync(blobs[0]).ino, "the restored file is not the blob's inode");
  // the undo's own records (its pre-image of f) are ingested by the next verb, as with shitd
  assert.equal(s.shit(["list"]).status, 0);
  assert.equal(blobFiles(s).length, 2, "and the undo's own pre-image of f ('changed') is a blob too");
});

test("a 50 MiB text pre-image is stored compressed well under its size and restored byte-exact; a corrupted blob is refused by undo and reported by doctor", (t) => {
  const s = sandbox(t);
  // text: numbered lines, compressible but not trivially
  s.sh("seq 1 7000000 | head -c 52428800 > big.txt");
  const bytes = readFileSync(join(s.work, "big.txt"));
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo short > big.txt"]).status, 0);
  const id = JSON.parse(s.shit(["list", "--json"]).stdout)[0].id as string;
  const blobs = blobFiles(s);
  assert.equal(blobs.length, 1);
  assert.match(blobs[0], /\.zst$/, "compressed (no daemon: at the CLI's own ingest)");
  const size = statSync(blobs[0]).size;
  assert.ok(size < bytes.length / 4, `stored in ${size} bytes, well under ${bytes.length}`);
  let r = s.shit(["undo", "--yes", id]);
  assert.equal(r.status, 0, out(r));
  assert.ok(readFileSync(join(s.work, "big.txt")).equals(bytes), "restored byte-exact");
  r = s.shit(["redo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(readFileSync(join(s.work, "big.txt"), "utf8"), "short\n");

  // one byte flipped in the compressed blob: undo refuses (exit 6) naming the file; doctor FAILs it
  const z = readFileSync(blobs[0]);
  z[z.length >> 1] ^= 0xff;
  writeFileSync(blobs[0], z);
  r = s.shit(["undo", "--yes", id]);
  assert.equal(r.status, 6, out(r));
  assert.match(r.stderr, /big\.txt: its blob \S+ is corrupt/);
  assert.equal(readFileSync(join(s.work, "big.txt"), "utf8"), "short\n", "nothing changed");
  r = s.shit(["doctor"]);
  assert.match(r.stdout, /FAIL\s+store\s+1 of \d+ blobs are corrupt or missing: .*is corrupt.*held by/, out(r));
});

/** The sandbox's env with a config file setting the store's limits. */
function withLimits(s: Sandbox, store: Record<string, string | number>): NodeJS.ProcessEnv {
  const file = join(s.dir, "config.json");
  writeFileSync(file, JSON.stringify({ store }));
  return { ...s.env, SHIT_CONFIG: file };
}

/** Runs one command that overwrites its own file of n random bytes (a kept copy: one blob). */
function overwrite(s: Sandbox, name: string, n: number): string {
  s.sh(`head -c ${n} /dev/urandom > ${name}`);
  const r = s.shit(["run", "--", "sh", "-c", `echo gone > ${name}`]);
  assert.equal(r.status, 0, out(r));
  return JSON.parse(s.shit(["list", "--json"]).stdout)[0].id as string;
}

test("gc with a budget frees oldest first, keeps exactly the pinned command's blobs; freed commands say so and the default undo skips them", (t) => {
  const s = sandbox(t);
  const K = 600 * 1024;
  const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => overwrite(s, n, K));
  let r = s.shit(["pin", b, "--name", "keepme"]);
  assert.equal(r.status, 0, out(r));
  assert.match(s.shit(["list"]).stdout, /\(pinned keepme\)/);
  assert.equal(blobFiles(s).length, 4);

  // over a budget of 1.3 MiB: a, then c (b is pinned) — then it fits
  r = s.shit(["gc"], { env: withLimits(s, { budget: "1300K" }) });
  assert.equal(r.status, 0, out(r));
  assert.match(r.stdout, /^freed 2 pre-images \(1\.2 MiB\) of 2 commands older than 7d \(2 of them younger, oldest first, to fit the budget of 1\.3 MiB\)/);
  assert.match(r.stdout, /kept whatever their age: 1 pinned command/);
  const freed = (id: string) => JSON.parse(s.shit(["show", "--json", id]).stdout).freed;
  assert.deepEqual(
    [a, b, c, d].map((id) => !!freed(id)),
    [true, false, true, false],
  );
  assert.equal(blobFiles(s).length, 2);

  // honest history: list, show, undo by id
  const list = s.shit(["list"]).stdout;
  assert.match(list, new RegExp(`${a.slice(0, 8)}.*\\(freed\\)`));
  assert.doesNotMatch(list, new RegExp(`${d.slice(0, 8)}.*\\(freed\\)`));
  const du = s.shit(["du"], { env: withLimits(s, { budget: "1300K" }) });
  assert.match(du.stdout, /^store    1\.2 MiB in 2 blobs/m, out(du));
  assert.match(du.stdout, /^total    1\.2 MiB of a 1\.3 MiB budget/m);
  assert.match(du.stdout, /^gc       would free 0 B of 0 commands now; keeps 600\.0 KiB of pinned commands/m);
  const show = s.shit(["show", "--raw", a]).stdout;
  assert.match(show, /^freed   \S+ by gc \(over the store's budget\): its pre-images are gone/m);
  assert.match(show, /copy freed/);
  r = s.shit(["undo", "--yes", a]);
  assert.equal(r.status, 6, out(r));
  assert.match(r.stderr, /a: pre-image \S+ was freed by `shit gc` on \d{4}-\d\d-\d\d \d\d:\d\d UTC \(the store was over its budget\)/);

  // a budget of nothing: all but the pinned command's blob go
  r = s.shit(["gc", "--json"], { env: withLimits(s, { budget: 0 }) });
  assert.equal(r.status, 0, out(r));
  const rep = JSON.parse(r.stdout);
  assert.deepEqual(
    rep.freed.map((f: { id: string }) => f.id),
    [d],
  );
  const left = blobFiles(s);
  assert.equal(left.length, 1);
  const bId = JSON.parse(s.shit(["show", "--json", b]).stdout);
  assert.equal(bId.freed, null);
  // the default undo skips the freed d and c: it picks b, whose blob is the one left
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stdout, new RegExp(`undo of ${b.slice(0, 8)}`));
  assert.equal(statSync(join(s.work, "b")).size, K);
  assert.equal(sha(readFileSync(join(s.work, "b"))), left[0].split("/").pop());
  // unpin: gc may free it now
  assert.equal(s.shit(["unpin", b]).status, 0);
  assert.equal(s.shit(["unpin", b]).status, 2);
});

test("gc --dry-run changes nothing in the state dir; gc reclaims spools and staging dirs", (t) => {
  const s = sandbox(t);
  for (let i = 0; i < 3; i++) overwrite(s, `f${i}`, 8192);
  assert.equal(s.shit(["run", "--", "true"]).status, 0);
  assert.equal(s.shit(["list"]).status, 0);
  // (the state dir's own mtime is left out: SQLite removes and makes its -wal and -shm files as
  // each process opens and closes the index, a dry run or not)
  const before = manifest(s.state);
  const r = s.shit(["gc", "--older-than", "0s", "--dry-run"]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stdout, /^would free 3 pre-images \(0\.0 MiB\) of 3 commands older than 0s/);
  assert.match(r.stdout, /would reclaim 3 blobs, 4 spools, 4 staging dirs/);
  assert.equal(diffManifests(before, manifest(s.state)), "", "the dry run changed the state dir");
  const g = s.shit(["gc", "--older-than", "0s"]);
  assert.match(g.stdout, /^freed 3 pre-images .* of 3 commands/);
  assert.match(g.stdout, /reclaimed 3 blobs, 4 spools, 4 staging dirs/);
  assert.deepEqual(readdirSync(join(s.state, "spool")), []);
  assert.deepEqual(readdirSync(join(s.state, "staging")), []);
  assert.deepEqual(blobFiles(s), []);
});

test("forget leaves no trace of the command in the index, spools or store", (t) => {
  const s = sandbox(t);
  s.sh("printf 'token=hunter2-SECRET-LINE\\n' > cred");
  const keep = overwrite(s, "other", 5000);
  let r = s.shit(["run", "--", "sh", "-c", "echo hunter2-SECRET-LINE-ARG >/dev/null; echo x > cred"]);
  assert.equal(r.status, 0, out(r));
  const id = JSON.parse(s.shit(["list", "--json"]).stdout)[0].id as string;
  assert.equal(s.shit(["undo", "--yes"]).status, 0); // an undo of it holds what the command wrote
  assert.equal(s.shit(["redo", "--yes"]).status, 0);
  const grep = () => spawnSync("grep", ["-rla", "hunter2-SECRET", s.state], { encoding: "utf8" }).stdout.trim();
  assert.notEqual(grep(), "", "the secret is in the state dir before");
  r = s.shit(["forget", id.slice(0, 8)]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stdout, /^forgot \w{8} and 2 undos or redos of it: \d+ recorded effects, \d+ pre-images, \d+ blobs? only it held/);
  assert.equal(grep(), "", "no trace left");
  assert.equal(s.shit(["show", id]).status, 2);
  assert.doesNotMatch(s.shit(["list"]).stdout, /SECRET/);
  assert.equal(JSON.parse(s.shit(["show", "--json", keep]).stdout).id, keep, "the other command is still there");
  assert.equal(blobFiles(s).length, 1, "its blob stays");
});

test("the daemon compresses new blobs in the background, and runs gc when the store is over its budget", async (t) => {
  const s = daemonBox(t, { SHIT_DAEMON_TIDY_MS: "100" });
  assert.equal(s.shit(["daemon", "start"]).status, 0);
  s.sh("seq 1 300000 > nums");
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo x > nums"]).status, 0);
  await until("the daemon to compress the blob", () => blobFiles(s).some((f) => f.endsWith(".zst")), 20000);
  // over a budget of 1 KiB: the daemon frees it (oldest first) without being asked; the next
  // command's pre-image ("x\n") fits
  const file = join(s.dir, "config.json");
  writeFileSync(file, JSON.stringify({ store: { budget: "1K" } }));
  s.env.SHIT_CONFIG = file;
  assert.equal(s.shit(["daemon", "stop"]).status, 0);
  assert.equal(s.shit(["daemon", "start"]).status, 0);
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo y > nums"]).status, 0);
  await until("the daemon's gc to free the first", () => blobFiles(s).length === 1 && !blobFiles(s)[0].endsWith(".zst"), 20000);
  const rows = JSON.parse(s.shit(["list", "--json"]).stdout) as { freed: { by: string } | null }[];
  assert.deepEqual(
    rows.map((r) => r.freed?.by),
    [undefined, "budget"],
  );
});

test("a file larger than the capture cap is recorded as not captured, and undo says so", (t) => {
  const s = sandbox(t);
  const env = withLimits(s, { fileCap: "4K" });
  assert.equal(s.shit(["list"], { env }).status, 0); // any verb writes the cap for the shim
  assert.equal(readFileSync(join(s.state, "cap"), "utf8"), "4096\n");
  s.sh("head -c 5000 /dev/urandom > big; head -c 4000 /dev/urandom > small");
  const r = s.shit(["run", "--", "sh", "-c", "echo x > big; echo y > small"], { env });
  assert.equal(r.status, 0, out(r));
  const show = s.shit(["show"], { env });
  assert.match(show.stdout, /big .*not captured: larger than the cap/);
  assert.doesNotMatch(show.stdout, /small .*not captured/);
  // what was kept is restored, what was not is named with why (exit 10, as for any part not kept)
  const u = s.shit(["undo", "--yes"], { env });
  assert.equal(u.status, 10, out(u));
  assert.match(u.stdout, /cannot undo: big: not captured: larger than the cap/);
  assert.equal(statSync(join(s.work, "small")).size, 4000, "the file under the cap is restored");
});
