// Reading what a command did: `shit show` names the net effect per path (not the system calls,
// which --raw keeps), folds big created/deleted trees (--all unfolds them), prints content diffs
// (-p, `shit diff`, `shit undo -p`); color, the pager and the terminal's width as git does them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { root, sandbox, shitBin, out, statOf, type Sandbox } from "./helpers.ts";
import { Op, Tag, encodeRecord, encodeStat } from "../dist/spool/records.js";
import { Index } from "../dist/index/db.js";
import * as views from "../dist/index/views.js";
import * as events from "../dist/index/events.js";

const ESC = /\x1b\[/;
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

/** The lines of show's path listing: those after the header's blank line, up to the next blank one. */
function listing(stdout: string): string[] {
  const parts = stdout.split("\n\n");
  return parts.length > 1 ? parts[1].split("\n").filter(Boolean) : [];
}

function sed3(t: Parameters<typeof sandbox>[0]): Sandbox {
  const s = sandbox(t);
  s.sh("mkdir src; for i in 1 2 3; do printf 'one\\ntwo\\nthree\\nfour\\n' > src/f$i.txt; done");
  const r = s.shit(["run", "--", "sed", "-i", "s/two/TWO/", "src/f1.txt", "src/f2.txt", "src/f3.txt"]);
  assert.equal(r.status, 0, out(r));
  return s;
}

/** Runs a shell line with stdout on a pseudo-terminal (script(1)); its output and exit code. */
function onTty(s: Sandbox, line: string, env: NodeJS.ProcessEnv = {}) {
  return spawnSync("script", ["-qec", line, "/dev/null"], { cwd: s.work, env: { ...s.env, ...env }, encoding: "utf8", timeout: 60000 });
}

test("show of a sed -i over 3 files: one modified line each, no temp files; --raw keeps the calls", (t) => {
  const s = sed3(t);
  const r = s.shit(["show"]);
  assert.equal(r.status, 0, out(r));
  assert.deepEqual(listing(r.stdout), ["  modified  src/f1.txt", "  modified  src/f2.txt", "  modified  src/f3.txt"], r.stdout);
  assert.doesNotMatch(r.stdout, /sed\w{6}/, "no temp file names");
  const raw = s.shit(["show", "--raw"]).stdout;
  assert.equal(raw.match(/^ {2}rename +src\/sed\w+ → src\/f\d\.txt \(replacing it\)/gm)?.length, 3, raw);
  assert.equal(raw.match(/^ {2}create +src\/sed\w+/gm)?.length, 3, raw);
});

test("show -p and shit diff of a sed -i: exactly the changed lines; a path narrows it", (t) => {
  const s = sed3(t);
  const r = s.shit(["show", "-p"]);
  assert.equal(r.status, 0, out(r));
  const changed = (text: string) => text.split("\n").filter((l) => /^[-+]/.test(l) && !/^(---|\+\+\+) /.test(l));
  assert.deepEqual(changed(r.stdout), ["-two", "+TWO", "-two", "+TWO", "-two", "+TWO"], r.stdout);
  assert.match(r.stdout, /^--- a\/src\/f1\.txt\n\+\+\+ b\/src\/f1\.txt\n@@ -1,4 \+1,4 @@\n one\n-two\n\+TWO\n three\n four$/m);
  const id = JSON.parse(s.shit(["show", "--json"]).stdout).id as string;
  const d = s.shit(["diff", id.slice(0, 8), "src/f2.txt"]);
  assert.equal(d.status, 0, out(d));
  assert.deepEqual(changed(d.stdout), ["-two", "+TWO"], d.stdout);
  assert.match(d.stdout, /^diff src\/f2\.txt$/m);
  assert.doesNotMatch(d.stdout, /f1|f3/);
  // changed again since: what the sed left comes from what the next command kept
  assert.equal(s.shit(["run", "--", "sed", "-i", "s/one/ONE/", "src/f2.txt"]).status, 0);
  assert.deepEqual(changed(s.shit(["diff", id.slice(0, 8), "src/f2.txt"]).stdout), ["-two", "+TWO"]);
});

test("show of an rm -rf of a 200-file tree: one line with counts; --all lists every path", (t) => {
  const s = sandbox(t);
  s.sh(
    "mkdir -p src; for d in 1 2 3 4 5 6 7 8; do mkdir -p src/d$d; done; mkdir src/d1/deep; for i in $(seq 1 200); do echo $i > src/d$((i % 8 + 1))/f$i; done",
  );
  assert.equal(s.shit(["run", "--", "rm", "-rf", "src"]).status, 0);
  const r = s.shit(["show"]);
  assert.deepEqual(listing(r.stdout), ["  deleted   src/  (200 files, 9 dirs)"], r.stdout);
  const all = listing(s.shit(["show", "--all"]).stdout);
  assert.equal(all.length, 210, "the dir, its 9 dirs and 200 files");
  assert.ok(all.includes("  deleted   src/d3/f2") && all.includes("  deleted   src/d1/deep/"), all.slice(0, 5).join("\n"));
  // the undo's plan reads the same way
  const dry = s.shit(["undo", "--dry-run"]);
  assert.match(dry.stdout, /^ {2}restore +src\/ {2}\(200 files, 9 dirs\)$/m, out(dry));
});

test("a binary file's diff is its sizes; created and deleted text files are all added / all removed", (t) => {
  const s = sandbox(t);
  s.sh("printf 'a\\0b' > bin; printf 'gone\\n' > old");
  assert.equal(s.shit(["run", "--", "sh", "-c", ": > bin; rm old; printf 'new\\n' > made"]).status, 0);
  const r = s.shit(["show", "-p"]);
  assert.deepEqual(listing(r.stdout), ["  modified  bin", "  created   made", "  deleted   old"], r.stdout);
  assert.match(r.stdout, /^diff bin\nbinary, 3 B → 0 B$/m, r.stdout);
  assert.match(r.stdout, /^--- \/dev\/null\n\+\+\+ b\/made\n@@ -1,0 \+1,1 @@\n\+new$/m, r.stdout);
  assert.match(r.stdout, /^--- a\/old\n\+\+\+ \/dev\/null\n@@ -1,1 \+1,0 @@\n-gone$/m, r.stdout);
});

test("undo -p shows what the undo will change (present → restored); redo -p the way back", (t) => {
  const s = sed3(t);
  const r = s.shit(["undo", "--dry-run", "-p"]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stdout, /^ {2}revert +src\/f1\.txt/m, "the plan reads as what it does to each path");
  assert.doesNotMatch(r.stdout, /sed\w{6}/);
  assert.match(r.stdout, /^--- a\/src\/f3\.txt\n\+\+\+ b\/src\/f3\.txt\n@@ -1,4 \+1,4 @@\n one\n-TWO\n\+two\n three\n four$/m, r.stdout);
  assert.equal(s.shit(["undo", "--yes"]).status, 0);
  assert.equal(readFileSync(join(s.work, "src/f1.txt"), "utf8"), "one\ntwo\nthree\nfour\n");
  const redo = s.shit(["redo", "--dry-run", "-p"]);
  assert.equal(redo.status, 0, out(redo));
  assert.deepEqual(
    redo.stdout.split("\n").filter((l) => /^[-+][^-+]/.test(l)),
    ["-two", "+TWO", "-two", "+TWO", "-two", "+TWO"],
    redo.stdout,
  );
});

test("color: none when piped, NO_COLOR or --color=never; --color=always has it", (t) => {
  const s = sed3(t);
  assert.doesNotMatch(s.shit(["show", "-p"]).stdout, ESC, "piped: auto is off");
  assert.match(s.shit(["show", "-p", "--color=always"]).stdout, ESC);
  assert.match(s.shit(["--color=always", "list"]).stdout, ESC);
  assert.doesNotMatch(onTty(s, `${shitBin} --no-pager show -p`, { NO_COLOR: "1" }).stdout, ESC, "NO_COLOR on a terminal");
  assert.doesNotMatch(onTty(s, `${shitBin} --no-pager show -p --color=never`).stdout, ESC, "--color=never on a terminal");
  assert.match(onTty(s, `${shitBin} --no-pager show -p`).stdout, ESC, "a terminal: auto is on");
  const bad = s.shit(["show", "--color=sometimes"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--color.*sometimes/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
});

test("the pager: used when stdout is a terminal (SHIT_PAGER, else PAGER), not when piped or --no-pager", (t) => {
  const s = sed3(t);
  const file = join(s.dir, "paged");
  const r = onTty(s, `${shitBin} show`, { SHIT_PAGER: `cat > ${file}`, PAGER: "false" });
  assert.equal(r.status, 0, out(r));
  assert.match(plain(readFileSync(file, "utf8")), /modified {2}src\/f1\.txt/);
  const viaPager = join(s.dir, "paged2");
  onTty(s, `${shitBin} list`, { SHIT_PAGER: undefined, PAGER: `cat > ${viaPager}` });
  assert.match(readFileSync(viaPager, "utf8"), /sed -i/);
  const piped = join(s.dir, "never");
  assert.match(s.shit(["show"], { env: { ...s.env, SHIT_PAGER: `cat > ${piped}` } }).stdout, /modified/);
  assert.ok(!existsSync(piped), "piped: no pager");
  onTty(s, `${shitBin} --no-pager show`, { SHIT_PAGER: `cat > ${piped}` });
  assert.ok(!existsSync(piped), "--no-pager: no pager");
});

test("a pager that quits early ends shit quietly with 141, as a closed pipe does", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d; cd d; seq -f 'a-longer-file-name-%05g.txt' 1 6000 | xargs touch");
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  // --raw: 6000 lines of 70 bytes, far more than a pipe holds (64 KiB) or head reads at once
  const r = onTty(s, `${shitBin} show --raw 2>err; echo "EXIT $?"; cat err`, { SHIT_PAGER: "head -c 1 >/dev/null" });
  assert.match(r.stdout, /EXIT 141\r?\n$/, out(r));
});

test("the net view of a large command streams to its pager: all of it when read, 141 when the pager quits early, stdout when none is there", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d; cd d; seq -f 'a-longer-file-name-%05g.txt' 1 6000 | xargs touch");
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  // --all: 6000 lines, written as they are made while the pager reads
  const file = join(s.dir, "paged");
  const whole = onTty(s, `${shitBin} show --all; echo "EXIT $?"`, { SHIT_PAGER: `cat > ${file}` });
  assert.match(whole.stdout, /EXIT 0\r?\n$/, out(whole));
  const lines = readFileSync(file, "utf8").split("\n");
  assert.equal(lines.filter((l) => /deleted +d\/a-longer-file-name-\d{5}\.txt$/.test(plain(l))).length, 6000);
  assert.match(plain(lines.at(-2)!), /a-longer-file-name-06000\.txt$/, "in path order, to the last");
  const quit = onTty(s, `${shitBin} show --all 2>err; echo "EXIT $?"; cat err`, { SHIT_PAGER: "head -c 1 >/dev/null" });
  assert.match(quit.stdout, /EXIT 141\r?\n$/, out(quit));
  const none = onTty(s, `${shitBin} show --all; echo "EXIT $?"`, { SHIT_PAGER: "no-such-pager-here" });
  assert.match(none.stdout, /a-longer-file-name-06000\.txt\r?\nEXIT 0\r?\n$/, out(none));
});

// A pager that quits before taking everything, noticed by its exit rather than by a write that
// fails: Node destroys a child's stdin when it reaps the child, so when the exit is seen first (the
// verb busy making its next lines while the pipe held all it had sent) no write ever fails. Made
// certain here: the pager (`true`) exits while this process is busy, before any write is pending.
test("a pager that exits before the verb has sent everything ends it with 141, even when its exit is seen before any write fails", (t) => {
  const s = sandbox(t);
  const script = join(s.dir, "pager-exit-first.mjs");
  writeFileSync(
    script,
    `import { paged, setOutput } from ${JSON.stringify(join(root, "dist", "cli", "output.js"))};
setOutput({});
const p = paged();
p.write("first\\n");
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 800); // the pager exits meanwhile
for (let i = 0; i < 5; i++) await new Promise((go) => setTimeout(go, 20)); // its exit is reaped
p.write("more\\n");
p.end();
`,
  );
  const r = onTty(s, `${process.execPath} ${script}; echo "EXIT $?"`, { SHIT_PAGER: "true" });
  assert.match(r.stdout, /EXIT 141\r?\n$/, out(r));
});

/** A command's spool as capture writes it: BEGIN, the events, END (docs/SPOOL.md). */
function writeSpool(s: Sandbox, id: string, argv: string[], evs: Array<[number, number, Array<[number, Buffer]>]>): void {
  const recs = [
    encodeRecord(Op.BEGIN, 0, [
      [Tag.ARGV, Buffer.from(argv.map((a) => a + "\0").join(""))],
      [Tag.CWD, Buffer.from(s.work)],
      [Tag.KIND, Buffer.from("run")],
    ]),
  ];
  for (const [op, flags, fields] of evs) recs.push(encodeRecord(op, flags, fields));
  recs.push(encodeRecord(Op.END, 0, []));
  mkdirSync(join(s.state, "spool"), { recursive: true, mode: 0o700 });
  writeFileSync(join(s.state, "spool", `${id}.spool`), Buffer.concat(recs), { mode: 0o600 });
}

test("show of a large command reads the view stored at ingest, the same lines as its events fold to, while no record written before its call is in doubt", (t) => {
  const s = sandbox(t);
  s.sh("printf x > kept.txt");
  const pre = encodeStat(statOf(join(s.work, "kept.txt")));
  const id = "5eed5eed5eed0001";
  const evs: Array<[number, number, Array<[number, Buffer]>]> = [[Op.MKDIR, 0o755, [[Tag.PATH, Buffer.from(join(s.work, "made"))]]]];
  for (let i = 0; i < 1100; i++) evs.push([Op.OPEN, 0o1101, [[Tag.PATH, Buffer.from(join(s.work, "made", `f${i}`))]]]);
  // an unlink recorded before its call, which a kill kept from happening: kept.txt is still the
  // very file the record names (same inode and ctime), so show does not say it was deleted
  const unlink = (p: string): [number, number, Array<[number, Buffer]>] => [
    Op.UNLINK,
    0,
    [
      [Tag.PATH, Buffer.from(p)],
      [Tag.PRE, pre],
    ],
  ];
  evs.push(unlink(join(s.work, "kept.txt")));
  evs.push(unlink(join(s.work, "gone", "x"))); // one in a directory that is gone: its call happened
  writeSpool(s, id, ["sh", "-c", "mkdir made; touch made/f*; rm kept.txt gone/x"], evs);
  assert.equal(s.shit(["list"]).status, 0); // ingests it
  const ix = new Index(join(s.state, "index.sqlite"));
  t.after(() => ix.close());
  assert.ok(views.part(ix, id, -1) !== null, "its view is stored at ingest");
  const folded = (args: string[]) => {
    const r = s.shit(["show", ...args]);
    assert.equal(r.status, 0, out(r));
    return r.stdout.replace(/^when .*\n/m, ""); // "(1s ago)"
  };
  // `show ID /` folds the events at show time (a path narrows it, here to everything)
  assert.deepEqual(listing(folded([id])), ["  deleted   gone/x", "  created   made/  (1100 files)"], "not kept.txt: its record's call did not happen");
  assert.equal(folded([id]), folded([id, "/"]));
  rmSync(join(s.work, "kept.txt")); // as if the call had been made
  assert.deepEqual(listing(folded([id])), ["  deleted   gone/x", "  deleted   kept.txt", "  created   made/  (1100 files)"]);
  assert.equal(folded([id]), folded([id, "/"]));
  // what show prints is what is stored, not folded again from the events
  views.put(ix, id, 0, JSON.stringify([{ change: { path: join(s.work, "stored"), effect: "created", type: null } }]));
  assert.deepEqual(listing(folded([id])), ["  created   stored"]);
  // an event changed in place (a VOID record: the unlink of gone/x failed) drops the view
  events.voidLatest(ix, id, { op: Op.UNLINK, pid: process.pid, path: Buffer.from(join(s.work, "gone", "x")), err: 2 });
  assert.equal(views.part(ix, id, -1), null, "a voided event drops it");
  assert.deepEqual(listing(folded([id])), ["  deleted   kept.txt", "  created   made/  (1100 files)"]);
  assert.equal(s.shit(["forget", id]).status, 0);
  assert.equal(views.part(ix, id, -1), null, "forget drops it");
});

test("a stored view whose records' names are mostly there again (rm -rf, then made anew) is not looked at name by name: show folds the events", (t) => {
  const s = sandbox(t);
  s.sh("mkdir again; for i in $(seq 0 299); do printf x > again/f$i; done");
  const st = lstatSync(join(s.work, "again", "f0"), { bigint: true });
  const pre = encodeStat({
    dev: st.dev,
    ino: st.ino + 1000000n,
    mode: Number(st.mode),
    uid: 0,
    gid: 0,
    nlink: 1,
    size: 1n,
    mtimeNs: 0n,
    ctimeNs: 0n,
    atimeNs: 0n,
  });
  const id = "5eed5eed5eed0002";
  const evs: Array<[number, number, Array<[number, Buffer]>]> = [];
  for (let i = 0; i < 1000; i++) evs.push([Op.OPEN, 0o1101, [[Tag.PATH, Buffer.from(join(s.work, "made", `f${i}`))]]]);
  for (let i = 0; i < 300; i++)
    evs.push([
      Op.UNLINK,
      0,
      [
        [Tag.PATH, Buffer.from(join(s.work, "again", `f${i}`))],
        [Tag.PRE, pre],
      ],
    ]);
  writeSpool(s, id, ["rm", "-rf", "again"], evs);
  assert.equal(s.shit(["list"]).status, 0);
  const ix = new Index(join(s.state, "index.sqlite"));
  t.after(() => ix.close());
  views.put(ix, id, 0, JSON.stringify([{ change: { path: join(s.work, "stored"), effect: "created", type: null } }])); // tells which was read
  const lines = () => listing(s.shit(["show", id]).stdout);
  assert.equal(lines().length, 1300, "300 names there again: folded from the events (other files, so every unlink happened)");
  s.sh("rm again/f1??"); // 200 left: each looked at
  assert.equal(lines()[0], "  created   stored");
});

// Starts argv under a pseudo-terminal of 24 rows, types Ctrl-C once output shows, then q; prints
// all it read and "EXIT <code>".
const PAGE_THEN_KEYS = `
import os, pty, sys, time, select, fcntl, termios, struct
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    os.execvp(sys.argv[1], sys.argv[1:])
buf, end, keys = b"", time.time() + 30, [b"\\x03", b"q"]
while time.time() < end:
    if keys and len(buf) > 200:
        time.sleep(0.5)
        os.write(fd, keys.pop(0))
    if select.select([fd], [], [], 0.2)[0]:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        buf += d
_, st = os.waitpid(pid, 0)
sys.stdout.write(buf.decode(errors="replace") + "\\nEXIT %d\\n" % os.waitstatus_to_exitcode(st))
`;

test("Ctrl-C while paging in less, then q: shit ends cleanly, no trace", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d; cd d; seq 1 300 | xargs touch");
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  const env: NodeJS.ProcessEnv = { ...s.env, TERM: "xterm", LESS: "", SHIT_PAGER: "less" };
  delete env.PAGER;
  const r = spawnSync("python3", ["-c", PAGE_THEN_KEYS, shitBin, "show", "--all"], { cwd: s.work, env, encoding: "utf8", timeout: 60000 });
  assert.match(r.stdout, /\nEXIT (0|141)\n$/, out(r));
  assert.doesNotMatch(r.stdout, /\n\s+at |internal error/, "a stack trace");
});

test("list: the COMMAND column is cut to the terminal's width ($COLUMNS), whole when piped; show's time is local", (t) => {
  const s = sandbox(t);
  const long = "x".repeat(150);
  assert.equal(s.shit(["run", "--", "sh", "-c", `echo ${long} > f`]).status, 0);
  const r = onTty(s, `${shitBin} --no-pager list`, { COLUMNS: "70" });
  const lines = plain(r.stdout).split(/\r?\n/).filter(Boolean);
  assert.equal(lines.length, 2, out(r));
  for (const l of lines) assert.ok([...l].length <= 70, `longer than 70: ${l}`);
  assert.match(lines[1], /…$/);
  assert.ok(s.shit(["list"], { env: { ...s.env, COLUMNS: "70" } }).stdout.includes(long), "piped: the whole line");
  const when = s.shit(["show"], { env: { ...s.env, TZ: "Asia/Kolkata" } }).stdout;
  assert.match(when, /^when {4}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0530 \(/m, when);
});
