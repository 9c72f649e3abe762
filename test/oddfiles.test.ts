// Odd files (issue 12, items 12-17): what an inode kept whole guarantees, files still open for
// writing when they are deleted, and the like. Each test runs the real CLI in a sandbox.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, constants, existsSync, openSync, readFileSync, readSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { sameTree, sandbox, out, shitBin, stagedFiles } from "./helpers.ts";

/** The one file a command kept in staging. */
function stagedFile(state: string): string {
  const files = stagedFiles(join(state, "staging"));
  assert.equal(files.length, 1, files.join("\n"));
  return files[0];
}

test("an inode kept whole whose bytes changed with size and mtime as they were is refused, naming the file; --force says what it restores", (t) => {
  const s = sandbox(t);
  s.sh("printf 'precious\\n' > f; touch -d '2021-05-05' f");
  const run = s.shit(["run", "--", "rm", "f"]);
  assert.equal(run.status, 0, out(run));
  s.shit(["list"]); // ingest: the keep is noted
  const staged = stagedFile(s.state);
  // the same number of bytes written over it, then its mtime put back: only its ctime tells
  s.sh(`printf 'PRECIOUS\\n' | dd of='${staged}' conv=notrunc status=none; touch -d '2021-05-05' '${staged}'`);

  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 6, `a changed pre-image is refused:\n${out(undo)}`);
  assert.match(undo.stderr, /\/f was changed after it was kept: its inode was changed/, out(undo));
  assert.match(undo.stderr, /--force/, out(undo));
  assert.equal(s.sh("ls -A").stdout, "", "nothing was restored");

  const forced = s.shit(["undo", "--yes", "--force"]);
  assert.equal(forced.status, 0, out(forced));
  assert.match(forced.stderr, /\/f: restored as it is now, not as it was kept/, out(forced));
  assert.equal(readFileSync(join(s.work, "f"), "utf8"), "PRECIOUS\n");
});

/** The same number of bytes written over a staged file, its times put back to the ns: only its
 *  ctime tells. */
const touchedInPlace = (s: ReturnType<typeof sandbox>, staged: string) =>
  s.sh(
    `touch -r '${staged}' '${s.dir}/ref'; printf '%s' '${"X".repeat(statSync(staged).size)}' | dd of='${staged}' conv=notrunc status=none; touch -r '${s.dir}/ref' '${staged}'`,
  );

test("with --yes an inode moved back whole is checked by shit-apply, not by an lstat in the CLI: one changed since is refused before any step, the plan made again names it (exit 6), nothing changes; a dry run names it with no apply", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d && for i in 1 2 3; do echo keep $i > d/f$i; done");
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  s.shit(["list"]); // ingested: the keeps are noted
  const staged = stagedFiles(join(s.state, "staging")).sort();
  assert.equal(staged.length, 3, staged.join("\n"));
  touchedInPlace(s, staged[1]);
  const gone = s.tree();

  const dry = s.shit(["undo", "--dry-run"], { env: { ...s.env, SHIT_TIMES: join(s.dir, "dry") } });
  assert.match(dry.stdout + dry.stderr, /\/d\/f2 was changed after it was kept: its inode was changed \(its ctime moved\)/, out(dry));
  assert.doesNotMatch(readFileSync(join(s.dir, "dry"), "utf8"), /^shit-apply /m, "a dry run looks at each file itself");

  const undo = s.shit(["undo", "--yes"], { env: { ...s.env, SHIT_TIMES: join(s.dir, "yes") } });
  assert.equal(undo.status, 6, out(undo));
  const phases = readFileSync(join(s.dir, "yes"), "utf8");
  // planned with the rows only, refused by shit-apply (exit 5, nothing changed), planned again looking at each file
  assert.match(phases, /^plan [^]*^shit-apply [^]*^plan /m, phases);
  assert.match(undo.stderr, /a kept pre-image is not as it was kept \(nothing was changed\); checking each one/, out(undo));
  assert.match(undo.stderr, /cannot undo: [^\n]*\/d\/f2 was changed after it was kept: its inode was changed \(its ctime moved\)/, out(undo));
  assert.match(undo.stderr, /nothing changed: a kept pre-image is gone/, out(undo));
  assert.equal(sameTree(gone, s.tree()), "", "nothing changed");

  // the refused undo is a command that changed nothing: the next undo (forced) and its redo go on as ever
  const forced = s.shit(["undo", "--yes", "--force"]);
  assert.equal(forced.status, 0, out(forced));
  assert.equal(readFileSync(join(s.work, "d", "f1"), "utf8"), "keep 1\n");
  assert.equal(readFileSync(join(s.work, "d", "f2"), "utf8"), "XXXXXXX");
  const redo = s.shit(["redo", "--yes"]);
  assert.equal(redo.status, 0, out(redo));
  assert.equal(sameTree(gone, s.tree()), "", "redone");
});

