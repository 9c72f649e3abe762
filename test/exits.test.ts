// The CLI ends cleanly and tells the truth in its exit code (issue 12, item 18 and "exit codes
// that tell the truth"): no stack trace, no endless loop, a closed pipe and Ctrl-C end quietly,
// bad arguments are refused by the parser, an undo that left something undone says so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sandbox, sameTree, out, shitBin, stagedFiles, noStrace, until } from "./helpers.ts";

test("a state dir under /proc is refused at once with one clear line, not a spin at 100% CPU", (t) => {
  const s = sandbox(t);
  for (const verb of [["list"], ["show"], ["undo", "--dry-run"], ["gc"]]) {
    const r = spawnSync(shitBin, verb, { cwd: s.work, env: { ...s.env, SHIT_HOME: "/proc" }, encoding: "utf8", timeout: 20000 });
    assert.equal(r.signal, null, `shit ${verb.join(" ")} did not end: ${out(r)}`);
    assert.notEqual(r.status, 0, out(r));
    // not root: /proc is another user's, refused before anything is made (exit 9); root: mkdir fails
    assert.match(r.stderr, /^shit: (cannot use the state directory \/proc: .*\/proc\/spool|refusing the state directory: \/proc is owned by uid 0)/, out(r));
    assert.doesNotMatch(r.stderr, /\n\s+at /, "a stack trace");
  }
});

