// The content-addressed store (src/store/blobs.ts): what capture copied is kept once by content,
// compressed where that saves space, verified on every read; gc by age and budget, pins, forget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { sandbox, out, type Sandbox } from "./helpers.ts";

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
