// The seccomp tier (native/supervise, docs/DESIGN.md "seccomp tier"): a statically linked program
// that `shit run` starts — here busybox-static, whose applets are real static programs — is
// captured like any other: each case builds a tree, runs a busybox command under `shit run`,
// undoes it (the tree from before, exactly), redoes it (the tree from right after, exactly).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync, chmodSync, mkdirSync, statSync, readdirSync, readFileSync } from "node:fs";
import { readRecords, Op, type Rec } from "../dist/spool/records.js";
import { join } from "node:path";
import { sandbox, sameTree, out, until, shitBin, busybox, noBusybox, showJson as show, type ShowJson, type Sandbox } from "./helpers.ts";
import { SHELLS, Term } from "./term.ts";

const BB = busybox;

/** Runs `busybox sh -c CMD` (or argv) under shit run, then undo, redo, undo: whole trees compared each time. */
function roundTrip(s: Sandbox, cmd: string | string[]): ShowJson {
  const before = s.tree();
  const run = s.shit(["run", "--", ...(typeof cmd === "string" ? [BB!, "sh", "-c", cmd] : cmd)]);
  assert.equal(run.status, 0, `the command failed under shit run:\n${out(run)}`);
  assert.doesNotMatch(run.stderr, /not recorded/, out(run));
  const after = s.tree();
  const sh = show(s);
  assert.equal(sh.effects.notCaptured, 0, JSON.stringify(sh.events.filter((e) => e.op === "notcaptured")));
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 0, `undo:\n${out(undo)}`);
  assert.equal(sameTree(before, s.tree()), "", `after undo the tree differs from before the command:\n${out(undo)}`);
  const redo = s.shit(["redo", "--yes"]);
  assert.equal(redo.status, 0, `redo:\n${out(redo)}`);
  assert.equal(sameTree(after, s.tree()), "", `after redo the tree differs from right after the command:\n${out(redo)}`);
  const again = s.shit(["undo", "--yes"]);
  assert.equal(again.status, 0, `undo of the redo:\n${out(again)}`);
  assert.equal(sameTree(before, s.tree()), "", "after undoing the redo the tree differs from before");
  return sh;
}

const tree = `
mkdir -p proj/src/lib proj/docs proj/empty
printf 'int main(void){return 0;}\\n' > proj/src/main.c
printf 'int a;\\n' > proj/src/lib/a.c
printf 'line one\\nline two\\n' > proj/docs/readme.md
printf 'old target\\n' > proj/target.txt
printf 'moved in\\n' > proj/incoming.txt
head -c 100000 /dev/urandom > proj/blob.bin
chmod 640 proj/src/lib/a.c
ln -s src/main.c proj/link-to-main
`;

const cases: [string, string][] = [
  ["rm -rf of a tree", "busybox rm -rf proj"],
  ["mv over a file", "busybox mv proj/incoming.txt proj/target.txt"],
  ["sed -i", "busybox sed -i 's/two/2/' proj/docs/readme.md"],
  ["chmod -R", "busybox chmod -R go-rwx proj/src"],
  ["mkdir -p", "busybox mkdir -p proj/new/deeper/still"],
  ["ln and ln -s", "busybox ln proj/target.txt proj/hard && busybox ln -s ../target.txt proj/docs/soft"],
  ["touch: a new file and an old one's times", "busybox touch proj/fresh.txt && busybox touch -d '2001-02-03 04:05:06' proj/src/main.c"],
  [
    "dd over part of a file (notrunc), and truncating another",
    "busybox dd if=/dev/zero of=proj/blob.bin bs=1k count=3 seek=10 conv=notrunc 2>/dev/null && busybox dd if=proj/docs/readme.md of=proj/target.txt 2>/dev/null",
  ],
  ["cp over an existing file, cp -r of a tree", "busybox cp proj/docs/readme.md proj/target.txt && busybox cp -r proj/src proj/src-copy"],
  ["tar x over a tree", "busybox tar cf p.tar proj && busybox rm -rf proj/src && echo changed > proj/target.txt && busybox tar xf p.tar && busybox rm p.tar"],
  ["shell redirections: > (truncate), >> (append), a new file", "echo replaced > proj/target.txt; echo more >> proj/docs/readme.md; echo new > proj/new.txt"],
  ["truncate (open, then ftruncate on the descriptor) and mkfifo (mknod)", "busybox truncate -s 10 proj/blob.bin && busybox mkfifo proj/fifo"],
  [
    "cd between writes in one process (its working directory followed)",
    "cd proj && echo a > target.txt && cd src && echo b > main.c && cd lib && echo c > new.c",
  ],
  [
    // the supervisor works in the caller's directory (supervise.c here_gen): it must go back to the
    // parent's after serving the subshell's, or `rm main.c` fails and `>> note` lands in lib/
    "processes in different directories taking turns (each one's working directory followed)",
    "cd proj/src && echo p1 > note && (cd lib && echo c1 > note && rm a.c) && rm main.c && echo p2 >> note && (cd lib && rm note)",
  ],
];

