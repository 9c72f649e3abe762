// The case matrix: real tools doing real damage to a real tree. Each case builds a tree
// (`setup`, not recorded), runs `cmd` under `shit run -- bash -c CMD` (or `shell`), then checks
// that `shit undo --yes` gives back the tree from before, byte for byte, and `shit redo --yes`
// the tree from right after. matrix.test.ts also checks that the table covers every effect op.
// `expect` is what the undo says and does: its exit code, whether it stops at a conflict, and
// the summary line of its plan (`shit undo --dry-run`; null: "nothing to undo").

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { out, type Sandbox } from "./helpers.ts";
import { Index } from "../dist/index/db.js";
import * as commands from "../dist/index/commands.js";
import { ingest } from "../dist/ingest/ingest.js";
import { statePaths, type StatePaths } from "../dist/paths/state.js";
import { readRecords } from "../dist/spool/records.js";
import type { CommandRow } from "../dist/index/rows.js";

export interface Case {
  name: string;
  setup: string; // bash, run in the work dir before the command
  cmd: string; // the recorded command
  shell?: string[]; // default ["bash", "-c"]
  needs?: string; // a tool that must be installed
  settle?: number; // ms to wait after the command (background jobs)
  later?: string; // bash, run after the command and before the undo (not recorded)
  when?: [string, string]; // [a bash condition, why the case is skipped when it fails]
  todo?: string; // a known bug: the case runs, and its failure is reported but does not fail the suite
  expect: Outcome;
}

export interface Outcome {
  exit: number; // of `shit undo --yes` (3: conflict, nothing changed)
  conflict: boolean; // it names a conflict
  // the plan's summary line, as `shit undo --dry-run` prints it; two when it differs for root
  // (tar restores owners as root: one chown per extracted file more to reset)
  summary: string | null | { root: string; user: string };
}

/** An undo that goes through (exit 0, no conflict) with this plan summary. */
const ok = (summary: Outcome["summary"]): Outcome => ({ exit: 0, conflict: false, summary });

// a group of the user's other than the primary one (root: nogroup's 65534), for chgrp
const otherGroup = `$(if [ "$(id -u)" = 0 ]; then echo 65534; else id -G | tr ' ' '\\n' | grep -vx "$(id -g)" | head -n1; fi)`;

const tree = `
mkdir -p proj/src/lib proj/src/empty proj/docs
printf 'int main(void){return 0;}\\n' > proj/src/main.c
printf 'int a;\\n' > proj/src/lib/a.c
printf 'int b;\\n' > proj/src/lib/b.c
printf '# doc\\n' > proj/docs/readme.md
ln -s main.c proj/src/entry.c
ln -s ../nowhere proj/src/dangling
chmod 0640 proj/src/lib/b.c
chmod 0750 proj/src/lib
touch -d '2020-01-01 00:00:00' proj/src/lib proj/src proj/docs
`;

