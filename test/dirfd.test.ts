// Calls on (dirfd, name): capture names the file by the directory's path at that call (capture.c,
// dir_path). The path read from /proc for a descriptor is used again for the next call on it only
// while it still names the directory that call acts in: a directory renamed between two calls, a
// descriptor number closed and opened on another directory, a directory replaced by another of
// the same name under it. Whole trees compared after the undo; the records' paths checked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { noStrace, out, sameTree, sandbox, shitBin, showJson } from "./helpers.ts";

test("calls on a directory descriptor are recorded at the directory's path of the moment: renamed, its number reused, replaced under a kept name; the undo exact", (t) => {
  const s = sandbox(t);
  s.sh("mkdir -p A/s C && for f in f1 f2 f3 f4; do echo $f > A/$f; done && echo s1 > A/s/s1 && echo s2 > A/s/s2 && echo g > C/g && echo h > C/h");
  const before = s.tree();
  const py = `
import os
a = os.open("A", os.O_RDONLY | os.O_DIRECTORY)
os.unlink("f1", dir_fd=a)           # A/f1: the descriptor's path read
os.unlink("s/s1", dir_fd=a)         # A/s/s1
os.rename("A", "B")                 # the directory renamed under the descriptor
os.unlink("f2", dir_fd=a)           # B/f2, not A/f2
os.mkdir("A"); os.mkdir("A/s")      # a new A, with an s of its own
with open("A/s/s2", "w") as f: f.write("new")
os.unlink("s/s2", dir_fd=a)         # B/s/s2: A/s/s2 names another directory's file now
fd = os.open("f3", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=a)
os.write(fd, b"over"); os.close(fd) # B/f3 overwritten
os.close(a)
c = os.open("C", os.O_RDONLY | os.O_DIRECTORY)
assert c == a, (c, a)               # the same number, another directory
os.unlink("g", dir_fd=c)            # C/g
fd = os.open("n", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=c)
os.close(fd)                        # C/n created
os.close(c)
`;
  const r = s.shit(["run", "--", "python3", "-c", py]);
  assert.equal(r.status, 0, out(r));
  const events = showJson(s).events;
  const paths = (op: string) =>
    events
      .filter((e) => e.op === op)
      .map((e) => e.path!.slice(s.work.length + 1))
      .sort();
  assert.deepEqual(paths("unlink"), ["A/f1", "A/s/s1", "B/f2", "B/s/s2", "C/g"]);
  assert.deepEqual(paths("open"), ["A/s/s2", "B/f3", "C/n"]);
  assert.equal(readFileSync(join(s.work, "A/s/s2"), "utf8"), "new");
  const u = s.shit(["undo", "--yes"]);
  assert.equal(u.status, 0, out(u));
  assert.equal(sameTree(before, s.tree()), "", "undo exact");
});

test("tar xf -C DIR over its own tree reads the descriptor's path from /proc once, not once or twice a file", { skip: noStrace }, (t) => {
  const s = sandbox(t);
  s.sh(
    "mkdir -p src/t && for d in 1 2 3; do mkdir src/t/d$d && for f in $(seq 1 20); do echo $d$f > src/t/d$d/f$f; done; done && tar cf a.tar -C src t && mkdir x && tar xf a.tar -C x",
  );
  s.sh("echo changed > x/t/d2/f7");
  const before = s.tree();
  const trace = join(s.dir, "trace");
  const st = spawnSync("strace", ["-f", "-qq", "-e", "trace=readlink,readlinkat", "-o", trace, shitBin, "run", "--", "tar", "xf", "a.tar", "-C", "x"], {
    cwd: s.work,
    env: s.env,
    encoding: "utf8",
  });
  assert.equal(st.status, 0, out(st));
  const reads = readFileSync(trace, "utf8")
    .split("\n")
    .filter((l) => l.includes("/proc/self/fd/"));
  assert.ok(reads.length <= 3, `${reads.length} readlinks of /proc/self/fd for 60 files:\n${reads.slice(0, 5).join("\n")}`);
  const u = s.shit(["undo", "--yes"]);
  assert.equal(u.status, 0, out(u));
  assert.equal(sameTree(before, s.tree()), "", "undo exact");
});