for (const [name, cmd] of cases) {
  test(`seccomp tier: busybox-static ${name}: undo and redo exact`, { skip: noBusybox }, (t) => {
    const s = sandbox(t);
    s.sh(tree);
    roundTrip(s, cmd);
  });
}

test(
  "seccomp tier: a dynamic program started by the supervised one is captured once (by the shim), a static one by the supervisor",
  { skip: noBusybox },
  (t) => {
    const s = sandbox(t);
    s.sh(tree);
    // /bin/rm (coreutils, dynamic: LD_PRELOAD) and busybox rm (static, under the inherited filter)
    const sh = roundTrip(s, "/bin/rm proj/target.txt; busybox rm proj/incoming.txt; /bin/mv proj/blob.bin proj/blob2.bin");
    const unlinks = sh.events.filter((e) => e.op === "unlink").map((e) => e.path);
    assert.deepEqual(unlinks.sort(), [join(s.work, "proj/incoming.txt"), join(s.work, "proj/target.txt")], JSON.stringify(sh.events));
    assert.equal(sh.events.filter((e) => e.op === "rename").length, 1, JSON.stringify(sh.events));
  },
);

test(
  "seccomp tier: a static program started by a dynamic one (bash) in a captured command: the shim hands it to shit-run, undo and redo exact",
  { skip: noBusybox },
  (t) => {
    const s = sandbox(t);
    s.sh(tree);
    const sh = roundTrip(s, [
      "bash",
      "-c",
      `${BB} rm -rf proj/src && ${BB} sed -i s/one/1/ proj/docs/readme.md && ${BB} sh -c 'exit 3'; [ $? = 3 ] && /bin/mv proj/incoming.txt proj/target.txt`,
    ]);
    assert.equal(sh.events.filter((e) => e.op === "rename").length, 2, "sed -i's rename and mv's, once each");
  },
);

test(
  "seccomp tier: a hundred short-lived static processes in turn, each removing a file: every removal recorded once, undo exact",
  { skip: noBusybox },
  (t) => {
    const s = sandbox(t);
    s.sh(tree + "mkdir proj/many; for i in $(seq 0 99); do echo $i > proj/many/f$i; done");
    // more processes than shit-run's table has slots: each one's entry goes when it exits
    const sh = roundTrip(s, "i=0; while [ $i -lt 100 ]; do busybox rm proj/many/f$i; i=$((i+1)); done");
    assert.equal(sh.events.filter((e) => e.op === "unlink").length, 100, JSON.stringify(sh.events.filter((e) => e.op !== "unlink" && e.op !== "exec")));
  },
);

test("seccomp tier: a static program started with posix_spawnp (python) in a captured command is handed over too", { skip: noBusybox }, (t) => {
  const s = sandbox(t);
  s.sh(tree);
  const py = `import os; pid = os.posix_spawnp("busybox", ["busybox", "rm", "-r", "proj/src"], os.environ); _, st = os.waitpid(pid, 0); raise SystemExit(os.waitstatus_to_exitcode(st))`;
  const sh = roundTrip(s, ["python3", "-c", py]);
  assert.equal(sh.events.filter((e) => e.op === "unlink").length, 2, JSON.stringify(sh.events));
});

test("seccomp tier: a background job outliving the command is still captured (a detached supervisor serves it)", { skip: noBusybox }, async (t) => {
  const s = sandbox(t);
  s.sh(tree);
  const before = s.tree();
  const run = s.shit(["run", "--", BB!, "sh", "-c", "(busybox sleep 0.4; busybox rm proj/target.txt) >/dev/null 2>&1 &"]);
  assert.equal(run.status, 0, out(run));
  for (let i = 0; i < 100 && existsSync(join(s.work, "proj/target.txt")); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(existsSync(join(s.work, "proj/target.txt")), false, "the background rm ran");
  await new Promise((r) => setTimeout(r, 200));
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 0, out(undo));
  assert.equal(sameTree(before, s.tree()), "", out(undo));
});