export const cases: Case[] = [
  { name: "rm -f file", setup: "printf 'precious\\n' > f; touch -d '2021-05-05' f", cmd: "rm -f f", expect: ok("restore 1 file") },
  { name: "rm -rf nested tree with symlinks and empty dirs", setup: tree, cmd: "rm -rf proj", expect: ok("restore 4 files, 5 dirs, 2 symlinks under ./") },
  { name: "mv a file over another", setup: "printf 'A\\n' > a; printf 'B\\n' > b", cmd: "mv a b", expect: ok("restore 1 file; move 1 path back under ./") },
  { name: "mv a directory", setup: tree, cmd: "mv proj/src proj/source", expect: ok("move 1 path back") },
  {
    name: "cp over a file",
    setup: "printf 'new\\n' > src; printf 'old contents\\n' > dst",
    cmd: "cp src dst",
    expect: ok("put back the old contents of 1 file"),
  },
  {
    name: "sed -i on many files",
    setup: "for i in $(seq 1 30); do printf 'hello %s\\nworld\\n' $i > f$i.txt; done; chmod 0600 f3.txt",
    cmd: "sed -i 's/hello/goodbye/' f*.txt",
    expect: ok("restore 30 files; move 30 paths back; remove 30 paths it created under ./"),
  },
  {
    name: "perl -pi",
    setup: "printf 'one\\ntwo\\n' > a; printf 'three\\n' > b",
    cmd: "perl -pi -e 's/o/0/g' a b",
    expect: ok("restore 2 files; move 2 paths back; remove 2 paths it created under ./"),
  },
  { name: "echo > f in bash", setup: "printf 'keep me\\n' > notes.txt", cmd: "echo oops > notes.txt", expect: ok("put back the old contents of 1 file") },
  {
    name: "echo > f in dash",
    setup: "printf 'keep me\\n' > notes.txt",
    cmd: "echo oops > notes.txt",
    shell: ["dash", "-c"],
    expect: ok("put back the old contents of 1 file"),
  },
  {
    name: "echo >> f in bash",
    setup: "printf 'line1\\nline2\\n' > log",
    cmd: "echo more >> log; echo andmore >> log",
    expect: ok("put back the old contents of 2 files under ./"),
  },
  {
    name: "echo >> f in dash",
    setup: "printf 'line1\\n' > log",
    cmd: "echo more >> log",
    shell: ["dash", "-c"],
    expect: ok("put back the old contents of 1 file"),
  },
  {
    name: "tee",
    setup: "printf 'old\\n' > out1; printf 'old2\\n' > out2",
    cmd: "echo new | tee out1 out2 out3 >/dev/null",
    expect: ok("put back the old contents of 2 files; remove 1 path it created under ./"),
  },
  {
    name: "dd conv=notrunc",
    setup: "head -c 100000 /dev/urandom > disk.img",
    cmd: "dd if=/dev/zero of=disk.img bs=512 count=4 seek=10 conv=notrunc status=none",
    expect: ok("put back the old contents of 1 file"),
  },
  {
    name: "truncate -s shrink and grow",
    setup: "head -c 50000 /dev/urandom > a; printf 'x' > b",
    cmd: "truncate -s 1000 a && truncate -s 4096 b",
    expect: ok("put back the old contents of 4 files under ./"),
  },
  { name: "chmod -R", setup: tree, cmd: "chmod -R go-rwx,u+x proj", expect: ok("reset permissions or times of 9 paths under ./proj") },
  {
    name: "ln -sf over a regular file",
    setup: "printf 'real\\n' > target; printf 'i am a file\\n' > link",
    cmd: "ln -sf target link",
    expect: ok("restore 1 file; move 1 path back; remove 1 path it created under ./"),
  },
  {
    name: "touch a new file, mkdir -p",
    setup: "mkdir keep",
    cmd: "touch keep/new && mkdir -p a/b/c && touch a/b/c/d",
    expect: ok("remove 5 paths it created under ./"),
  },
  { name: "rmdir", setup: "mkdir -p d/e; chmod 0700 d/e; touch -d '2019-01-01' d/e d", cmd: "rmdir d/e", expect: ok("restore 1 dir") },
  { name: "find -delete", setup: tree, cmd: "find proj -name '*.c' -delete", expect: ok("restore 3 files, 1 symlink under ./proj/src") },
  {
    name: "chain rm, mv, echo",
    setup: "printf 'A\\n' > a; printf 'B\\n' > b",
    cmd: "rm a && mv b a && echo c > b",
    expect: ok("restore 1 file; move 1 path back; remove 1 path it created under ./"),
  },
  {
    name: "paths through ..: cp, rm, tar and mv from a subdirectory",
    setup: "mkdir sub; printf 'x\\n' > sub/f; printf 'y\\n' > g",
    cmd: "cd sub && cp f ../h && rm ../g && tar cf ../p.tar f && mv ../h ../sub/../h2",
    expect: ok("restore 1 file; move 1 path back; remove 2 paths it created under ./"),
  },
  {
    name: "three-way swap",
    setup: "printf 'X\\n' > x; printf 'Y\\n' > y; printf 'Z\\n' > z",
    cmd: "mv x t && mv y x && mv z y && mv t z",
    expect: ok("move 4 paths back under ./"),
  },
  {
    name: "background job in the command",
    setup: "printf 'bg\\n' > f; printf 'fg\\n' > g",
    cmd: "(sleep 0.3; rm f) & rm g",
    settle: 900,
    expect: ok("restore 2 files under ./"),
  },
  {
    name: "tar xf over existing files",
    setup: `${tree} tar cf a.tar proj; printf 'changed\\n' > proj/src/main.c; rm proj/docs/readme.md; printf 'extra\\n' > proj/extra`,
    cmd: "tar xf a.tar",
    expect: ok({
      root: "restore 4 files, 2 symlinks; remove 7 paths it created; reset permissions or times of 14 paths under ./",
      user: "restore 4 files, 2 symlinks; remove 7 paths it created; reset permissions or times of 7 paths under ./",
    }),
  },
  {
    name: "unzip -o over existing files",
    setup: `${tree} (zip -qr a.zip proj); printf 'changed\\n' > proj/src/main.c; rm -rf proj/docs`,
    cmd: "unzip -qo a.zip",
    needs: "unzip",
    expect: ok("restore 3 files, 1 symlink; remove 6 paths it created; reset permissions or times of 3 paths under ./proj"),
  },
  {
    name: "make install creating dirs",
    setup:
      "printf 'install:\\n\\tmkdir -p dest/bin dest/share/doc\\n\\tcp Makefile dest/share/doc/\\n\\tprintf \"#!/bin/sh\\\\n\" > dest/bin/tool\\n\\tchmod 755 dest/bin/tool\\n' > Makefile",
    cmd: "make -s install",
    expect: ok("remove 6 paths it created; reset permissions or times of 1 path under ./dest"),
  },
  {
    name: "patch",
    setup: "printf 'a\\nb\\nc\\n' > f; printf 'a\\nB\\nc\\n' > g; diff -u f g > p.diff || true; rm g",
    cmd: "patch -s f < p.diff",
    expect: ok("restore 1 file; move 1 path back; remove 1 path it created under ./"),
  },
  {
    name: "git checkout -- f",
    setup:
      "git init -q r && cd r && git config user.email t@t && git config user.name t && printf 'v1\\n' > f && git add f && git commit -qm 1 && printf 'uncommitted edit\\n' > f",
    cmd: "cd r && git checkout -- f",
    expect: ok("restore 2 files; move 1 path back; remove 2 paths it created under ./r"),
  },
  {
    name: "git clean -fdx",
    setup:
      "git init -q r && cd r && git config user.email t@t && git config user.name t && printf 'v1\\n' > f && git add f && git commit -qm 1 && mkdir -p build/x && printf 'o\\n' > build/x/o && printf 'tmp\\n' > t.tmp",
    cmd: "cd r && git clean -qfdx",
    expect: ok("restore 2 files, 2 dirs under ./r"),
  },
  {
    name: "git reset --hard",
    setup:
      "git init -q r && cd r && git config user.email t@t && git config user.name t && printf 'v1\\n' > f && git add f && git commit -qm 1 && printf 'v2\\n' > f && printf 'n\\n' > g && git add g",
    cmd: "cd r && git reset -q --hard",
    expect: ok("restore 5 files; put back the old contents of 1 file; move 2 paths back; remove 5 paths it created under ./r"),
  },
  {
    name: "python3 shutil.rmtree",
    setup: tree,
    cmd: "python3 -c 'import shutil; shutil.rmtree(\"proj\")'",
    expect: ok("restore 4 files, 5 dirs, 2 symlinks under ./"),
  },
  {
    name: "python3 open w",
    setup: "printf 'old\\n' > f",
    cmd: 'python3 -c \'open("f","w").write("new\\n")\'',
    expect: ok("put back the old contents of 1 file"),
  },
  {
    name: "python3 atomic save",
    setup: "printf 'old\\n' > cfg; chmod 0600 cfg",
    cmd: 'python3 -c \'import os; open("cfg.tmp","w").write("new\\n"); os.replace("cfg.tmp","cfg")\'',
    expect: ok("restore 1 file; move 1 path back; remove 1 path it created under ./"),
  },
  {
    name: "node fs.rmSync recursive",
    setup: tree,
    cmd: 'node -e \'require("fs").rmSync("proj",{recursive:true})\'',
    expect: ok("restore 4 files, 5 dirs, 2 symlinks under ./"),
  },
  {
    name: "node fs.writeFileSync",
    setup: "printf 'old\\n' > f",
    cmd: 'node -e \'require("fs").writeFileSync("f","new\\n"); require("fs").writeFileSync("g","created")\'',
    expect: ok("put back the old contents of 1 file; remove 1 path it created under ./"),
  },
  {
    name: "sqlite3 UPDATE and DELETE",
    setup: "sqlite3 db 'create table t(a); insert into t values(1),(2),(3);'",
    cmd: "sqlite3 db 'update t set a=a*10; delete from t where a=20;'",
    needs: "sqlite3",
    expect: ok("restore 2 files; put back the old contents of 1 file; remove 2 paths it created under ./"),
  },
  {
    name: "odd names: spaces, newline, leading dash, non-UTF-8",
    setup: "printf 1 > 'a b'; printf 2 > \"$(printf 'new\\nline')\"; printf 3 > ./-dash; printf 4 > \"$(printf 'caf\\351')\"",
    cmd: "rm -- 'a b' \"$(printf 'new\\nline')\" -dash \"$(printf 'caf\\351')\"",
    expect: ok("restore 4 files under ./"),
  },
  { name: "hardlinks: rm one name", setup: "printf 'shared\\n' > a; ln a b", cmd: "rm a", expect: ok("restore 1 file") },
  {
    name: "hardlinks: rm both names",
    setup: "mkdir d; printf 'shared\\n' > d/a; ln d/a d/b; printf 'solo\\n' > d/c",
    cmd: "rm -r d",
    expect: ok("restore 3 files, 1 dir under ./"),
  },
  {
    name: "hardlinks: write through one name",
    setup: "printf 'shared\\n' > a; ln a b",
    cmd: "echo changed > b",
    expect: ok("put back the old contents of 1 file"),
  },
  { name: "ln and cp -l make hard links", setup: "printf 'data\\n' > a", cmd: "ln a b && cp -l a c", expect: ok("remove 2 paths it created under ./") },
  {
    name: "64 MiB file overwritten",
    setup: "head -c 67108864 /dev/urandom > big",
    cmd: "head -c 1000 /dev/zero > big",
    expect: ok("put back the old contents of 1 file"),
  },
  {
    name: "chmod, touch -d, mkfifo",
    setup: "printf x > f; touch -d '2001-01-01' f",
    cmd: "chmod 600 f && touch -d '2002-02-02' f && mkfifo pipe",
    expect: ok("put back the old contents of 1 file; remove 1 path it created; reset permissions or times of 2 paths under ./"),
  },
  {
    name: "rm of device nodes keeps their numbers (root)",
    setup: "mknod null c 1 3 && mknod loop b 7 200 && chmod 0620 null && touch -d '2003-03-03' null loop",
    cmd: "rm null loop",
    when: ['[ "$(id -u)" = 0 ]', "only root makes device nodes (mknod c/b)"],
    expect: ok("restore 2 special files under ./"),
  },
  // hard links and ACLs (the tree manifest says which names share an inode, and the POSIX ACLs)
  {
    name: "ln into another directory",
    setup: "mkdir a b; printf 'data\\n' > a/f; touch -d '2020-01-01' a b",
    cmd: "ln a/f b/f",
    expect: ok("remove 1 path it created"),
  },
  {
    name: "cp -al, then an edit through one name",
    setup: "mkdir src; printf 'data\\n' > src/f; printf 'two\\n' > src/g; touch -d '2020-01-01' src/f src/g src",
    cmd: "cp -al src dst && echo more >> dst/f",
    expect: ok("put back the old contents of 1 file; remove 3 paths it created; reset permissions or times of 5 paths under ./dst"),
  },
  {
    name: "rename(2) between two names of one inode does nothing, then an append",
    setup: "printf 'one inode\\n' > a; ln a b",
    cmd: 'python3 -c \'import os; os.rename("a", "b")\' && echo more >> b',
    expect: ok("put back the old contents of 1 file"),
  },
  {
    name: "setfacl -b: the ACL and the group bits it set",
    setup: "printf x > f; setfacl -m u:65534:rwx,g::r-- f; touch -d '2020-01-01' f",
    cmd: "setfacl -b f",
    needs: "setfacl",
    expect: ok("reset permissions or times of 2 paths under ./"),
  },
  {
    name: "setfacl -m on a plain file",
    setup: "printf x > f; chmod 0640 f; touch -d '2020-01-01' f",
    cmd: "setfacl -m u:65534:rw f",
    needs: "setfacl",
    expect: ok("reset permissions or times of 2 paths under ./"),
  },
  { name: "a command that changes nothing", setup: "printf x > f", cmd: "cat f > /dev/null; ls >/dev/null", expect: ok(null) },
  // owner and extended attributes (the tree manifest compares uid, gid and user.* xattrs)
  { name: "chown to the owner it already has", setup: "printf x > f", cmd: 'chown "$(id -u)" f', expect: ok("reset permissions or times of 1 path") },
  {
    name: "chown :group back to the primary group",
    setup: `printf x > f; touch -d '2020-02-02' f; chgrp ${otherGroup} f`,
    cmd: 'chown ":$(id -g)" f',
    when: [`[ -n "${otherGroup}" ]`, "the user has no secondary group"],
    expect: ok("reset permissions or times of 1 path"),
  },
  {
    name: "chgrp -R to another group of the user's",
    setup: tree,
    cmd: `chgrp -R ${otherGroup} proj`,
    when: [`[ -n "${otherGroup}" ]`, "the user has no secondary group"],
    expect: ok("reset permissions or times of 11 paths under ./"),
  },
  {
    name: "chown -R to another user (root)",
    setup: tree,
    cmd: "chown -R 65534:65534 proj",
    when: ['[ "$(id -u)" = 0 ]', "only root gives files away"],
    expect: ok("reset permissions or times of 11 paths under ./"),
  },
  {
    name: "setfattr -n user.x: a new attribute",
    setup: "printf x > f; mkdir d",
    cmd: "setfattr -n user.x -v 1 f && setfattr -n user.dir -v 'on a dir' d",
    needs: "setfattr",
    expect: ok("reset permissions or times of 2 paths under ./"),
  },
  {
    name: "setfattr: change one attribute, remove another (-x)",
    setup: "printf x > f; setfattr -n user.x -v old f; setfattr -n user.y -v 0sAAEC f",
    cmd: "setfattr -n user.x -v new f && setfattr -x user.y f",
    needs: "setfattr",
    expect: ok("reset permissions or times of 2 paths under ./"),
  },
  {
    name: "xattrs of a removed file come back with it",
    setup: "mkdir d; printf x > d/f; setfattr -n user.tag -v kept d/f",
    cmd: "rm -r d",
    needs: "setfattr",
    expect: ok("restore 1 file, 1 dir under ./"),
  },
  // a conflict: the undo names it, changes nothing and exits 3
  {
    name: "rm -f file, then the name reused: conflict",
    setup: "printf 'precious\\n' > f",
    cmd: "rm -f f",
    later: "printf 'new\\n' > f",
    expect: { exit: 3, conflict: true, summary: "nothing to change" },
  },
  // the planner looks below the file for the dir's old children: ENOTDIR is "absent" (it was an
  // internal error with exit 5 before 7676629)
  {
    name: "rm -rf dir, then a file at its name: conflict",
    setup: "mkdir d; printf 'x\\n' > d/f",
    cmd: "rm -rf d",
    later: "printf 'file\\n' > d",
    expect: { exit: 3, conflict: true, summary: "nothing to change" },
  },
];

