// io_uring (issue 16): file operations submitted through a ring are performed by the kernel past
// libc (the shim) and past the filtered system calls (the seccomp tier), so neither captures
// them. They must be named "not captured: io_uring", never silent: the shim reads the requests a
// dynamic program submits (shim/uring.c), the seccomp tier names a static program's ring when it
// is set up (supervise.c). The program runs exactly as without shit.
//
// test/native/uring-prog.c makes the calls with raw system calls (no liburing), built here
// dynamically (syscall(2) from libc: the shim) and statically (gcc -static: the seccomp tier).
// Nothing here needs root.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sandbox, sameTree, out, root, showJson as show, type Sandbox, addContext } from "./helpers.ts";
import type { Entry } from "../dist/manifest.js";
import { SHELLS, Term } from "./term.ts";

const src = join(root, "test/native/uring-prog.c");
const bin = mkdtempSync(join(tmpdir(), "shit-uring-"));
after(() => rmSync(bin, { recursive: true, force: true }));
const build = (name: string, flags: string[]) => {
  const r = spawnSync("gcc", ["-O", ...flags, "-o", join(bin, name), src], { encoding: "utf8" });
  return r.status === 0 ? join(bin, name) : null;
};
const dyn = build("dyn", []);
const stat = build("static", ["-static"]);
/** Why io_uring tests cannot run here (no compiler, or a kernel without io_uring for this user), or false. */
function unavailable(): string | false {
  if (!dyn) return "no C compiler (gcc)";
  const r = spawnSync(dyn, [], { encoding: "utf8" });
  if (r.status === 77) return `io_uring is not available here: ${r.stderr.trim()} (kernel.io_uring_disabled, or a seccomp policy)`;
  if (r.status !== 0) return `uring-prog does not run: ${r.stderr.trim()}`;
  return false;
}
const noUring = unavailable();
// through liburing (Debian's makes its system calls itself: the shim sees its exported setup)
const liburingProg = `#include <liburing.h>
#include <fcntl.h>
#include <stdio.h>
int main(int argc, char **argv) {
  struct io_uring ring;
  struct io_uring_cqe *cqe;
  if (io_uring_queue_init(8, &ring, 0) < 0) return 77;
  for (int i = 1; i < argc; i++) {
    io_uring_prep_unlinkat(io_uring_get_sqe(&ring), AT_FDCWD, argv[i], 0);
    io_uring_submit(&ring);
    io_uring_wait_cqe(&ring, &cqe);
    printf("unlink %s: %d\\n", argv[i], cqe->res);
    io_uring_cqe_seen(&ring, cqe);
  }
  return 0;
}
`;
const withLiburing = (() => {
  writeFileSync(join(bin, "lu.c"), liburingProg);
  return spawnSync("gcc", ["-O", "-o", join(bin, "lu"), join(bin, "lu.c"), "-luring"]).status === 0 ? join(bin, "lu") : null;
})();
const noLiburing = noUring || (withLiburing ? false : "no liburing here (apt-get install liburing-dev)");
const noStatic = noUring || (stat ? false : "no static C build here (gcc -static: libc6-dev's libc.a)");

const files = "printf 'a\\n' > a; printf 'b\\n' > b; printf 'x\\n' > x; printf 'k\\n' > keep; mkdir gone";
const ops = ["unlink", "a", "rename", "b", "x", "write", "e", "hello", "rmdir", "gone"];

/** A tree without its times: two runs made at different moments. */
const shape = (es: Entry[]): Entry[] => es.map((e) => ({ ...e, mtimeNs: "" }));

/** Runs argv once plainly and once under `shit run` in a twin tree: the same exit status, output
 * and resulting tree. The sandbox of the `shit run`, and its result. */
function twin(t: Parameters<typeof sandbox>[0], argv: string[]): Sandbox {
  const plain = sandbox(t);
  plain.sh(files);
  const p = spawnSync(argv[0], argv.slice(1), { cwd: plain.work, env: plain.env, encoding: "utf8" });
  const s = sandbox(t);
  s.sh(files);
  const r = s.shit(["run", "--", ...argv]);
  assert.equal(r.status, p.status, `exit status as without shit:\n${out(r)}\n${out(p)}`);
  assert.equal(r.stdout, p.stdout, "the same output as without shit");
  assert.equal(sameTree(shape(plain.tree()), shape(s.tree())), "", "the same tree as without shit");
  return s;
}

/** The undo of a command whose io_uring requests were not captured: names each and exits as the
 *  rule for what was not kept says (6: nothing else to restore; 10: the rest restored). */
function undoNames(s: Sandbox, names: RegExp[], code: number): void {
  const before = s.tree();
  const u = s.shit(["undo", "--yes"]);
  assert.equal(u.status, code, `undo:\n${out(u)}`);
  for (const n of names) assert.match(u.stdout + u.stderr, n, out(u));
  if (code === 6) assert.equal(sameTree(before, s.tree()), "", "nothing restorable: the undo changed nothing");
}