test("seccomp tier: the program's exit status, stdout and a failing call's errno are its own", { skip: noBusybox }, (t) => {
  const s = sandbox(t);
  s.sh(tree + "chmod 555 proj/docs");
  const r = s.shit([
    "run",
    "--",
    BB!,
    "sh",
    "-c",
    "busybox rm proj/nope; echo rc=$?; busybox mkdir proj/src 2>&1; busybox rm proj/docs/readme.md 2>&1; echo out; exit 7",
  ]);
  assert.equal(r.status, 7, out(r));
  assert.match(r.stdout, /rc=1\n/);
  assert.match(r.stdout, /File exists/);
  if (process.getuid?.() !== 0) assert.match(r.stdout, /Permission denied/);
  assert.match(r.stdout, /out\n$/);
  assert.match(r.stderr, /No such file or directory/);
});

test("seccomp tier: a set-ID program started under the filter runs without its privileges: said and recorded", { skip: noBusybox }, (t) => {
  const s = sandbox(t);
  // a set-user-ID program owned by someone else: root makes one (owned by nobody); a user finds su/passwd
  let prog = "";
  if (process.getuid?.() === 0) {
    prog = join(s.dir, "suid-id");
    spawnSync("cp", ["/usr/bin/id", prog]);
    spawnSync("chown", ["65534", prog]);
    chmodSync(prog, 0o4755);
  } else {
    prog = ["/usr/bin/su", "/bin/su", "/usr/bin/passwd"].find((p) => existsSync(p) && spawnSync("test", ["-u", p]).status === 0) ?? "";
  }
  if (!prog) return t.skip("no set-user-ID program here");
  writeFileSync(join(s.work, "x"), "");
  const r = s.shit(["run", "--", BB!, "sh", "-c", `${prog} --help >/dev/null 2>&1; busybox rm x`]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stderr, new RegExp(`shit: ${prog} is a setuid program: .* runs without its privileges`), out(r));
  const sh = show(s);
  const nc = sh.events.filter((e) => e.op === "notcaptured");
  assert.equal(nc.length, 1, JSON.stringify(nc));
  assert.equal(nc[0].path, prog);
  assert.match(nc[0].note ?? "", /ran without its privileges/);
  assert.equal(sh.events.filter((e) => e.op === "unlink").length, 1, "the rm after it is captured");
});