const have = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const holds = (cond: string) => spawnSync("bash", ["-c", cond]).status === 0;

/** Why case c cannot run here (a tool it needs is not installed, a condition does not hold), or false. */
export function skipOf(c: Case): string | false {
  return c.needs && !have(c.needs) ? `${c.needs} is not installed` : c.when && !holds(c.when[0]) ? c.when[1] : false;
}

/** c in s: its tree built, its command run under `shit run` (exit 0), its settle waited, its later change made. */
export async function runCase(s: Sandbox, c: Case): Promise<void> {
  s.sh(c.setup);
  const run = s.shit(["run", "--", ...(c.shell ?? ["bash", "-c"]), c.cmd]);
  assert.equal(run.status, 0, `the command failed under shit run:\n${out(run)}`);
  if (c.settle) await new Promise((r) => setTimeout(r, c.settle));
  if (c.later) s.sh(c.later);
}

/** A plan, its rows or its records as text to compare two ways of making them: blobs as hex,
 *  bigints, maps and sets as lists (the same bytes in a Buffer or a Uint8Array are the same text);
 *  with `sorted`, plain objects' fields in name order (a step read back from a spilled log has its
 *  fields in one order, a step made in another). */
export function asText(v: unknown, sorted = false): string {
  return JSON.stringify(v, (_k, x) =>
    typeof x === "bigint"
      ? `${x}n`
      : x instanceof Uint8Array
        ? `hex:${Buffer.from(x).toString("hex")}`
        : x instanceof Map
          ? { map: [...x.entries()] }
          : x instanceof Set
            ? { set: [...x] }
            : x?.type === "Buffer" && Array.isArray(x.data)
              ? `hex:${Buffer.from(x.data).toString("hex")}`
              : sorted && x && typeof x === "object" && Object.getPrototypeOf(x) === Object.prototype
                ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
                : x,
  );
}