test(
  "io_uring, a dynamic program (the shim reads its ring): each unlinkat, renameat, openat for writing and rmdir is named not captured, with its path; undo says so and exits 6",
  { skip: noUring },
  (t) => {
    for (const flags of [[], ["-n"], ["-2"], ["-r"]]) {
      // -n: a ring without an SQ index array (NO_SQARRAY, as libuv sets it up); -2: its pages
      // mapped twice, so the shim reads it through a mapping of its own; -r: unmapped and mapped
      // elsewhere after each request, so the shim looks for it again (munmap)
      const s = twin(t, [dyn!, ...flags, ...ops]);
      const sh = show(s);
      const nc = sh.events.filter((e) => e.op === "notcaptured");
      const at = (n: string) => join(s.work, n);
      assert.deepEqual(
        nc.map((e) => [e.path, e.note]),
        [
          [at("a"), "not captured: io_uring: unlinkat"],
          [at("b"), "not captured: io_uring: renameat from here"],
          [at("x"), "not captured: io_uring: renameat to here"],
          [at("e"), "not captured: io_uring: openat for writing"],
          [at("gone"), "not captured: io_uring: unlinkat of a directory"],
        ],
        JSON.stringify(flags),
      );
      const text = s.shit(["show", sh.id]);
      assert.match(text.stdout, /not captured: io_uring: unlinkat/, out(text));
      undoNames(s, [/cannot undo: a: not captured: io_uring: unlinkat/, /cannot undo: x: not captured: io_uring: renameat to here/], 6);
    }
  },
);

test(
  "io_uring, a static program (the seccomp tier): its ring is named not captured when it is set up; the calls run as without shit; undo says so and exits 6",
  { skip: noStatic },
  (t) => {
    const s = twin(t, [stat!, ...ops]);
    const nc = show(s).events.filter((e) => e.op === "notcaptured");
    assert.equal(nc.length, 1, JSON.stringify(nc));
    assert.match(nc[0].note ?? "", /^not captured: io_uring: a ring set up by a program under the seccomp tier/);
    undoNames(s, [/cannot undo: \?: not captured: io_uring: a ring set up/], 6);
  },
);

test(
  "io_uring through liburing (its own system calls, not libc's): the ring is named not captured when liburing sets it up; undo says so and exits 6",
  { skip: noLiburing },
  (t) => {
    const s = twin(t, [withLiburing!, "a", "b"]);
    const nc = show(s).events.filter((e) => e.op === "notcaptured");
    assert.deepEqual(
      nc.map((e) => e.note),
      ["not captured: io_uring: a ring set up through liburing: what is submitted through it is not seen"],
    );
    undoNames(s, [/cannot undo: \?: not captured: io_uring: a ring set up through liburing/], 6);
  },
);

test("io_uring in a command that also changes files through libc: the rest is undone, the ring's requests are named, exit 10", { skip: noStatic }, (t) => {
  const s = sandbox(t);
  s.sh(files);
  const before = s.tree();
  const r = s.shit(["run", "--", "sh", "-c", `rm keep && ${stat} unlink a && ${dyn} unlink b`]);
  assert.equal(r.status, 0, out(r));
  const u = s.shit(["undo", "--yes"]);
  assert.equal(u.status, 10, `undo:\n${out(u)}`);
  assert.match(u.stdout, /cannot undo: \?: not captured: io_uring: a ring set up by a program under the seccomp tier/, out(u));
  assert.match(u.stdout, /cannot undo: b: not captured: io_uring: unlinkat/, out(u));
  const want = before.filter((e) => e.path !== "a" && e.path !== "b");
  assert.equal(sameTree(want, s.tree()), "", `keep restored, a and b left as the command left them:\n${out(u)}`);
});

test("io_uring: a ring used for no file operation (Node's libuv batches epoll_ctl through one in every process) is not named", { skip: noUring }, (t) => {
  const s = sandbox(t);
  s.sh(files);
  const js = `require("fs").unlinkSync("a"); require("net").createServer().listen(0, "127.0.0.1", function () { this.close(); });`;
  const r = s.shit(["run", "--", process.execPath, "-e", js]);
  assert.equal(r.status, 0, out(r));
  const sh = show(s);
  assert.deepEqual([sh.effects.deleted, sh.effects.notCaptured], [1, 0], JSON.stringify(sh.events));
});

// The same shim and tier behind a hooked prompt: a line typed at bash, zsh or fish is recorded with
// no `shit run`, and what its ring did is named just the same.
for (const shell of SHELLS)
  test(
    `io_uring typed at a hooked ${shell} prompt: a dynamic program's unlinkat and a static program's ring are named not captured, the line's libc changes undone, exit 10`,
    { skip: noStatic },
    async (t) => {
      const s = sandbox(t);
      s.sh(files);
      const home = join(s.dir, "home");
      mkdirSync(home);
      const before = s.tree();
      const term = await Term.start(shell, { dir: s.dir, home, cwd: s.work, state: s.state });
      try {
        await term.run(`rm keep; ${dyn} unlink a; ${stat} unlink b`);
        assert.equal(term.prompts().at(-1), "p 0", term.screen());
        const sh = show(s);
        assert.deepEqual(
          sh.events.filter((e) => e.op === "notcaptured").map((e) => [e.path ?? "", (e.note ?? "").replace(/ by a program under the seccomp tier.*/, "")]),
          [
            [join(s.work, "a"), "not captured: io_uring: unlinkat"],
            ["", "not captured: io_uring: a ring set up"],
          ],
          term.screen(),
        );
        await term.run("shit undo --yes");
        assert.equal(term.prompts().at(-1), "p 10", term.screen());
        assert.match(term.screen(), /cannot undo: a: not captured: io_uring: unlinkat/);
        const want = before.filter((e) => e.path !== "a" && e.path !== "b");
        assert.equal(sameTree(want, s.tree()), "", `keep restored, a and b left as the line left them:\n${term.screen()}`);
      } catch (e) {
        addContext(e, `\n--- ${shell} ---\n${term.screen()}`);
        throw e;
      } finally {
        term.kill();
      }
    },
  );