// The supervisor reads each call's path from /proc/TID/mem, which the kernel refuses for a program
// that may not be traced: one that is not dumpable (started from a file its user may not read, as
// here) or, for a user without CAP_SYS_PTRACE, any program under Yama's ptrace_scope 2 or 3. Such a
// program must run exactly as without shit, and what it does be named "not captured", never silent.
test(
  "seccomp tier: a program whose memory the supervisor may not read (exec'd from an execute-only file: not dumpable) runs as without shit, and is named not captured",
  { skip: noBusybox || (process.getuid?.() === 0 ? "root may read any memory (CAP_SYS_PTRACE): this needs an ordinary user" : false) },
  (t) => {
    const s = sandbox(t);
    s.sh(tree);
    mkdirSync(join(s.dir, "xbin"));
    const rm = join(s.dir, "xbin", "rm"); // busybox runs the applet its name says
    writeFileSync(rm, readFileSync(BB!));
    chmodSync(rm, 0o111);
    // the shell's own write is captured (its memory is read); a child it forks becomes rm (it was
    // silent: the child's memory was opened at its exec, and not again after it), then the shell does
    const r = s.shit(["run", "--", BB!, "sh", "-c", `echo x > proj/new.txt; ${rm} proj/target.txt; exec ${rm} proj/blob.bin`]);
    assert.equal(r.status, 0, out(r));
    assert.equal(existsSync(join(s.work, "proj/target.txt")) || existsSync(join(s.work, "proj/blob.bin")), false, "rm ran as asked");
    const sh = show(s);
    const nc = sh.events.filter((e) => e.op === "notcaptured");
    assert.equal(nc.length, 2, `one for each process that ran rm: ${JSON.stringify(sh.events)}`);
    for (const e of nc) assert.match(e.note ?? "", /^not captured: the seccomp tier cannot read the caller's memory \(Permission denied: .*not dumpable/);
    assert.equal(sh.effects.created, 1, JSON.stringify(sh.events));
    const undo = s.shit(["undo", "--yes"]);
    assert.equal(undo.status, 10, out(undo));
    assert.match(undo.stdout, /cannot undo: .*cannot read the caller's memory/, out(undo));
    assert.equal(existsSync(join(s.work, "proj/new.txt")), false, out(undo));
  },
);

// The same refusal from Yama: at ptrace_scope 2 only CAP_SYS_PTRACE may open another process's
// memory. Root-only (it sets the sysctl, and puts the old value back whatever happens; never 3,
// which cannot be undone until a reboot); the program runs as uid 65534.
const yama = "/proc/sys/kernel/yama/ptrace_scope";
test(
  "seccomp tier: under Yama's ptrace_scope 2, an ordinary user's static program runs as without shit, and is named not captured",
  {
    skip: noBusybox || (process.getuid?.() !== 0 ? "root only: sets kernel.yama.ptrace_scope" : !existsSync(yama) ? "no Yama in this kernel" : false),
  },
  (t) => {
    const old = readFileSync(yama, "utf8").trim();
    if (old === "3") return t.skip("ptrace_scope is 3 (no ptrace at all, until a reboot)");
    const s = sandbox(t);
    s.sh(tree);
    spawnSync("chown", ["-R", "65534:65534", s.dir]);
    const as = (argv: string[]) =>
      spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", ...argv], { cwd: s.work, env: { ...s.env, HOME: s.dir }, encoding: "utf8" });
    let r;
    writeFileSync(yama, "2");
    try {
      r = as([shitBin, "run", "--", BB!, "rm", "proj/target.txt"]);
    } finally {
      writeFileSync(yama, old);
    }
    assert.equal(readFileSync(yama, "utf8").trim(), old, "ptrace_scope put back");
    assert.equal(r.status, 0, out(r));
    assert.equal(existsSync(join(s.work, "proj/target.txt")), false, "rm ran as asked");
    const sh = JSON.parse(as([shitBin, "show", "--json"]).stdout) as ShowJson;
    const nc = sh.events.filter((e) => e.op === "notcaptured");
    assert.equal(nc.length, 1, JSON.stringify(sh.events));
    assert.match(nc[0].note ?? "", /^not captured: the seccomp tier cannot read the caller's memory \(Operation not permitted: .*ptrace_scope/);
  },
);

test("seccomp tier: SHIT_SECCOMP=off runs the static program outside capture, as before, and says so", { skip: noBusybox }, (t) => {
  const s = sandbox(t);
  writeFileSync(join(s.work, "x"), "");
  const r = s.shit(["run", "--", BB!, "rm", "x"], { env: { ...s.env, SHIT_SECCOMP: "off" } });
  assert.equal(r.status, 0, out(r));
  assert.match(r.stderr, /is statically linked: what it changes is not recorded/);
  assert.equal(show(s).effects.notCaptured, 1);
});

test(
  "seccomp tier: shit-run killed with SIGKILL mid-command: the program runs on unharmed, and what it does after is still captured (the watchdog)",
  { skip: noBusybox },
  async (t) => {
    const s = sandbox(t);
    s.sh(tree);
    const before = s.tree();
    const p = (f: string) => join(s.work, "proj", f);
    const go = join(s.dir, "go"); // outside the tree: made by the test, not the command
    const script = `busybox rm proj/target.txt; while [ ! -e ${go} ]; do busybox sleep 0.05; done; busybox rm proj/incoming.txt && echo ok > proj/done`;
    const run = spawn(shitBin, ["run", "--", BB!, "sh", "-c", script], { cwd: s.work, env: s.env, stdio: "ignore" });
    const exited = new Promise((r) => run.on("exit", r));
    await until("the first rm", () => !existsSync(p("target.txt")));
    run.kill("SIGKILL");
    await exited;
    writeFileSync(go, ""); // only now does the program go on
    await until("the program's last write", () => existsSync(p("done")));
    assert.equal(existsSync(p("incoming.txt")), false);
    const sh = show(s);
    const paths = sh.events.filter((e) => e.op === "unlink" || e.op === "open").map((e) => e.path);
    for (const f of ["target.txt", "incoming.txt", "done"]) assert.ok(paths.includes(p(f)), `${f} recorded: ${JSON.stringify(sh.events)}`);
    const undo = s.shit(["undo", "--yes"]);
    assert.equal(undo.status, 0, out(undo));
    assert.equal(sameTree(before, s.tree()), "", out(undo));
  },
);

/** The records of the one spool in the sandbox's state dir (a command still running). */
function spoolRecords(s: Sandbox): Rec[] {
  const dir = join(s.state, "spool");
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".spool")) : [];
  return files.length === 1 ? readRecords(readFileSync(join(dir, files[0]!))).records : [];
}

test(
  "seccomp tier: an unlink's STAGED record, held back to go out with the next record, is in the spool a moment later without one, and before END",
  { skip: noBusybox },
  async (t) => {
    const s = sandbox(t);
    s.sh(tree);
    const go = join(s.dir, "go");
    // after the first rm the program makes no call the supervisor sees until the test says go
    const script = `busybox rm proj/target.txt; while [ ! -e ${go} ]; do :; done; busybox rm -r proj/src`;
    const run = spawn(shitBin, ["run", "--", BB!, "sh", "-c", script], { cwd: s.work, env: s.env, stdio: "ignore" });
    t.after(() => run.kill("SIGKILL"));
    const exited = new Promise((r) => run.on("exit", r));
    const count = (op: number) => spoolRecords(s).filter((r) => r.op === op).length;
    await until("the first unlink's STAGED record, with the program idle", () => count(Op.STAGED) === 1);
    writeFileSync(go, "");
    await exited;
    const ops = spoolRecords(s).map((r) => r.op);
    assert.equal(count(Op.UNLINK), 3);
    assert.equal(count(Op.STAGED), 3, "every kept file's STAGED record");
    assert.ok(ops.lastIndexOf(Op.STAGED) < ops.indexOf(Op.END), `STAGED before END: ${ops.join(" ")}`);
  },
);

test(
  "seccomp tier: what the supervisor creates for the program gets the program's umask, as it changes (one process, and a child)",
  { skip: noBusybox },
  (t) => {
    const s = sandbox(t);
    s.sh(tree);
    const cmd = "umask 077; busybox mkdir proj/a; echo x > proj/f; umask 002; busybox mkdir proj/b; echo y > proj/g; mkdir proj/c; busybox mkfifo proj/p";
    const sh = roundTrip(s, [BB!, "sh", "-c", cmd]);
    assert.equal(sh.effects.created, 6, JSON.stringify(sh.events));
    const redo = s.shit(["redo", "--yes"]);
    assert.equal(redo.status, 0, out(redo));
    const mode = (f: string) => (statSync(join(s.work, "proj", f)).mode & 0o777).toString(8);
    assert.deepEqual(["a", "f", "b", "g", "c", "p"].map(mode), ["700", "600", "775", "664", "775", "664"]);
  },
);

test(
  "seccomp tier: a signal that ends no process (kill -0, SIGURG as Go's preemption sends, SIGCHLD) never waits for the supervisor; one that may end a process does",
  { skip: noBusybox },
  async (t) => {
    const s = sandbox(t);
    // the filter decides by signal number: with shit-run stopped, a call sent to it would wait
    const script = "echo ready; read x; kill -0 $$; kill -URG $$; kill -CHLD $$; echo harmless; read x; kill -HUP $bg; echo fatal";
    const run = spawn(shitBin, ["run", "--", BB!, "sh", "-c", `busybox sleep 30 & bg=$!; ${script}`], {
      cwd: s.work,
      env: s.env,
      stdio: ["pipe", "pipe", "inherit"],
    });
    t.after(() => {
      run.kill("SIGCONT");
      run.kill("SIGKILL");
    });
    let stdout = "";
    run.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise((r) => run.on("exit", r));
    await until("the program to start", () => stdout.includes("ready"));
    run.kill("SIGSTOP"); // shit-run only: the program runs on
    run.stdin!.write("go\n");
    await until(
      () => `the harmless signals sent with the supervisor stopped (stdout: ${JSON.stringify(stdout)})`,
      () => stdout.includes("harmless"),
    );
    run.stdin!.write("go\n");
    await new Promise((r) => setTimeout(r, 300));
    assert.doesNotMatch(stdout, /fatal/, "a SIGHUP to a process was not sent to the supervisor (it is stopped)");
    run.kill("SIGCONT");
    run.stdin!.end();
    await until(
      () => `the SIGHUP once the supervisor runs again (stdout: ${JSON.stringify(stdout)})`,
      () => stdout.includes("fatal"),
    );
    await exited;
  },
);

// A static C program whose second thread removes a file and exits (the supervisor learns its
// tid); then, the process living on, a child of its gets that tid (the test sets ns_last_pid: root
// only) and removes a file whose name it writes where the parent's memory holds another name.
const reuseProgram = `#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static char path[64] = "parent-name";
static pid_t tid;
static void *thread(void *a) {
  tid = gettid();
  unlink("by-thread");
  return a;
}
int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, thread, NULL);
  pthread_join(t, NULL);
  printf("tid %d\\n", (int)tid);
  fflush(stdout);
  char line[16];
  while (fgets(line, sizeof line, stdin)) {
    pid_t c = fork();
    if (c == 0) {
      if (getpid() == tid) {
        strcpy(path, "child-name");
        unlink(path);
      }
      _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("child %d\\n", (int)c);
    fflush(stdout);
    if (c == tid) break;
  }
  return 0;
}
`;
const noStaticCc =
  process.getuid?.() !== 0
    ? "root only (sets /proc/sys/kernel/ns_last_pid)"
    : spawnSync("sh", ["-c", "echo 'int main(void){return 0;}' | cc -static -x c -o /dev/null -"]).status === 0
      ? false
      : "no static C toolchain (cc -static)";

test(
  "seccomp tier: a thread that exits hands its tid back: a process given that tid next is read as itself, not as the thread's process",
  { skip: noStaticCc },
  async (t) => {
    const s = sandbox(t);
    const src = join(s.dir, "reuse.c");
    const bin = join(s.dir, "reuse");
    writeFileSync(src, reuseProgram);
    const cc = spawnSync("cc", ["-static", "-pthread", "-O1", "-o", bin, src], { encoding: "utf8" });
    assert.equal(cc.status, 0, cc.stderr);
    s.sh("touch by-thread parent-name child-name");
    const run = spawn(shitBin, ["run", "--", bin], { cwd: s.work, env: s.env, stdio: ["pipe", "pipe", "inherit"] });
    t.after(() => run.kill("SIGKILL"));
    const exited = new Promise((r) => run.on("exit", r));
    let stdout = "";
    run.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    await until("the thread's tid", () => /^tid \d+\n/.test(stdout));
    const tid = Number(/^tid (\d+)/.exec(stdout)![1]);
    let reused = false;
    for (let i = 0; i < 50 && !reused; i++) {
      const seen = stdout.length;
      writeFileSync("/proc/sys/kernel/ns_last_pid", String(tid - 1)); // the next process gets tid (unless another takes it first)
      run.stdin!.write("fork\n");
      await until("the child", () => stdout.slice(seen).includes("\n"));
      reused = stdout.slice(seen).startsWith(`child ${tid}\n`);
    }
    run.stdin!.end();
    await exited;
    if (!reused) return t.skip("no child got the thread's tid (other processes took it first)");
    const left = readdirSync(s.work).sort();
    assert.deepEqual(left, ["parent-name"], "the child removed its own file, and only that");
  },
);

// A static program that vforks (as Go's os/exec does: CLONE_VFORK|CLONE_VM) and execs a static
// program: the child's memory was its parent's when the supervisor first opened it (at the
// execve), and that descriptor read the parent's memory on after the exec. The exec'd program
// writes the name it removes into a global, where the parent's copy of the same binary holds
// another name: the supervisor removed the parent's (keep) and answered 0, leaving the child's.
const vforkProgram = `#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static char path[64];
int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "child") == 0) {
    strcpy(path, argv[2]);
    return unlink(path) ? 1 : 0;
  }
  strcpy(path, "keep");
  pid_t c = vfork();
  if (c == 0) {
    execl("/proc/self/exe", argv[0], "child", "victim", (char *)0);
    _exit(127);
  }
  int st;
  waitpid(c, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
`;
const noCcStatic =
  spawnSync("sh", ["-c", "echo 'int main(void){return 0;}' | cc -static -x c -o /dev/null -"]).status === 0 ? false : "no static C toolchain (cc -static)";

test("seccomp tier: a vfork child's exec'd program is read from its own memory, not its parent's: it removes its own file", { skip: noCcStatic }, (t) => {
  const s = sandbox(t);
  const src = join(s.dir, "vf.c");
  const bin = join(s.dir, "vf");
  writeFileSync(src, vforkProgram);
  const cc = spawnSync("cc", ["-static", "-O1", "-o", bin, src], { encoding: "utf8" });
  assert.equal(cc.status, 0, cc.stderr);
  s.sh("echo keep > keep && echo victim > victim");
  const before = s.tree();
  const run = s.shit(["run", "--", bin]);
  assert.equal(run.status, 0, out(run));
  assert.deepEqual(readdirSync(s.work).sort(), ["keep"], "the child removed victim, and only that");
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 0, out(undo));
  assert.equal(sameTree(before, s.tree()), "", out(undo));
});

