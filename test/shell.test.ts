// Shell hooks: real bash, zsh and fish under a pseudo-terminal (tmux), typed at, then undone.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { sandbox, sameTree, root, until, mountTmpfs, fill, busybox, type Ends, type Sandbox, addContext } from "./helpers.ts";
import { manifest } from "../dist/manifest.js";
import { SHELLS, Term, userRc, type ShellName } from "./term.ts";
import { Op, Tag, readRecords } from "../dist/spool/records.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Journal records of one kind written by the hooks under this state dir. */
function journal(s: Sandbox, kind: string): Array<Map<string, string>> {
  const dir = join(s.state, "spool");
  const out: Array<Map<string, string>> = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith(".shell"))
    .sort()) {
    for (const rec of readFileSync(join(dir, f), "latin1").split("\x1eshit1\0").slice(1)) {
      const m = new Map<string, string>();
      for (const field of rec.split("\0")) {
        const i = field.indexOf("=");
        if (i > 0) m.set(field.slice(0, i), field.slice(i + 1));
      }
      if (m.get("k") === kind) out.push(m);
    }
  }
  return out;
}

async function withShell(
  tc: Ends,
  shell: ShellName,
  fn: (t: Term, s: Sandbox, home: string) => Promise<void>,
  o: { rc?: (log: string) => string; env?: Record<string, string> } = {},
): Promise<void> {
  const s = sandbox(tc);
  const home = join(s.dir, "home");
  mkdirSync(home, { recursive: true });
  let t: Term | undefined;
  try {
    t = await Term.start(shell, { dir: s.dir, home, cwd: s.work, state: s.state, rc: o.rc?.("@PROMPTLOG@"), env: o.env });
    await fn(t, s, home);
  } catch (e) {
    if (t) addContext(e, `\n--- ${shell} screen ---\n${t.screen()}`);
    throw e;
  } finally {
    t?.kill();
  }
}

// the same user actions in each shell's own words
const LINES: Record<ShellName, { heredoc: string; bg: string; cdsub: string; setvar: string; alias: string; opt?: string; probe: (f: string) => string }> = {
  bash: {
    heredoc: "cat > hd <<'EOF'\nline one\nline two\nEOF",
    bg: "(sleep 0.3; rm bg) &",
    cdsub: "mkdir -p sub && cd sub",
    setvar: "export FOO=bar; unset GONE",
    alias: "alias zz='echo zz'",
    opt: "set -o noclobber",
    probe: (f) => `printf '%s|%s|%s|%s%s\\n' "$PWD" "\${FOO-unset}" "\${GONE-unset}" "\${BASH_ALIASES[zz]-none}" "$([[ -o noclobber ]] && echo +nc)" >| ${f}`,
  },
  zsh: {
    heredoc: "cat > hd <<'EOF'\nline one\nline two\nEOF",
    bg: "(sleep 0.3; rm bg) &",
    cdsub: "mkdir -p sub && cd sub",
    setvar: "export FOO=bar; unset GONE",
    alias: "alias zz='echo zz'",
    opt: "setopt noclobber",
    probe: (f) => `printf '%s|%s|%s|%s%s\\n' "$PWD" "\${FOO-unset}" "\${GONE-unset}" "\${aliases[zz]-none}" "$([[ -o noclobber ]] && echo +nc)" >| ${f}`,
  },
  fish: {
    heredoc: "printf '%s\\n' 'line one' 'line two' > hd",
    bg: "sh -c 'sleep 0.3; rm bg' &",
    cdsub: "mkdir -p sub; and cd sub",
    setvar: "set -gx FOO bar; set -e GONE",
    alias: "alias zz 'echo zz'",
    probe: (f) =>
      `printf '%s|%s|%s|%s\\n' "$PWD" (set -q FOO; and echo $FOO; or echo unset) (set -q GONE; and echo $GONE; or echo unset) (functions -q zz; and echo 'echo zz'; or echo none) > ${f}`,
  },
};