test("with --yes, a kept inode changed in place after the plan was made and before shit-apply runs is refused and named, exit 6, nothing changed", async (t) => {
  const s = sandbox(t);
  s.sh("mkdir d && for i in 1 2 3; do echo keep $i > d/f$i; done");
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  s.shit(["list"]);
  const staged = stagedFiles(join(s.state, "staging")).sort();
  const gone = s.tree();
  // SHIT_TIMES as a FIFO: each phase's line opens it, so with no reader the undo waits there;
  // read up to the ingest's line and closed, the undo plans, then waits to write "plan"
  const fifo = join(s.dir, "times");
  s.sh(`mkfifo '${fifo}'`);
  const child = spawn(shitBin, ["undo", "--yes"], { cwd: s.work, env: { ...s.env, SHIT_TIMES: fifo }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b) => (stderr += b));
  child.stdout.resume();
  const ended = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  let lines = "";
  const drain = async (until: (l: string) => boolean) => {
    const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const buf = Buffer.alloc(4096);
    try {
      for (let i = 0; i < 3000 && !until(lines); i++) {
        let n = 0;
        try {
          n = readSync(fd, buf);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
        }
        if (n > 0) lines += buf.toString("latin1", 0, n);
        else await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      closeSync(fd);
    }
  };
  await drain((l) => /^ingest /m.test(l));
  assert.match(lines, /^ingest /m, lines);
  await new Promise((r) => setTimeout(r, 300)); // it plans (a few ms), then waits to say so
  touchedInPlace(s, staged[1]);
  let code: number | null = null;
  void ended.then((c) => (code = c));
  await drain(() => code !== null);
  assert.equal(await ended, 6, `${lines}\n${stderr}`);
  assert.match(lines, /^shit-apply /m, "refused by shit-apply, after the plan was made");
  assert.match(stderr, /\/d\/f2 was changed after it was kept: its inode was changed \(its ctime moved\)/, stderr);
  assert.equal(sameTree(gone, s.tree()), "", "nothing changed");
  assert.ok(!existsSync(join(s.work, "d")));
});

test("a file still open for writing when it was deleted: undo names it and stops; --force restores it with what was written since", (t) => {
  const s = sandbox(t);
  s.sh("printf 'line 1\\n' > log");
  const fd = openSync(join(s.work, "log"), "a"); // a writer that keeps it open, like a daemon's log
  t.after(() => closeSync(fd));
  const run = s.shit(["run", "--", "rm", "log"]);
  assert.equal(run.status, 0, out(run));
  writeSync(fd, "line 2, written after the rm\n");

  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 6, out(undo));
  assert.match(undo.stderr, /\/log was changed after it was kept: its size is 36 bytes now, 7 when it was kept/, out(undo));
  assert.match(undo.stderr, /`--force` restores it as it is now/, out(undo));

  const forced = s.shit(["undo", "--yes", "--force"]);
  assert.equal(forced.status, 0, out(forced));
  assert.match(forced.stderr, /\/log: restored as it is now/, out(forced));
  assert.equal(readFileSync(join(s.work, "log"), "utf8"), "line 1\nline 2, written after the rm\n");

  // the forced undo is an ordinary command: redo and undo again need no force
  const redo = s.shit(["redo", "--yes"]);
  assert.equal(redo.status, 0, out(redo));
  assert.equal(s.sh("ls -A").stdout, "");
  const again = s.shit(["undo", "--yes"]);
  assert.equal(again.status, 0, out(again));
  // the writer's descriptor reaches the restored file: the name and the inode are one again
  writeSync(fd, "line 3\n");
  assert.equal(readFileSync(join(s.work, "log"), "utf8"), "line 1\nline 2, written after the rm\nline 3\n");
});