// A Go program built static (CGO_ENABLED=0), as every Go tool people run is: writes, renames
// over, truncates, removes a tree (unlinkat through directory descriptors), chmods, makes
// directories and a symlink, appends, and removes 400 files from 16 goroutines at once.
const goProgram = `package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	p := func(s string) string { return filepath.Join(os.Args[1], s) }
	must(os.WriteFile(p("new.txt"), []byte("from go\\n"), 0644))
	must(os.WriteFile(p("tmp.txt"), []byte("replacement\\n"), 0600))
	must(os.Rename(p("tmp.txt"), p("target.txt")))
	must(os.Truncate(p("blob.bin"), 1000))
	must(os.RemoveAll(p("src")))
	must(os.Chmod(p("docs/readme.md"), 0600))
	must(os.MkdirAll(p("a/b/c"), 0755))
	must(os.Symlink("../target.txt", p("a/link")))
	f, err := os.OpenFile(p("incoming.txt"), os.O_WRONLY|os.O_APPEND, 0)
	must(err)
	_, err = f.Write([]byte("appended\\n"))
	must(err)
	must(f.Close())
	var wg sync.WaitGroup
	for t := 0; t < 16; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			for i := t; i < 400; i += 16 {
				must(os.Remove(p(fmt.Sprintf("many/f%d", i))))
			}
		}(t)
	}
	wg.Wait()
}
`;
const noGo = spawnSync("sh", ["-c", "command -v go"]).status === 0 ? false : "no go (apt-get install golang-go)";