for (const shell of SHELLS) {
  describe(`${shell} hook`, () => {
    test(`${shell}: each command typed at the prompt is undone, tree for tree`, async (tc) => {
      // the user's rc has strict options that break careless hooks
      const strict = shell === "bash" ? "set -u -o pipefail" : shell === "zsh" ? "setopt no_unset ksh_arrays err_return" : "";
      await withShell(
        tc,
        shell,
        async (t, s) => {
          s.sh(
            "echo old > notes.txt; mkdir -p dir/deep; echo 1 > dir/deep/x; ln -s deep dir/link; mkdir dir/empty; echo a > a; echo f > f; echo h > hd; echo bg > bg",
          );
          const steps = ["echo new > notes.txt", "rm -rf dir", "mv a b", "printf x >> f", LINES[shell].heredoc];
          for (const line of steps) {
            const before = s.tree();
            await t.run(line);
            assert.notEqual(sameTree(before, s.tree()), "", `${line}: changed nothing`);
            await t.run("shit undo --yes");
            assert.equal(sameTree(before, s.tree()), "", `${shell}: after undo of ${JSON.stringify(line)}`);
          }
          // a background job: its id is inherited, its effects land after the prompt came back
          const before = s.tree();
          await t.run(LINES[shell].bg);
          await until("the background job", () => !existsSync(join(s.work, "bg")));
          await sleep(100);
          await t.run("shit undo --yes");
          assert.equal(sameTree(before, s.tree()), "", `${shell}: after undo of the background job`);
          // redo puts it forward again, and that is undone in turn
          await t.run("shit redo --yes");
          assert.ok(!existsSync(join(s.work, "bg")), "redo removed bg again");
          await t.run("shit undo --yes");
          assert.equal(sameTree(before, s.tree()), "");
          // the shell's own prompt hooks and history were not recorded as anyone's effects
          const list = JSON.parse(s.shit(["list", "--json", "--all"]).stdout) as Array<{ line?: string; effects: Record<string, number> }>;
          const typed = list.filter((c) => c.line !== undefined);
          assert.ok(
            typed.some((c) => c.line === "echo new > notes.txt"),
            "the line as typed is recorded",
          );
          for (const c of typed.filter((c) => /^shit (undo|redo)/.test(c.line ?? "")))
            assert.equal(c.effects.modified + c.effects.created + c.effects.deleted, 0, `${c.line} itself changed nothing`);
        },
        { rc: (log) => userRc(shell, log, strict) },
      );
    });

    test(`${shell}: undoing cd, variables, aliases${shell === "fish" ? "" : " and options"} puts the shell back`, async (tc) => {
      await withShell(
        tc,
        shell,
        async (t, s) => {
          const L = LINES[shell];
          const probe = join(s.state, "probe"); // capture leaves the state dir alone: probing is no effect
          const state = async () => {
            await t.run(L.probe(probe));
            return readFileSync(probe, "utf8").trim();
          };
          const start = await state();
          assert.equal(start, `${s.work}|unset|here|none`);
          await t.run(L.cdsub);
          await t.run(L.setvar);
          await t.run(L.alias);
          if (L.opt) await t.run(L.opt);
          const changed = await state();
          assert.equal(changed, `${join(s.work, "sub")}|bar|unset|echo zz${L.opt ? "+nc" : ""}`);
          if (L.opt) await t.run("shit undo --yes");
          await t.run("shit undo --yes"); // the alias
          await t.run("shit undo --yes"); // the variables
          await t.run("shit undo --yes"); // mkdir + cd
          assert.equal(await state(), start);
          assert.ok(!existsSync(join(s.work, "sub")), "the directory the command made is gone");
          await t.run("shit redo --yes"); // mkdir + cd again
          assert.equal((await state()).split("|")[0], join(s.work, "sub"));
        },
        { env: { GONE: "here" } },
      );
    });

    test(`${shell}: a change made after the command by a writer outside capture is a conflict, for the command and for an undo`, async (tc) => {
      await withShell(tc, shell, async (t, s) => {
        // an IDE saving a file: a process started by the harness, without the shim or an id
        const outside = (f: string, text: string) => {
          const r = spawnSync(
            "env",
            ["-u", "LD_PRELOAD", "-u", "SHIT_CMD", "python3", "-c", `open(${JSON.stringify(join(s.work, f))}, "w").write(${JSON.stringify(text)})`],
            {
              encoding: "utf8",
            },
          );
          assert.equal(r.status, 0, r.stderr);
        };
        const read = (f: string) => readFileSync(join(s.work, f), "utf8");
        const status = () => t.prompts().at(-1);
        // "after the command" means after its end scan is on record (the prompt can come back a
        // hair before the harness sees it): wait for a POST record of the path, then write
        const scans = (f: string) => {
          const want = Buffer.from(join(s.work, f));
          let n = 0;
          for (const name of readdirSync(join(s.state, "spool")).filter((x) => x.endsWith(".spool")))
            for (const r of readRecords(readFileSync(join(s.state, "spool", name))).records) if (r.op === Op.POST && r.fields.get(Tag.PATH)?.equals(want)) n++;
          return n;
        };
        const afterScan = async (f: string, before: number, text: string) => {
          await until(`the end scan of ${f}`, () => scans(f) > before);
          outside(f, text);
        };
        s.sh("echo orig > ide.txt; echo orig > kid.txt; echo orig > re.txt");
        // the shell's own redirection, and a child process writing
        let seen = scans("ide.txt");
        await t.run("echo mine > ide.txt");
        await afterScan("ide.txt", seen, "the IDE's bytes\n");
        await t.run("shit undo --yes");
        assert.equal(status(), "p 3", "undo of the shell's own write stops on the later change");
        assert.equal(read("ide.txt"), "the IDE's bytes\n");
        seen = scans("kid.txt");
        await t.run("cp ide.txt kid.txt");
        await afterScan("kid.txt", seen, "saved again\n");
        await t.run("shit undo --yes");
        assert.equal(status(), "p 3", "undo of a child's write stops on the later change");
        assert.equal(read("kid.txt"), "saved again\n");
        // an undo of an undo (redo): what shit-apply left is checked the same way
        await t.run("echo two > re.txt");
        seen = scans("re.txt");
        await t.run("shit undo --yes");
        assert.equal(read("re.txt"), "orig\n");
        await afterScan("re.txt", seen, "edited after the undo\n");
        await t.run("shit redo --yes");
        assert.equal(status(), "p 3", "redo stops on the change made after the undo");
        assert.equal(read("re.txt"), "edited after the undo\n");
      });
    });

    test(`${shell}: the user's own prompt hooks run once each, with the user's status; init twice hooks once`, async (tc) => {
      await withShell(
        tc,
        shell,
        async (t, s) => {
          await t.run("true");
          await t.run("false");
          await t.run("echo x > y");
          const p = t.prompts();
          assert.deepEqual(p, ["p 0", "p 0", "p 1", "p 0"], "one prompt line per prompt, with $?");
          const pre = readFileSync(t.promptLog + ".pre", "utf8")
            .trim()
            .split("\n");
          // bash's DEBUG trap also sees the rc's and the prompt hooks' commands: the typed ones, once each, in order
          const typedPre = shell === "bash" ? pre.filter((l) => ["x true", "x false", "x echo x > y"].includes(l)) : pre;
          assert.deepEqual(typedPre, ["x true", "x false", "x echo x > y"], "the user's preexec ran once per command");
          const runs = journal(s, "run");
          assert.deepEqual(
            runs.map((r) => r.get("line")?.trim()),
            ["true", "false", "echo x > y"],
            "one journal record per command",
          );
          assert.deepEqual(
            runs.map((r) => r.get("exit")),
            ["0", "1", "0"],
          );
          assert.equal(new Set(runs.map((r) => r.get("id"))).size, 3, "each command its own id");
          assert.equal(new Set(runs.map((r) => r.get("id")?.slice(0, 8))).size, 3, "and its own first eight digits, which shit prints");
          await t.run(`shit status > ${join(s.dir, "status")}`);
          const st = readFileSync(join(s.dir, "status"), "utf8");
          assert.match(st, new RegExp(`^hooked: ${shell} \\(pid ${t.pid()}\\)`, "m"));
          assert.match(st, /redirections .* are captured/);
        },
        {
          // bash: the user's PROMPT_COMMAND as an array, and a DEBUG trap of their own (a preexec)
          rc: (log) =>
            shell === "bash"
              ? userRc(
                  shell,
                  log,
                  `PROMPT_COMMAND=('echo "p $?" >> "${log}"')\ntrap '[[ $BASH_COMMAND == echo\\ \\"p* ]] || echo "x $BASH_COMMAND" >> "${log}.pre"' DEBUG`,
                  2,
                ).replace(/^PROMPT_COMMAND='.*'$/m, "")
              : userRc(shell, log, "", 2),
        },
      );
    });
  });
}