test("paths past PATH_MAX removed under capture are named, and a file's bytes are still kept", (t) => {
  const s = sandbox(t);
  // 24 levels of 200-byte names: the leaf's path is about 4.9 KB, past PATH_MAX (4096)
  const seg = "d".repeat(199);
  s.sh(`cd top 2>/dev/null || mkdir top; cd top; for i in $(seq 1 24); do mkdir ${seg}$((i % 10)); cd ${seg}$((i % 10)); done; printf 'deep bytes\\n' > leaf`);
  const rel = ["top", ...Array.from({ length: 24 }, (_, i) => seg + ((i + 1) % 10)), "leaf"].join("/");
  assert.ok(rel.length > 4096);
  const run = s.shit(["run", "--", "rm", "-rf", "top"]);
  assert.equal(run.status, 0, out(run));

  const undo = s.shit(["undo", "--dry-run"]);
  assert.doesNotMatch(undo.stdout + undo.stderr, /\?: not captured/, out(undo));
  // the file and each directory too deep for an undo are named in full
  const lines = (undo.stdout + undo.stderr).split("\n").filter((l) => l.startsWith("cannot undo: "));
  const leaf = lines.find((l) => l.includes(`${rel}: not captured`));
  assert.ok(leaf, `the leaf is named:\n${lines.map((l) => l.slice(0, 60) + "…" + l.slice(-160)).join("\n")}`);
  const m = / its bytes are kept in the state dir as (staging\/\S+)$/.exec(leaf!);
  assert.ok(m, leaf!.slice(-200));
  assert.equal(readFileSync(join(s.state, m[1]), "utf8"), "deep bytes\n");
  assert.ok(
    lines.some((l) => l.startsWith(`cannot undo: ${rel.slice(0, -"/leaf".length)}: not captured`)),
    "the deepest directory is named",
  );
});

/** Bytes a file has allocated on disk (st_blocks). */
const allocated = (p: string) => Number(statSync(p, { bigint: true }).blocks) * 512;
const sha = (s: ReturnType<typeof sandbox>, f: string) => s.sh(`sha256sum '${f}'`).stdout.split(" ")[0];
const stagedBytes = (s: ReturnType<typeof sandbox>) => Number(s.sh(`du -s -B1 '${s.state}/staging' | cut -f1`).stdout);

for (const [what, cmd] of [
  ["truncate -s 0 (a kept tail)", "truncate -s 0 sparse"],
  [": > (a kept copy)", ": > sparse"],
]) {
  test(`a sparse file cut by ${what} is kept and restored sparse`, (t) => {
    const s = sandbox(t);
    // 1 GiB with a few bytes of data at its start, middle and end: almost all hole
    s.sh(
      "truncate -s 1G sparse && printf head | dd of=sparse conv=notrunc status=none && " +
        "printf mid | dd of=sparse bs=1 seek=536870912 conv=notrunc status=none && " +
        "printf tail | dd of=sparse bs=1 seek=1073741820 conv=notrunc status=none",
    );
    const file = join(s.work, "sparse");
    const before = sha(s, file);
    assert.ok(allocated(file) < 1 << 20);
    const run = s.shit(["run", "--", "bash", "-c", cmd]);
    assert.equal(run.status, 0, out(run));
    assert.ok(stagedBytes(s) < 1 << 20, `the pre-image takes ${stagedBytes(s)} bytes in staging, not its holes`);
    const undo = s.shit(["undo", "--yes"]);
    assert.equal(undo.status, 0, out(undo));
    assert.equal(statSync(file).size, 1 << 30);
    assert.equal(sha(s, file), before);
    assert.ok(allocated(file) < 1 << 20, `the restored file has ${allocated(file)} bytes allocated: its holes were filled`);
  });
}