/** goProgram built static in the sandbox (outside its tree); its path. */
function buildGo(s: Sandbox): string {
  const src = join(s.dir, "gosrc");
  mkdirSync(src);
  writeFileSync(join(src, "main.go"), goProgram);
  const bin = join(s.dir, "gowriter");
  const env = { ...process.env, CGO_ENABLED: "0", GOCACHE: join(s.dir, "gocache"), GOPATH: join(s.dir, "gopath"), HOME: s.dir, GOFLAGS: "", GO111MODULE: "" };
  const b = spawnSync("go", ["build", "-o", bin, "main.go"], { cwd: src, env, encoding: "utf8" });
  assert.equal(b.status, 0, `go build:\n${b.stderr}`);
  assert.match(spawnSync("file", [bin], { encoding: "utf8" }).stdout, /statically linked/);
  return bin;
}

test("seccomp tier: a static Go program (16 goroutines deleting at once among its calls): undo and redo exact", { skip: noGo }, (t) => {
  const s = sandbox(t);
  const bin = buildGo(s);
  s.sh(tree + "mkdir proj/many; for i in $(seq 0 399); do echo $i > proj/many/f$i; done");
  const sh = roundTrip(s, [bin, "proj"]);
  const unlinks = sh.events.filter((e) => e.op === "unlink").length;
  assert.equal(unlinks, 402, `each of the 400 removals and src/main.c, src/lib/a.c once (got ${unlinks})`);
});

