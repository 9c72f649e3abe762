// A directory moved back whole (native/apply/apply.c, "a directory moved back whole"): an rm -rf
// keeps each file by its directory and name (staging/<cmd>/d<dev>-<ino>/<name>), and the undo
// renames such a staging dir into place when it holds exactly the files the plan puts back there,
// unchanged; the redo takes a directory into staging whole the same way ("a directory taken into
// staging whole"). Whole trees compared; which path was taken is told by inode numbers: a
// directory moved whole is the staging dir's own inode.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { DatabaseSync } from "node:sqlite";
import { lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { noStrace, sandbox, out, sameTree, shitBin, type Sandbox } from "./helpers.ts";

/** The inode numbers of the dirs files were kept in (staging/<cmd>/d<dev>-<ino>), by that name. */
function keptDirs(s: Sandbox): Map<string, number> {
  const staging = join(s.state, "staging");
  const dirs = new Map<string, number>();
  for (const cmd of readdirSync(staging))
    for (const n of readdirSync(join(staging, cmd))) if (/^d\d+-\d+$/.test(n)) dirs.set(join(cmd, n), lstatSync(join(staging, cmd, n)).ino);
  return dirs;
}
const ino = (s: Sandbox, p: string) => lstatSync(join(s.work, p)).ino;

function tree(s: Sandbox): void {
  s.sh(
    "mkdir -p t/a/b t/c t/empty && for i in $(seq 1 20); do echo a$i > t/a/f$i; echo b$i > t/a/b/g$i; echo c$i > t/c/h$i; done; " +
      "chmod 640 t/a/f3; chmod 711 t/a/b; touch -d 2020-01-02 t/a/f4 t/c; printf x > \"t/c/$(printf 'caf\\303\\251')\"; ln -s f1 t/a/link; " +
      "printf 'y' > 't/a/sp ace'; touch -d 2019-05-05 t/a/b t/a t",
  );
}

/** The tree made, then removed by a recorded rm -rf: the tree before, and the dirs its files were kept in. */
function removedTree(s: Sandbox): { before: ReturnType<Sandbox["tree"]>; kept: Map<string, number> } {
  tree(s);
  const before = s.tree();
  const r = s.shit(["run", "--", "rm", "-rf", "t"]);
  assert.equal(r.status, 0, out(r));
  return { before, kept: keptDirs(s) };
}

test("undo of rm -rf puts each removed directory back whole, in one rename; redo and undo again exact (whole trees)", (t) => {
  const s = sandbox(t);
  const { before, kept } = removedTree(s);
  let r: ReturnType<Sandbox["shit"]>;
  assert.ok(kept.size >= 3, `a staging dir per directory with files: ${[...kept.keys()]}`);
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(sameTree(before, s.tree()), "", "undo exact");
  const moved = new Set(kept.values());
  // t/a/b and t/c held only files kept by name: moved whole; t/a also held a symlink (put back from
  // its target, so kept by inode) and t/c a name that is not plain ASCII (kept by inode, moved after)
  assert.ok(moved.has(ino(s, "t/a/b")), "t/a/b is its staging dir, moved back whole");
  assert.ok(moved.has(ino(s, "t/c")), "t/c is its staging dir, moved back whole");
  const placed = ino(s, "t/a/b");
  r = s.shit(["redo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(s.sh("ls -A").stdout, "", "redo removed t again");
  const kept2 = new Set(keptDirs(s).values());
  // the redo took each directory holding only files into staging whole: t/a/b is that staging dir
  assert.ok(kept2.has(placed), "t/a/b taken into staging whole by the redo");
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(sameTree(before, s.tree()), "", "undo of the redo exact");
  assert.ok(kept2.has(ino(s, "t/a/b")), "the redo kept t/a/b's files by name too: moved back whole again");
});

// With no shitd the undo leaves its apply's records to the next verb's ingest (src/undo/perform.ts,
// `leave`): the spool is the record; the next verb reads it before the index, and marks what
// the undo moved back out of staging (run/moved) once its END is in.
test("with no daemon the undo's own records wait for the next verb, which ingests them first: list, redo and undo again exact", (t) => {
  const s = sandbox(t);
  const { before } = removedTree(s);
  const rm = s.shit(["list", "--json"]);
  const rmId = (JSON.parse(rm.stdout) as Array<{ id: string }>)[0].id;
  let r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(sameTree(before, s.tree()), "", "undo exact");
  const ix = () => {
    const db = new DatabaseSync(join(s.state, "index.sqlite"), { readOnly: true });
    try {
      const undo = db.prepare("SELECT id, ended, exit FROM commands WHERE kind = 'undo'").get() as { id: string; ended: number | null; exit: number | null };
      const gone = db.prepare("SELECT name FROM keeps WHERE name LIKE ? || '/%' AND state = 'gone'").all(rmId) as Array<{ name: string }>;
      return { undo, gone: gone.map((k) => k.name).sort() };
    } finally {
      db.close();
    }
  };
  const after = ix();
  assert.equal(after.undo.ended, null, "the undo's END is not read back by the undo itself");
  assert.deepEqual(after.gone, [], "what it moved back is marked at the next ingest");
  const moved = readFileSync(join(s.state, "run", "moved", after.undo.id), "latin1")
    .split("\n")
    .filter(Boolean); // a name a line
  assert.ok(moved.length >= 60, `the list of what it moved back waits in run/moved: ${moved.length}`);
  r = s.shit(["list", "--json"]);
  assert.equal(r.status, 0, out(r));
  assert.ok(
    (JSON.parse(r.stdout) as Array<{ id: string }>).some((c) => c.id === after.undo.id),
    out(r),
  );
  const settled = ix();
  assert.ok(settled.undo.ended !== null && settled.undo.exit === 0, "the next verb ingested the undo's spool first");
  assert.deepEqual(settled.gone, moved.sort(), "and marked each pre-image it moved back as gone from staging");
  r = s.shit(["redo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(s.sh("ls -A").stdout, "", "redo removed t again");
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(sameTree(before, s.tree()), "", "undo of the redo exact");
});

test("a staging dir holding a file the plan does not put back is not moved: each file is, exact", (t) => {
  const s = sandbox(t);
  const { before, kept } = removedTree(s);
  // what a process killed between a keep and its record leaves: a file no record explains
  for (const [name] of kept) writeFileSync(join(s.state, "staging", name, "unexplained"), "odd\n");
  const r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(sameTree(before, s.tree()), "", "undo exact, the odd files not put back");
  const moved = new Set(kept.values());
  for (const d of ["t/a/b", "t/c", "t/a"]) assert.ok(!moved.has(ino(s, d)), `${d} made, not moved`);
  for (const [name] of kept) assert.deepEqual(readdirSync(join(s.state, "staging", name)), ["unexplained"], name);
});

test("directories under a parent with a default ACL are made (inheriting it as they did), not moved", (t) => {
  const s = sandbox(t);
  if (s.sh("setfacl -d -m u::rwx,g::rx,o::- . && echo ok", { cwd: s.work }).stdout.trim() !== "ok") {
    t.skip("setfacl does not work here");
    return;
  }
  tree(s);
  const before = s.tree();
  assert.ok(before.find((e) => e.path === "t/a/b")?.xattrs?.["system.posix_acl_default"], "t/a/b inherited the default ACL");
  let r = s.shit(["run", "--", "rm", "-rf", "t"]);
  assert.equal(r.status, 0, out(r));
  const kept = new Set(keptDirs(s).values());
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(sameTree(before, s.tree()), "", "undo exact, ACLs included");
  assert.ok(!kept.has(ino(s, "t/a/b")), "made, not moved");
});

test("a name removed twice from one directory by one command: the second kept by inode; undo exact", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d && echo one > d/f && echo two > d/g && echo three > d/h");
  const before = s.tree();
  let r = s.shit(["run", "--", "sh", "-c", "rm d/f && mv d/g d/f && rm d/f d/h && rmdir d"]);
  assert.equal(r.status, 0, out(r));
  const files = readdirSync(join(s.state, "staging"), { recursive: true, encoding: "utf8" }).sort();
  assert.ok(files.some((f) => /\/d\d+-\d+\/f$/.test(f)) && files.some((f) => /\/\d+-\d+$/.test(f)), files.join("\n"));
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(sameTree(before, s.tree()), "", "undo exact");
});

test("a file changed after the undo put its directory back whole is a conflict for the redo, not overwritten", (t) => {
  const s = sandbox(t);
  tree(s);
  let r = s.shit(["run", "--", "rm", "-rf", "t"]);
  assert.equal(r.status, 0, out(r));
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  s.sh("echo later >> t/c/h1");
  const later = s.tree();
  r = s.shit(["redo", "--yes"]);
  assert.notEqual(r.status, 0, out(r));
  assert.match(r.stdout + r.stderr, /t\/c\/h1/);
  assert.equal(sameTree(later, s.tree()), "", "nothing changed");
});

/** `shit <verb> --yes` under strace, SIGKILLed at the k-th renameat2 of any of its processes
 *  (shit-apply's moves: a staging dir into place, a directory into staging, a file). */
function killedAt(s: Sandbox, verb: string, k: number) {
  return spawnSync("strace", ["-f", "-o", "/dev/null", "-e", "trace=renameat2", "-e", `inject=renameat2:signal=SIGKILL:when=${k}`, shitBin, verb, "--yes"], {
    cwd: s.work,
    env: s.env,
    encoding: "utf8",
  });
}

test("fault injection (strace): SIGKILL at the k-th move of an undo and of a redo; the next one finishes it, whole trees exact", { skip: noStrace }, (t) => {
  const s = sandbox(t);
  tree(s);
  s.sh("mkdir -p t/d && for i in $(seq 1 15); do echo d$i > t/d/e$i; done");
  const before = s.tree();
  const kills = { undo: 0, redo: 0 };
  // the killed verb, then (when it was killed: it exits non-zero) the next one, which finishes it
  const killThenFinish = (verb: "undo" | "redo", k: number) => {
    if (killedAt(s, verb, k).status === 0) return; // fewer than k moves: it finished
    kills[verb]++;
    const r = s.shit([verb, "--yes"]);
    assert.equal(r.status, 0, `${verb} killed at move ${k}; the next: ${out(r)}`);
  };
  for (const k of [1, 2, 3, 5, 8]) {
    let r = s.shit(["run", "--", "rm", "-rf", "t"]);
    assert.equal(r.status, 0, out(r));
    killThenFinish("undo", k);
    assert.equal(sameTree(before, s.tree()), "", `undo killed at move ${k}, then finished`);
    killThenFinish("redo", k);
    assert.equal(s.sh("ls -A").stdout, "", `redo killed at move ${k}, then finished: t is gone`);
    r = s.shit(["undo", "--yes"]);
    assert.equal(r.status, 0, `the undo of the redo killed at move ${k}: ${out(r)}`);
    assert.equal(sameTree(before, s.tree()), "", `the undo of the redo killed at move ${k}`);
  }
  assert.ok(kills.undo >= 3 && kills.redo >= 3, `killed mid-way: ${JSON.stringify(kills)}`);
});

/** `shit <verb> --yes` under strace -ff: shit-apply's statx calls, and the spool it wrote. */
function applyStatx(s: Sandbox, verb: string): number {
  const dir = join(s.dir, `strace-${verb}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  const r = spawnSync("strace", ["-ff", "-e", "trace=execve,statx", "-o", join(dir, "t"), shitBin, verb, "--yes"], {
    cwd: s.work,
    env: s.env,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, out(r));
  const traces = readdirSync(dir).map((n) => readFileSync(join(dir, n), "utf8"));
  const apply = traces.find((t) => /^execve\("[^"]*shit-apply"/m.test(t));
  assert.ok(apply, "a shit-apply ran");
  return (apply.match(/^statx\(/gm) ?? []).length;
}

test("shit-apply stats each file of an rm -rf's undo once and of its redo twice; the end scan's POSTs are each path's lstat", { skip: noStrace }, (t) => {
  const s = sandbox(t);
  s.sh("for d in $(seq 1 10); do mkdir -p t/d$d; for i in $(seq 1 50); do echo $d$i > t/d$d/f$i; done; done");
  const before = s.tree();
  const files = 500;
  assert.equal(s.shit(["run", "--", "rm", "-rf", "t"]).status, 0);
  // before: 2 per file in the undo (its check in staging, the end scan's), 4 in the redo (remove_at's, cap_unlink's, the parent's, the check)
  const undo = applyStatx(s, "undo");
  assert.equal(sameTree(before, s.tree()), "", "undo exact");
  assert.ok(undo < files * 1.2, `undo: ${undo} statx for ${files} files`);
  // each POST (most taken from the check in staging, not stat'ed again) is the path's lstat now
  const id = (JSON.parse(s.shit(["list", "--json"]).stdout) as { id: string }[])[0].id;
  const dump = spawnSync("python3", [join(import.meta.dirname, "native", "dumpspool.py"), join(s.state, "spool", `${id}.spool`)], { encoding: "utf8" });
  const posts = dump.stdout.split("\n").filter((l) => l.startsWith("POST "));
  assert.equal(posts.length, files + 11, dump.stdout.slice(0, 2000) + dump.stderr);
  for (const l of posts) {
    const m = /PATH=(\S+) POST=mode=(\d+) ino=(\d+) size=(\d+) nlink=(\d+) mtime=(\d+)$/.exec(l);
    assert.ok(m, l);
    const st = lstatSync(m[1], { bigint: true });
    assert.deepEqual([m[2], m[3], m[4], m[5], m[6]], [st.mode.toString(8), `${st.ino}`, `${st.size}`, `${st.nlink}`, `${st.mtimeNs}`], l);
  }
  const redo = applyStatx(s, "redo");
  assert.ok(redo < files * 2.2, `redo: ${redo} statx for ${files} files`);
  assert.equal(s.sh("ls -A").stdout, "", "redo removed t");
  assert.equal(s.shit(["undo", "--yes"]).status, 0);
  assert.equal(sameTree(before, s.tree()), "", "the undo of the redo exact");
});

test("a plan read with its mapping's pages let go at every record (SHIT_APPLY_WINDOW=1), what is kept per step written out (SHIT_APPLY_SPILL=1): undo, redo and undo again exact, directories moved whole both ways", (t) => {
  // shit-apply keeps no copy of the plan: each step's strings are read from the mapped plan file when
  // they are used (the step, the directory moves found before the steps, the REMOVEs by path, the
  // end scan's POSTs), while its pages are let go behind the read. With a window of one byte, every
  // record read lets go of all of them: any string read before a release and used after must still be right.
  // What it keeps per step (the slots, the journal's marks, the tables by path, the end scan's paths)
  // is in a file it maps, let go with the plan's pages (for a plan of 16 MiB or more; here forced).
  const s = sandbox(t);
  tree(s);
  // names long enough that a record spans pages; 3 dirs of 150 files (more records than one page holds)
  s.sh('for d in x y z; do mkdir -p t/long/$d; for i in $(seq 1 150); do echo $d$i > "t/long/$d/$(printf "n%0200d" $i)"; done; done');
  const before = s.tree();
  let r = s.shit(["run", "--", "rm", "-rf", "t"]);
  assert.equal(r.status, 0, out(r));
  const kept = keptDirs(s);
  const env = { ...s.env, SHIT_APPLY_WINDOW: "1", SHIT_APPLY_SPILL: "1" };
  r = s.shit(["undo", "--yes"], { env });
  assert.equal(r.status, 0, out(r));
  assert.equal(sameTree(before, s.tree()), "", "undo exact");
  const moved = new Set(kept.values());
  for (const d of ["t/long/x", "t/long/y", "t/long/z", "t/a/b"]) assert.ok(moved.has(ino(s, d)), `${d} is its staging dir, moved back whole`);
  const placed = ino(s, "t/long/y");
  r = s.shit(["redo", "--yes"], { env });
  assert.equal(r.status, 0, out(r));
  assert.equal(s.sh("ls -A").stdout, "", "redo removed t again");
  assert.ok(new Set(keptDirs(s).values()).has(placed), "the redo took t/long/y into staging whole");
  r = s.shit(["undo", "--yes"], { env });
  assert.equal(r.status, 0, out(r));
  assert.equal(sameTree(before, s.tree()), "", "undo of the redo exact");
  r = s.shit(["show", "--json"]);
  assert.equal(r.status, 0, out(r));
});