test("bash: exec keeps the session; a setuid program typed at the prompt is recorded as not captured", async (tc) => {
  await withShell(tc, "bash", async (t, s) => {
    s.sh("echo old > fa");
    await t.run("echo new > fa");
    await t.run("exec bash");
    await t.run("shit undo --yes");
    assert.equal(readFileSync(join(s.work, "fa"), "utf8"), "old\n", "the exec'd shell undoes the command typed before the exec");
    if (process.getuid?.() === 0) return; // root's own setuid-root programs run with the shim: nothing to flag
    await t.run("su --help > /dev/null");
    const list = JSON.parse(s.shit(["list", "--json"]).stdout) as Array<{ id: string; line?: string }>;
    const su = list.find((c) => c.line === "su --help > /dev/null");
    assert.ok(su, "the su line is recorded");
    const show = s.shit(["show", su.id]);
    assert.match(show.stdout, /not captured/i, show.stdout);
    assert.match(show.stdout, /setuid/, show.stdout);
  });
});

// A later change outside capture is a conflict however the line was recorded: a bash that is not
// preloaded (no end scan: the ctime check, past its slack on the command's end time), and in
// each shell with the daemon ingesting meanwhile.
const laterChange: Array<{ shell: ShellName; how: string; env: Record<string, string> }> = [
  { shell: "bash", how: "bash not preloaded (no end scan): a change after the command, outside capture, is still a conflict", env: { SHIT_NO_REEXEC: "1" } },
  ...SHELLS.map((shell) => ({
    shell,
    how: `${shell} with the daemon on: a change made after the command, outside capture, is a conflict`,
    env: { SHIT_DAEMON: "on", SHIT_DAEMON_IDLE_MS: "20000" },
  })),
];
for (const { shell, how, env } of laterChange) {
  test(how, async (tc) => {
    await withShell(
      tc,
      shell,
      async (t, s) => {
        s.sh("echo orig > f; echo src > src");
        await t.run("cp src f");
        assert.equal(journal(s, "run").length, 1);
        await sleep(300); // past the slack on the command's end time
        const r = spawnSync("env", ["-u", "LD_PRELOAD", "-u", "SHIT_CMD", "sh", "-c", `echo "the IDE's bytes" > ${join(s.work, "f")}`]);
        assert.equal(r.status, 0);
        await t.run("shit undo --yes");
        assert.equal(t.prompts().at(-1), "p 3", t.screen());
        assert.equal(readFileSync(join(s.work, "f"), "utf8"), "the IDE's bytes\n");
        if (env.SHIT_DAEMON === "on") {
          const ping = s.shit(["daemon", "status"]);
          assert.match(ping.stdout, /^shitd is running \(pid \d+/m, "the daemon ran meanwhile");
        }
      },
      { env },
    );
  });
}

// With the daemon on, the watcher sees an undo's closing pass set the times of the directories it
// changed things in (no records of their own): that is the undo's, not an untracked change of
// the shell line that ran it, which the next `shit undo` would then pick and refuse (exit 6).
test("bash with the daemon on: shit undo typed four times undoes the four latest commands, tree for tree", async (tc) => {
  await withShell(
    tc,
    "bash",
    async (t, s) => {
      s.sh("mkdir t; for i in $(seq 5); do echo $i > t/p$i; done; echo a > a; echo b > b; echo old > notes.txt");
      const trees = [s.tree()];
      for (const line of ["rm -rf t", "echo new > notes.txt", "mv a b", "cp b c"]) {
        await t.run(line);
        trees.push(s.tree());
      }
      await until(
        "the daemon watching",
        () => existsSync(join(s.state, "run/shitd.log")) && readFileSync(join(s.state, "run/shitd.log"), "utf8").includes("watching"),
      );
      for (let i = 3; i >= 0; i--) {
        await t.run("shit undo --yes");
        assert.equal(t.prompts().at(-1), "p 0", t.screen());
        assert.equal(sameTree(trees[i], s.tree()), "", t.screen());
      }
    },
    { env: { SHIT_DAEMON: "on", SHIT_DAEMON_IDLE_MS: "20000" } },
  );
});

test("bash: a background job writing after its line's end scan is the command's own change, not a conflict", async (tc) => {
  await withShell(tc, "bash", async (t, s) => {
    s.sh("echo orig > f");
    const before = s.tree();
    await t.run("echo x > f; (sleep 0.3; echo y >> f) &");
    await until("the background append", () => readFileSync(join(s.work, "f"), "utf8") === "x\ny\n");
    await sleep(300);
    await t.run("shit undo --yes");
    assert.equal(t.prompts().at(-1), "p 0");
    assert.equal(sameTree(before, s.tree()), "");
  });
});

test("two shells side by side: shit undo in one leaves the other's command alone", async (t) => {
  const s = sandbox(t);
  const home = join(s.dir, "home");
  mkdirSync(home, { recursive: true });
  let a: Term | undefined, b: Term | undefined;
  try {
    a = await Term.start("bash", { dir: s.dir, home, cwd: s.work, state: s.state });
    b = await Term.start("zsh", { dir: s.dir, home, cwd: s.work, state: s.state });
    s.sh("echo a-old > fa; echo b-old > fb");
    await a.run("echo a-new > fa");
    await b.run("echo b-new > fb");
    await a.run("shit undo --yes");
    assert.equal(readFileSync(join(s.work, "fa"), "utf8"), "a-old\n");
    assert.equal(readFileSync(join(s.work, "fb"), "utf8"), "b-new\n", "the other shell's later command is left alone");
    await b.run(`shit list --here --json > ${join(s.state, "here.json")}`);
    const here = JSON.parse(readFileSync(join(s.state, "here.json"), "utf8")) as Array<{ line: string }>;
    assert.ok(here.length >= 1 && here.every((c) => c.line !== "echo a-new > fa"), "list --here shows only this shell's commands");
    assert.ok(here.some((c) => c.line === "echo b-new > fb"));
    await b.run("shit undo --yes");
    assert.equal(readFileSync(join(s.work, "fb"), "utf8"), "b-old\n");
    // --global reaches the latest of any shell: the redo in a is bash's; undo --global from b takes it
    await a.run("shit redo --yes");
    assert.equal(readFileSync(join(s.work, "fa"), "utf8"), "a-new\n");
  } catch (e) {
    addContext(e, `\n--- a ---\n${a?.screen()}\n--- b ---\n${b?.screen()}`);
    throw e;
  } finally {
    a?.kill();
    b?.kill();
    s.cleanup();
  }
});

// `shit run` typed at a real terminal, in a shell with no hook: the command has the terminal
// (stdin, stdout and stderr are the shell's tty), the terminal's Ctrl-C reaches it and its
// handler, its exit status is the shell's $?, and what it changed is undone.
test("shit run at a terminal: the command has the tty, Ctrl-C reaches it, its exit status passes through, its changes are undone", async (tc) => {
  await withShell(
    tc,
    "bash",
    async (t, s) => {
      const status = () => t.prompts().at(-1);
      s.sh("echo old > f; echo keep > g");
      const before = s.tree();
      await t.run(`shit run -- sh -c 'test -t 0 && test -t 1 && test -t 2 && [ "$(tty)" = "$0" ] && echo new > f' "$(tty)"`);
      assert.equal(status(), "p 0", "the command's stdin, stdout and stderr are the shell's terminal");
      assert.equal(readFileSync(join(s.work, "f"), "utf8"), "new\n");
      await t.run("shit run -- sh -c 'test -t 0' < /dev/null");
      assert.equal(status(), "p 1", "stdin from /dev/null is no tty (the check above can fail)");
      await t.run("shit run -- sh -c 'exit 42'");
      assert.equal(status(), "p 42");
      // Ctrl-C from the terminal: the command's trap runs, and its exit status is the shell's
      const n = t.prompts().length;
      spawnSync("tmux", ["-S", t.sock, "send-keys", "-l", `shit run -- sh -c 'rm g; trap "echo got-int; exit 7" INT; echo waiting; sleep 30'`]);
      spawnSync("tmux", ["-S", t.sock, "send-keys", "Enter"]);
      await until("the command waiting", () => t.screen().split("\n").includes("waiting") && !existsSync(join(s.work, "g")));
      spawnSync("tmux", ["-S", t.sock, "send-keys", "C-c"]);
      await t.waitPrompts(n + 1, 10000); // well before the sleep ends
      assert.match(t.screen(), /^(\^C)?got-int$/m, "the command's INT trap ran");
      assert.equal(status(), "p 7", "the trap's exit status passes through");
      const list = JSON.parse(s.shit(["list", "--json"]).stdout) as Array<{ id: string; exit: number | null; argv: string[] }>;
      const [int, first] = [list[0], list.at(-1)!];
      assert.deepEqual([int.exit, int.argv.at(-1)], [7, 'rm g; trap "echo got-int; exit 7" INT; echo waiting; sleep 30'], "recorded with its exit");
      assert.equal(list.length, 4, JSON.stringify(list));
      // undo the interrupted command, then the first one: the tree from before
      await t.run(`shit undo --yes ${int.id}`);
      assert.equal(status(), "p 0");
      assert.equal(readFileSync(join(s.work, "g"), "utf8"), "keep\n", "the file removed before the Ctrl-C is back");
      await t.run(`shit undo --yes ${first.id}`);
      assert.equal(status(), "p 0");
      assert.equal(sameTree(before, s.tree()), "");
    },
    { rc: (log) => userRc("bash", log, "", 0) },
  );
});

test("the hook does nothing in non-interactive shells and scripts", (t) => {
  const s = sandbox(t);
  const bin = join(root, "bin", "shit");
  const env = { ...s.env, HOME: s.dir };
  const run = (argv: string[]) => spawnSync(argv[0], argv.slice(1), { cwd: s.work, env, encoding: "utf8" });
  writeFileSync(join(s.dir, "rc"), `eval "$(${bin} init bash)"\necho "hooked=\${__shit_hooked-no} cmd=\${SHIT_CMD-unset}"\n`);
  assert.equal(run(["bash", "-c", `source ${join(s.dir, "rc")}`]).stdout.trim(), "hooked=no cmd=unset");
  assert.equal(run(["zsh", "-fc", `eval "$(${bin} init zsh)"; echo "hooked=\${__shit_hooked-no}"`]).stdout.trim(), "hooked=no");
  assert.equal(run(["fish", "-c", `${bin} init fish | source; set -q __shit_hooked; and echo hooked; or echo no`]).stdout.trim(), "no");
  assert.ok(!existsSync(join(s.state, "spool")) || readdirSync(join(s.state, "spool")).length === 0, "nothing recorded");
  // unknown shells are bad input; --help says how to remove it
  const bad = s.shit(["init", "tcsh"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /tcsh.*bash, zsh, fish/);
  assert.match(s.shit(["init", "--help"]).stdout, /To remove it/);
  // status outside a hooked shell: exit 1 and how to hook
  const st = s.shit(["status"]);
  assert.equal(st.status, 1);
  assert.match(st.stdout, /not hooked/);
});

// Issue 12, items 4-5 at a hooked prompt: the typed command is killed mid-way (kill -9 of the rm,
// and separately of the whole shell with it): undo, from a new shell, brings every file back.
// Slowed down so the kill lands mid-way: one rm per directory, in each shell's own words.
const SLOW_RM: Record<ShellName, string> = {
  bash: "for d in t/d*; do rm -rf $d; sleep 0.3; done; rmdir t",
  zsh: "for d in t/d*; do rm -rf $d; sleep 0.3; done; rmdir t",
  fish: "for d in t/d*; rm -rf $d; sleep 0.3; end; rmdir t",
};
for (const shell of SHELLS)
  for (const what of ["the command", "the shell and the command"] as const) {
    test(`${shell}: kill -9 of ${what} during a typed rm -rf; undo from a new shell brings every file back`, async (tc) => {
      const s = sandbox(tc);
      const home = join(s.dir, "home");
      mkdirSync(home, { recursive: true });
      s.sh(`mkdir t; for i in $(seq 20); do mkdir t/d$i; for j in $(seq 150); do echo "$i $j" > t/d$i/f$j; done; done`);
      const before = s.tree();
      let a: Term | undefined, b: Term | undefined;
      try {
        a = await Term.start(shell, { dir: s.dir, home, cwd: s.work, state: s.state });
        spawnSync("tmux", ["-S", a.sock, "send-keys", "-l", SLOW_RM[shell]]);
        spawnSync("tmux", ["-S", a.sock, "send-keys", "Enter"]);
        await until("a few directories removed", () => readdirSync(join(s.work, "t")).length <= 15);
        const shellPid = a.pid();
        // before its journal record, the line's process to watch is the shell it was typed in
        // (the SHELL field of its EXEC records): it runs while the shell does
        const running = JSON.parse(s.shit(["list", "--json"]).stdout) as Array<{ id: string; running: boolean; processes: Array<{ pid: number }> }>;
        assert.equal(running.length, 1);
        assert.equal(running[0].running, true);
        assert.ok(
          running[0].processes.some((p) => p.pid === shellPid),
          JSON.stringify(running[0].processes),
        );
        if (what === "the command") {
          // the for loop runs in the shell itself; its children are the rm and sleep processes
          spawnSync("pkill", ["-KILL", "-P", String(shellPid)]);
          spawnSync("kill", ["-INT", String(shellPid)]); // Ctrl-C ends the loop, as a user would
          await a.waitPrompts(2);
        } else {
          spawnSync("pkill", ["-KILL", "-P", String(shellPid)]);
          process.kill(shellPid, "SIGKILL");
          a.kill();
          a = undefined;
        }
        assert.ok(readdirSync(join(s.work, "t")).length < 20, "some directories were removed before the kill");
        if (what !== "the command") {
          const [c] = JSON.parse(s.shit(["list", "--json"]).stdout) as Array<{ running: boolean; exit: number | null; ended: string | null }>;
          assert.deepEqual([c.running, c.exit, !!c.ended], [false, null, true], "its shell gone, the line is ended: killed, exit unknown");
        }
        b = await Term.start(shell, { dir: s.dir, home, cwd: s.work, state: s.state });
        await b.run(`shit list --all --json > ${join(s.dir, "list.out")}; shit undo --global --yes > ${join(s.dir, "undo.out")} 2>&1`);
        const said = readFileSync(join(s.dir, "undo.out"), "utf8") + readFileSync(join(s.dir, "list.out"), "utf8");
        assert.equal(b.prompts().at(-1), "p 0", said);
        assert.equal(sameTree(before, s.tree()), "", said);
      } catch (e) {
        addContext(e, `\n--- ${shell} screens ---\n${a?.screen() ?? ""}\n---\n${b?.screen() ?? ""}`);
        throw e;
      } finally {
        a?.kill();
        b?.kill();
      }
    });
  }

// A full disk under a hooked prompt (root: two 2 MiB tmpfs, the work dir and the state dir on
// each). Each line is typed twice on a disk filled to the last byte: in a shell without the hook
// (the reference) and in a hooked one. The hooked shell's user sees the same: output, error
// messages, exit status. Then, with room again, undo in the hooked shell brings back every byte.
const fullDiskShells: Array<{ shell: ShellName; daemon: boolean }> = [...SHELLS.map((shell) => ({ shell, daemon: false })), { shell: "bash", daemon: true }];
for (const { shell, daemon } of fullDiskShells)
  test(`${shell}${daemon ? " with the daemon on" : ""}: commands typed on a full disk (root: tmpfs) behave as without shit: output and status; undo with room again brings the tree back`, async (tc) => {
    const s = sandbox(tc);
    const [plain, hooked] = [join(s.dir, "plain"), join(s.dir, "hooked")];
    for (const fs of [plain, hooked]) {
      const no = mountTmpfs(s, fs, "2m");
      if (no) return tc.skip(no);
      s.sh(
        `mkdir -p ${fs}/w/t ${fs}/w/u ${fs}/home && cd ${fs}/w && for i in $(seq 40); do head -c 3000 /dev/urandom > t/p$i; head -c 3000 /dev/urandom > u/q$i; done; echo old > notes.txt; echo old > more.txt; echo a > a; echo b > b; head -c 3000 /dev/urandom > big`,
      );
    }
    const term = (fs: string, rc?: (log: string) => string) =>
      Term.start(shell, {
        dir: s.dir,
        home: join(s.dir, `home-${fs === plain ? "plain" : "hooked"}`),
        cwd: join(fs, "w"),
        state: join(fs, "state"),
        rc: rc?.("@PROMPTLOG@"),
        env: daemon ? { SHIT_DAEMON: "on", SHIT_DAEMON_IDLE_MS: "20000" } : {},
      });
    let a: Term | undefined, b: Term | undefined;
    try {
      a = await term(plain, (log) => userRc(shell, log, "", 0));
      b = await term(hooked);
      await a.run("true");
      await b.run("true"); // the state dir is made, as in a shell that has run a command
      const before = manifest(join(hooked, "w"), { self: true, xattrs: true });
      // busybox-static: a static program the hooked shell hands to the seccomp tier
      const lines = [
        "rm -rf t",
        "echo new > notes.txt",
        "mv a b",
        "cp big big2",
        ...(busybox ? [`${busybox} rm -rf u`, `${busybox} sh -c 'echo new > more.txt'`] : []),
      ];
      for (const line of lines) {
        fill(plain);
        fill(hooked);
        await a.run(line);
        await b.run(line);
      }
      const screen = (t: Term) => t.screen().replace(/\s+$/, "");
      assert.equal(screen(b), screen(a), "the same output on the terminal");
      assert.deepEqual(b.prompts(), a.prompts(), "the same exit statuses");
      fill(hooked, -1);
      for (let i = 0; i < lines.length; i++) {
        await b.run("shit undo --yes");
        assert.equal(b.prompts().at(-1), "p 0", b.screen());
      }
      assert.equal(sameTree(before, manifest(join(hooked, "w"), { self: true, xattrs: true })), "", b.screen());
      if (daemon) {
        const ping = spawnSync(join(root, "bin", "shit"), ["daemon", "status"], { env: { ...s.env, SHIT_HOME: join(hooked, "state") }, encoding: "utf8" });
        assert.match(ping.stdout, /^shitd is running \(pid \d+/m, "the daemon ran meanwhile");
      }
    } catch (e) {
      addContext(
        e,
        `\n--- ${shell} without the hook ---\n${a?.screen() ?? ""}\n--- hooked ---\n${b?.screen() ?? ""}` +
          `\n--- the hooked side's disk ---\n${spawnSync("sh", ["-c", `df -k ${hooked}; du -ak ${hooked} | sort -n | tail -15`], { encoding: "utf8" }).stdout}`,
      );
      throw e;
    } finally {
      a?.kill();
      b?.kill();
    }
  });

// The same once the reserve is spent (a disk that stays full): what capture could not keep is no
// longer guaranteed to be kept, but never lost silently: undone with room again, each command
// brings back what it kept, and every file not back is named by an undo that exits non-zero.
for (const shell of SHELLS)
  test(`${shell}: commands typed on a full disk, the reserve spent (root: tmpfs): undo with room again restores each file or names it and exits non-zero`, async (tc) => {
    const s = sandbox(tc);
    const fs = join(s.dir, "hooked");
    const no = mountTmpfs(s, fs, "2m");
    if (no) return tc.skip(no);
    const [w, state] = [join(fs, "w"), join(fs, "state")];
    s.sh(`mkdir -p ${w}/t && cd ${w} && for i in $(seq 40); do head -c 3000 /dev/urandom > t/p$i; done; echo old > notes.txt; echo a > a; echo b > b`);
    const home = join(s.dir, "home");
    mkdirSync(home);
    const t = await Term.start(shell, { dir: s.dir, home, cwd: w, state });
    try {
      await t.run("true");
      const before = manifest(w, { self: true, xattrs: true });
      spawnSync("truncate", ["-s", "0", join(state, "run/reserve")]);
      for (const line of ["rm -rf t", "echo new > notes.txt", "mv a b"]) {
        fill(fs);
        await t.run(line);
      }
      fill(fs, -1);
      const env = { ...s.env, SHIT_HOME: state };
      const shit = (args: string[]) => spawnSync(join(root, "bin", "shit"), args, { cwd: w, env, encoding: "utf8" });
      const cmds = JSON.parse(shit(["list", "--json", "--all"]).stdout) as Array<{ id: string; kind: string }>;
      const undos = cmds.filter((c) => c.kind === "run").map((c) => shit(["undo", "--yes", "--on-conflict", "skip", c.id]));
      const now = new Map(manifest(w, { self: true, xattrs: true }).map((e) => [e.path, JSON.stringify(e)]));
      const said = undos.map((u) => `exit ${u.status}\n${u.stdout}${u.stderr}`).join("\n");
      let named = 0;
      for (const e of before)
        if (e.type !== "dir" && now.get(e.path) !== JSON.stringify(e)) {
          const by = undos.find((u) => (u.stdout + u.stderr).includes(`cannot undo: ${e.path}: `));
          assert.ok(by, `${e.path} is not as before and no undo names it:\n${said}`);
          assert.notEqual(by.status, 0, said);
          named++;
        }
      tc.diagnostic(`${named} files named, the rest restored`);
    } catch (e) {
      addContext(e, `\n--- ${shell} ---\n${t.screen()}`);
      throw e;
    } finally {
      t.kill();
    }
  });