test("option values are checked by the parser: one line naming the option, exit 2", (t) => {
  const s = sandbox(t);
  for (const [args, what] of [
    [["list", "--limit", "abc"], /--limit <n>' argument 'abc' is invalid\. a whole number, 1 or more/],
    [["list", "-n", "0"], /argument '0' is invalid/],
    [["gc", "--older-than", "3x"], /--older-than <age>' argument '3x' is invalid\. not an age/],
    [["undo", "--on-conflict", "maybe"], /--on-conflict <how>' argument 'maybe' is invalid\. Allowed choices are stop, skip/],
  ] as const) {
    const r = s.shit([...args]);
    assert.equal(r.status, 2, out(r));
    assert.match(r.stderr, what, out(r));
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${out(r)}`);
  }
  const r = s.shit(["list", "-n", "3"]);
  assert.equal(r.status, 0, out(r));
});

test("a closed pipe (shit show | head -1) ends the verb quietly with 141, as git does", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d; cd d; seq 1 3000 | xargs touch"); // show --raw prints a line a file: more than a pipe holds
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  for (const args of ["show --raw", "show --json", "show --all"]) {
    const r = s.sh(`"${shitBin}" ${args} 2>err | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"; cat err`);
    assert.equal(r.stdout, "141\n", `shit ${args}: exit and stderr: ${r.stdout}`);
  }
});

// Starts argv under a pseudo-terminal, types KEY once the y/N question shows, prints all it read
// and then "EXIT <code>".
const AT_THE_PROMPT = `
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
buf, end, typed = b"", time.time() + 30, False
while time.time() < end:
    if not typed and b"[y/N]" in buf:
        os.write(fd, os.environ["KEY"].encode())
        typed = True
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

test("Ctrl-C at the y/N question ends quietly with 130 and changes nothing; Ctrl-D is a no (4)", (t) => {
  const s = sandbox(t);
  s.sh("printf x > f");
  assert.equal(s.shit(["run", "--", "rm", "f"]).status, 0);
  const gone = s.tree();
  for (const [key, code, said] of [
    ["\x03", 130, /shit: interrupted: nothing changed/],
    ["\x04", 4, /nothing changed/],
  ] as const) {
    const r = spawnSync("python3", ["-c", AT_THE_PROMPT, shitBin, "undo"], { cwd: s.work, env: { ...s.env, KEY: key }, encoding: "utf8", timeout: 60000 });
    assert.match(r.stdout, new RegExp(`\\nEXIT ${code}\\n$`), out(r));
    assert.match(r.stdout, said, out(r));
    assert.doesNotMatch(r.stdout, /\n\s+at /, "a stack trace");
    assert.equal(sameTree(gone, s.tree()), "", "the undo changed something");
  }
});

/** The pids below pid (its children, theirs…), from /proc. */
function descendants(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  for (let todo = [pid]; todo.length;) for (const k of kids.get(todo.pop()!) ?? []) (out.push(k), todo.push(k));
  return out;
}
/** A process's argv as one string (empty once it is gone). */
const argvOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
};

test(
  "Ctrl-C while the undo applies: it says so and exits 130; the steps done stay, the next undo finishes it, tree for tree",
  { skip: noStrace },
  async (t) => {
    const s = sandbox(t);
    s.sh("mkdir t; for i in $(seq 5); do mkdir t/d$i; for j in $(seq 40); do echo $i$j > t/d$i/f$j; done; done");
    const before = s.tree();
    assert.equal(s.shit(["run", "--", "rm", "-rf", "t"]).status, 0);
    // strace holds shit-apply 2 s at its 30th rename: part of the tree is back when Ctrl-C comes
    const p = spawn(
      "strace",
      ["-f", "-o", "/dev/null", "-e", "trace=renameat2", "-e", "inject=renameat2:delay_enter=2000000:when=3", shitBin, "undo", "--yes"],
      {
        cwd: s.work,
        env: s.env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    p.stderr!.on("data", (d) => (stderr += d));
    p.stdout!.resume();
    const exited = new Promise<number | null>((res) => p.on("exit", (code) => res(code)));
    let cli = 0,
      apply = 0;
    await until("shit-apply running under the undo", () => {
      const below = descendants(p.pid!);
      cli = below.find((x) => /\/bundle\/main\.cjs undo/.test(argvOf(x))) ?? 0;
      apply = below.find((x) => /\/shit-apply /.test(argvOf(x))) ?? 0;
      return cli > 0 && apply > 0;
    });
    await new Promise((r) => setTimeout(r, 300)); // at the held rename
    // what the terminal does at Ctrl-C: SIGINT to every process of the foreground job (not strace)
    process.kill(cli, "SIGINT");
    process.kill(apply, "SIGINT");
    const code = await exited;
    assert.equal(code, 130, stderr);
    assert.match(stderr, /shit: interrupted: the undo \w{8} stopped part-way; the steps done are recorded, and `shit undo` finishes it/);
    assert.doesNotMatch(stderr, /\n\s+at /, "a stack trace");
    const r = s.shit(["undo", "--yes"]);
    assert.equal(r.status, 0, out(r));
    assert.match(r.stderr, /finishing the interrupted undo/);
    assert.equal(sameTree(before, s.tree()), "", "the finished undo");
  },
);

test("a lost pre-image with later steps on its path (chmod, then rm): --on-conflict skip leaves the path named and finishes the rest (10), not stopped at the chmod's step", (t) => {
  const s = sandbox(t);
  s.sh("printf 1 > a; printf 2 > b");
  assert.equal(s.shit(["run", "--", "sh", "-c", "chmod 600 a b; rm a b"]).status, 0);
  s.shit(["list"]); // ingest: the keeps are noted
  const staged = stagedFiles(join(s.state, "staging"));
  assert.equal(staged.length, 2);
  s.sh(`rm "${staged.find((f) => readFileSync(f, "utf8") === "1")}"`); // a's
  const r = s.shit(["undo", "--yes", "--on-conflict", "skip"]);
  assert.equal(r.status, 10, out(r));
  assert.match(r.stdout + r.stderr, /cannot undo: a: pre-image \S+ is missing/);
  assert.match(r.stderr, /not restored: 1 whose kept pre-image is gone/);
  assert.equal(s.sh("ls").stdout, "b\n");
  assert.equal(s.sh("stat -c %a b").stdout, "644\n", "b's mode from before the chmod");
});

test("an undo that restores some paths and not others exits 10 and names each one left, with why", (t) => {
  const s = sandbox(t);
  // a pre-image deleted from staging: stop (6, nothing changed, how to go on), then skip (10)
  s.sh("printf 1 > a; printf 2 > b; printf 3 > c");
  assert.equal(s.shit(["run", "--", "rm", "a", "b", "c"]).status, 0);
  const staged = stagedFiles(join(s.state, "staging"));
  assert.equal(staged.length, 3);
  s.sh(`rm "${staged[0]}"`);
  const gone = s.tree();
  let r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 6, out(r));
  assert.match(r.stderr, /cannot undo: [abc]: pre-image \S+ is missing \(ENOENT\)/);
  assert.match(r.stderr, /nothing changed: a kept pre-image is gone; .*`shit undo --on-conflict skip` restores the rest/);
  assert.equal(sameTree(gone, s.tree()), "", "a stopped undo changed something");
  r = s.shit(["undo", "--yes", "--on-conflict", "skip"]);
  assert.equal(r.status, 10, out(r));
  assert.match(r.stdout, /undone in part \(as \w{8}; `shit redo` reverses it\): 1 path was not restored/);
  assert.match(r.stderr, /not restored: 1 whose kept pre-image is gone/);
  assert.equal(s.sh("ls").stdout.split("\n").filter(Boolean).length, 2, "the other two are back");

  // a pre-image freed by gc beside a step that needs none (the mkdir)
  s.sh("printf 4 > e");
  assert.equal(s.shit(["run", "--", "sh", "-c", "rm e; mkdir d"]).status, 0);
  const id = JSON.parse(s.shit(["list", "--json"]).stdout)[0].id as string;
  assert.equal(s.shit(["gc", "--older-than", "0s"]).status, 0);
  r = s.shit(["undo", "--yes", id]); // by id: the default undo skips a command gc freed
  assert.equal(r.status, 6, out(r));
  assert.match(r.stderr, /cannot undo: e: pre-image \S+ was freed by `shit gc` on \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  r = s.shit(["undo", "--yes", "--on-conflict", "skip", id]);
  assert.equal(r.status, 10, out(r));
  assert.match(r.stdout, /cannot undo: e: pre-image \S+ was freed by `shit gc`/);
  assert.equal(s.sh("test ! -e d && test ! -e e && echo ok").stdout, "ok\n", "d removed, e not restored");
});

test("--json on undo and redo: the plan, what is left, the outcome and the exit code, as data", (t) => {
  const s = sandbox(t);
  s.sh("printf one > a; printf two > b");
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo A > a; echo B > b"]).status, 0);
  s.sh("sleep 0.01; printf later > b");
  const id = JSON.parse(s.shit(["list", "--json"]).stdout)[0].id as string;

  let r = s.shit(["undo", "--json", "--dry-run"]);
  assert.equal(r.status, 3, out(r));
  let j = JSON.parse(r.stdout);
  assert.equal(j.verb, "undo");
  assert.equal(j.target.id, id);
  assert.equal(j.outcome, "conflict");
  assert.equal(j.exit, 3);
  assert.deepEqual(
    j.conflicts.map((c: { path: string }) => c.path),
    [`${s.work}/b`],
  );
  assert.ok(j.steps.some((x: { path: string }) => x.path === `${s.work}/a`));

  r = s.shit(["undo", "--json", "--dry-run", "--on-conflict", "skip"]);
  assert.equal(r.status, 0, out(r));
  j = JSON.parse(r.stdout);
  assert.equal(j.outcome, "planned");
  assert.deepEqual(j.skipped, [`${s.work}/b`]);
  assert.equal(j.as, null);

  r = s.shit(["undo", "--json", "--on-conflict", "skip"]); // --json asks nothing: --yes or --dry-run
  assert.equal(r.status, 4, out(r));
  assert.equal(JSON.parse(r.stdout).outcome, "refused");

  r = s.shit(["undo", "--json", "--yes", "--on-conflict", "skip"]);
  assert.equal(r.status, 10, out(r));
  j = JSON.parse(r.stdout);
  assert.equal(j.outcome, "partial");
  assert.equal(j.exit, 10);
  assert.match(j.as, /^[0-9a-f]{16}$/);
  assert.deepEqual(j.skipped, [`${s.work}/b`]);
  assert.equal(s.sh("cat a b").stdout, "onelater");

  r = s.shit(["redo", "--json", "--yes"]);
  assert.equal(r.status, 0, out(r));
  j = JSON.parse(r.stdout);
  assert.equal(j.verb, "redo");
  assert.equal(j.outcome, "done");
  assert.equal(j.exit, 0);
  assert.equal(s.sh("cat a").stdout, "A\n");

  r = s.shit(["undo", "--json", "--yes", "deadbeef"]); // an error is data too, beside its one line
  assert.equal(r.status, 2, out(r));
  j = JSON.parse(r.stdout);
  assert.equal(j.outcome, "error");
  assert.equal(j.exit, 2);
  assert.match(j.error, /unknown command id: deadbeef/);
});