/** Asserts two keyed texts are the same, keys and values: a difference is shown around where it
 *  starts, each side named (`names`: how `got` and `want` were made). */
export function assertSameTexts(want: Map<string, string>, got: Map<string, string>, names: [string, string]): void {
  assert.deepEqual([...got.keys()], [...want.keys()]);
  for (const [k, v] of want) {
    const w = got.get(k)!;
    let i = 0;
    while (i < v.length && v[i] === w[i]) i++;
    assert.ok(
      v === w,
      `${k}: differs at ${i}: ${names[0]} ${JSON.stringify(w.slice(Math.max(0, i - 100), i + 100))}, ${names[1]} ${JSON.stringify(v.slice(Math.max(0, i - 100), i + 100))}`,
    );
  }
}

/** A plan file's records as text (asText), less the time and pid of the process that wrote each. */
export const planRecords = (file: string, sorted = false) =>
  asText(
    readRecords(readFileSync(file)).records.map(({ timeNs: _, pid: __, ...r }) => r),
    sorted,
  );

/** The sandbox's spools ingested into its index, then f asked of each command, newest first, with
 *  the index open. */
export function eachCommand(s: Sandbox, f: (ix: Index, paths: StatePaths, c: CommandRow) => void): void {
  const paths = statePaths(s.state);
  const ix = new Index(paths.index);
  try {
    ingest(paths, ix);
    for (const c of commands.newestFirst(ix, null, -1)) f(ix, paths, c);
  } finally {
    ix.close();
  }
}