// fish forks and execs with an envp of its own (its environ has no SHIT_CMD): the shim takes the
// command from that envp to hand the static program over.
for (const shell of SHELLS)
  test(
    `seccomp tier: busybox rm -rf typed in a hooked ${shell} is captured (the shim hands it over) and undone, tree for tree`,
    { skip: noBusybox },
    async (t) => {
      const s = sandbox(t);
      s.sh(tree);
      const home = join(s.dir, "home");
      mkdirSync(home, { recursive: true });
      const before = s.tree();
      const term = await Term.start(shell, { dir: s.dir, home, cwd: s.work, state: s.state });
      try {
        await term.run(`${BB} rm -rf proj`);
        assert.equal(existsSync(join(s.work, "proj")), false, term.screen());
        assert.doesNotMatch(term.screen(), /not recorded/);
        await term.run("shit undo --yes");
        assert.equal(sameTree(before, s.tree()), "", term.screen());
      } finally {
        term.kill();
      }
    },
  );

// A static program started from a descriptor rather than a path: python's os.execve(fd) is
// fexecve, a memfd holds a copy with no name at all, and execveat(fd, "", AT_EMPTY_PATH) is
// called through ctypes; system(3) and popen(3) start it through /bin/sh (dynamic, so the shim
// there hands it over). Each child must exit 0.
const fromFd = (prog: string, runs: string[][]) => `
import os, ctypes
def child(run):
    pid = os.fork()
    if pid == 0:
        try:
            run()
        finally:
            os._exit(99)
    _, st = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(st) == 0, st
env = [f"{k}={v}".encode() for k, v in os.environ.items()]
fd = os.open(${JSON.stringify(prog)}, os.O_RDONLY | os.O_CLOEXEC)
mfd = os.memfd_create("copy", os.MFD_CLOEXEC)
os.write(mfd, open(${JSON.stringify(prog)}, "rb").read())
def execveat(argv):
    a = (ctypes.c_char_p * (len(argv) + 1))(*[x.encode() for x in argv], None)
    e = (ctypes.c_char_p * (len(env) + 1))(*env, None)
    ctypes.CDLL(None, use_errno=True).execveat(fd, b"", a, e, 0x1000)
runs = ${JSON.stringify(runs)}
child(lambda: os.execve(fd, runs[0], os.environ))
child(lambda: os.execve(mfd, runs[1], os.environ))
child(lambda: execveat(runs[2]))
`;

