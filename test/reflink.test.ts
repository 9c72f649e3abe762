// Where reflinks exist (btrfs, XFS), capture's copy of the bytes a command is about to change in
// place is a reflink (native/common/capture.c copy_fd: FICLONE, else copy_file_range, which
// reflinks there too): it shares the file's extents, so it costs O(1) in time and space whatever
// the file's size. Needs root to loop-mount a small image of each filesystem, and its mkfs; skipped
// otherwise, saying so (CI runs the suite unprivileged: bench/fs.sh measures the same as root).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { sandbox, out, shitBin } from "./helpers.ts";

const MiB = 1 << 20;

/** Bytes of `file` in extents FIEMAP flags as shared with another file (filefrag -v). */
function sharedBytes(file: string): number {
  const r = spawnSync("filefrag", ["-v", file], { encoding: "utf8" });
  assert.equal(r.status, 0, `filefrag -v ${file}: ${r.stderr}`);
  const bs = Number(/blocks of (\d+) bytes/.exec(r.stdout)?.[1]);
  assert.ok(bs > 0, `no block size in filefrag's output:\n${r.stdout}`);
  let blocks = 0;
  for (const line of r.stdout.split("\n")) {
    const m = /^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):.*\bshared\b/.exec(line);
    if (m) blocks += Number(m[1]);
  }
  return blocks * bs;
}

const sha = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");

for (const [fs, pkg] of [
  ["btrfs", "btrfs-progs"],
  ["xfs", "xfsprogs"],
] as const) {
  test(`${fs}: the pre-image kept of a file overwritten in place (dd conv=notrunc) shares its extents (a reflink), and undo puts the bytes back`, (t) => {
    if (process.getuid?.() !== 0) {
      t.skip(`needs root to loop-mount a ${fs} image (skipped as the CI user)`);
      return;
    }
    for (const [tool, from] of [
      [`mkfs.${fs}`, pkg],
      ["filefrag", "e2fsprogs"],
    ]) {
      if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
        t.skip(`${tool} not found (apt-get install ${from})`);
        return;
      }
    }
    const s = sandbox(t);
    const img = join(s.dir, `${fs}.img`);
    const mnt = join(s.dir, "mnt");
    s.sh(`truncate -s 320M '${img}' && mkfs.${fs} -q -f '${img}' >/dev/null && mkdir '${mnt}'`);
    const m = spawnSync("mount", ["-o", "loop", img, mnt], { encoding: "utf8" });
    if (m.status !== 0) {
      t.skip(`cannot loop-mount a ${fs} image here: ${m.stderr.trim()}`);
      return;
    }
    try {
      // the state dir on the same filesystem: a reflink works only within one
      const env = { ...s.env, SHIT_HOME: join(mnt, "state") };
      const w = join(mnt, "w");
      const shit = (args: string[]) => spawnSync(shitBin, args, { cwd: w, env, encoding: "utf8" });
      s.sh(`mkdir '${w}' && head -c ${32 * MiB} /dev/urandom > '${w}/big' && sync`);
      const before = sha(join(w, "big"));
      const r = shit(["run", "--", "dd", "if=/dev/zero", "of=big", "bs=64k", "count=1", "conv=notrunc"]);
      assert.equal(r.status, 0, out(r));
      assert.notEqual(sha(join(w, "big")), before, "dd changed the file");
      const kept = readdirSync(join(mnt, "state", "staging"), { recursive: true, encoding: "utf8" })
        .map((p) => join(mnt, "state", "staging", p))
        .filter((p) => statSync(p).isFile() && statSync(p).size === 32 * MiB);
      assert.equal(kept.length, 1, `one whole pre-image of big in staging: ${kept.join(", ")}`);
      assert.equal(sha(kept[0]), before, "the pre-image holds the bytes from before");
      // all but the 64 KiB dd rewrote are still the file's own blocks (btrfs: the whole extent)
      const shared = sharedBytes(kept[0]);
      assert.ok(shared >= 31 * MiB, `the pre-image shares ${shared} of its ${32 * MiB} bytes with the file: a copy, not a reflink`);
      const u = shit(["undo", "--yes"]);
      assert.equal(u.status, 0, out(u));
      assert.equal(sha(join(w, "big")), before, `undo put the bytes back: ${out(u)}`);
    } finally {
      spawnSync("umount", [mnt]);
    }
  });
}