test(
  "seccomp tier: a static program started by fexecve, from a memfd, by execveat(AT_EMPTY_PATH), system(3) and popen(3): each supervised, undo and redo exact",
  { skip: noBusybox },
  (t) => {
    const s = sandbox(t);
    s.sh(tree);
    const py =
      fromFd(BB!, [
        ["busybox", "rm", "proj/incoming.txt"],
        ["busybox", "sed", "-i", "s/one/1/", "proj/docs/readme.md"],
        ["busybox", "chmod", "600", "proj/blob.bin"],
      ]) +
      `assert os.system(${JSON.stringify(BB + " rm proj/target.txt")}) == 0
assert os.popen(${JSON.stringify(BB + " rm -r proj/src; echo ok")}).read() == "ok\\n"
`;
    const sh = roundTrip(s, ["python3", "-c", py]);
    const done = sh.events.flatMap((e) => [`${e.op} ${e.path}`, `${e.op} ${e.path2}`]);
    for (const [op, path] of [
      ["unlink", "incoming.txt"],
      ["rename", "docs/readme.md"],
      ["chmod", "blob.bin"],
      ["unlink", "target.txt"],
      ["rmdir", "src"],
    ])
      assert.ok(done.includes(`${op} ${join(s.work, "proj", path)}`), `${op} ${path}: ${JSON.stringify(done)}`);
  },
);

test("seccomp tier: a static Go program started from a descriptor (fexecve) is supervised: undo and redo exact", { skip: noGo }, (t) => {
  const s = sandbox(t);
  const bin = buildGo(s);
  s.sh(tree + "mkdir proj/many; for i in $(seq 0 399); do echo $i > proj/many/f$i; done");
  const py = `
import os
fd = os.open(${JSON.stringify(bin)}, os.O_RDONLY | os.O_CLOEXEC)
pid = os.fork()
if pid == 0:
    os.execve(fd, ["gowriter", "proj"], os.environ)
_, st = os.waitpid(pid, 0)
raise SystemExit(os.waitstatus_to_exitcode(st))
`;
  const sh = roundTrip(s, ["python3", "-c", py]);
  assert.equal(sh.events.filter((e) => e.op === "unlink").length, 402);
});

test(
  "seccomp tier: a change made outside capture after busybox sed -i, cp and rm is a conflict (named, nothing changed, exit 3); --force restores and keeps what it overwrote",
  { skip: noBusybox },
  (t) => {
    const s = sandbox(t);
    s.sh(tree);
    const before = s.tree();
    const run = s.shit([
      "run",
      "--",
      BB!,
      "sh",
      "-c",
      "busybox sed -i s/one/1/ proj/docs/readme.md && busybox cp proj/incoming.txt proj/target.txt && busybox rm proj/blob.bin",
    ]);
    assert.equal(run.status, 0, out(run));
    assert.equal(show(s).effects.notCaptured, 0, out(run));
    // by something outside capture (this test's bash): an edit, an overwrite, the name reused
    s.sh("sleep 0.01; echo later > proj/docs/readme.md; echo later > proj/target.txt; echo reused > proj/blob.bin");
    const edited = s.tree();
    const undo = s.shit(["undo", "--yes"]);
    assert.equal(undo.status, 3, out(undo));
    assert.match(undo.stderr, /^conflict: proj\/docs\/readme.md: it was modified since the command$/m, out(undo));
    assert.match(undo.stderr, /^conflict: proj\/target.txt: it was modified since the command$/m, out(undo));
    assert.match(undo.stderr, /^conflict: proj\/blob.bin: it was gone after the command, and now there is a file$/m, out(undo));
    assert.equal(sameTree(edited, s.tree()), "", `a refused undo changed something: ${out(undo)}`);
    const force = s.shit(["undo", "--yes", "--force"]);
    assert.equal(force.status, 0, out(force));
    assert.equal(sameTree(before, s.tree()), "", out(force));
    const back = s.shit(["redo", "--yes"]); // the undo of the forced undo: what it overwrote, back
    assert.equal(back.status, 0, out(back));
    assert.equal(sameTree(edited, s.tree()), "", out(back));
  },
);
