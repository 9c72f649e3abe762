// Completions: real bash, zsh and fish under tmux, hooked by `shit init` (which loads the
// completion at the first <TAB>), completing `shit un<TAB>` to undo and the ids of recorded
// commands, with their command lines where the shell shows descriptions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { sandbox, out, until, addContext } from "./helpers.ts";
import { SHELLS, Term, userRc, type ShellName } from "./term.ts";

const keys = (t: Term, ...k: string[]) => {
  for (const key of k) {
    const r = spawnSync("tmux", ["-S", t.sock, "send-keys", ...(key.length > 1 && /^[A-Z]/.test(key) ? [key] : ["-l", key])], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`tmux send-keys: ${r.stderr}`);
  }
};
const prompt: Record<ShellName, string> = { bash: "$ ", zsh: "% ", fish: "> " };
/** The line being edited: the last line on screen that starts with the prompt (tmux drops trailing spaces). */
const editLine = (t: Term) =>
  t
    .screen()
    .split("\n")
    .filter((l) => l.startsWith(prompt[t.shell].trimEnd()))
    .at(-1) ?? "";

/** Waits until the screen has not changed for a while (a completion that runs `shit` has ended). */
async function settle(t: Term, quietMs = 500): Promise<void> {
  let last = t.screen();
  let since = Date.now();
  await until("the screen to settle", () => {
    const now = t.screen();
    if (now !== last) [last, since] = [now, Date.now()];
    return Date.now() - since >= quietMs;
  });
}

for (const shell of SHELLS) {
  test(`completion: ${shell} completes shit und<TAB> to undo, and shit show <TAB> to recorded ids`, async (tc) => {
    const s = sandbox(tc);
    const home = join(s.dir, "home");
    mkdirSync(home, { recursive: true });
    // zsh completes only with compinit, which users run in their .zshrc (here before the hook)
    // bash lists the candidates at the first <TAB> (show-all-if-ambiguous): a second <TAB> typed
    // while the completion still runs is lost by readline, and a slow machine cannot time it
    const pre = { zsh: "autoload -Uz compinit && compinit -u", bash: "bind 'set show-all-if-ambiguous on'", fish: "" }[shell];
    const rc = userRc(shell, "@PROMPTLOG@", pre);
    const t = await Term.start(shell, { dir: s.dir, home, cwd: s.work, state: s.state, rc });
    tc.after(() => t.kill());
    try {
      await t.run("echo one > f1");
      await t.run("echo two > f2");
      const list = s.shit(["list", "--json"]);
      const full = (JSON.parse(list.stdout) as { id: string; line: string | null }[]).filter((c) => /echo (one|two)/.test(c.line ?? "")).map((c) => c.id);
      assert.equal(full.length, 2, out(list));
      // as typed: long enough to tell the two apart
      let n = 8;
      while (full[0].slice(0, n) === full[1].slice(0, n)) n++;
      const ids = full.map((id) => id.slice(0, n));

      // `un` is also unpin's beginning: und is undo's own
      keys(t, "shit und", "Tab");
      await until(
        () => `shit undo on the line; screen:\n${t.screen()}`,
        () => editLine(t).trimEnd() === `${prompt[shell]}shit undo`,
      );
      keys(t, "C-u");
      await until(
        () => `an empty line; screen:\n${t.screen()}`,
        () => editLine(t).trimEnd() === prompt[shell].trimEnd(),
      );

      // two candidates: zsh and fish list them at the first <TAB>, with the command line, and bash
      // as set above; zsh when it first inserts what they have in common, at the second
      keys(t, "shit show ", "Tab");
      if (shell === "zsh") {
        await settle(t);
        if (!ids.every((id) => t.screen().includes(id))) keys(t, "Tab");
      }
      await until(
        () => `both ids offered; screen:\n${t.screen()}`,
        () => ids.every((id) => t.screen().includes(id)),
      );
      assert.ok(
        ids.every((id) => id.startsWith(editLine(t).slice(`${prompt[shell]}shit show `.length))),
        "what is inserted begins both",
      );
      if (shell !== "bash") {
        const text = t.screen();
        const at = text.indexOf(ids[0], text.indexOf("\n", text.lastIndexOf("shit show")));
        assert.match(text.slice(at, at + 40), /^\S+\s+\(?-*\s*echo two > f2/, `the newest id's command line is its description; screen:\n${text}`);
      }
      // an id typed up to where it differs from the other is completed in full
      let d = 0;
      while (ids[0][d] === ids[1][d]) d++;
      if (d + 1 < ids[0].length) {
        keys(t, "C-u", `shit undo ${ids[0].slice(0, d + 1)}`, "Tab");
        await until(
          () => `${ids[0]} completed; screen:\n${t.screen()}`,
          () => editLine(t) === `${prompt[shell]}shit undo ${ids[0]}`,
        );
      }
      keys(t, "C-u");
    } catch (e) {
      addContext(e, `\n--- ${shell} screen ---\n${t.screen()}`);
      throw e;
    }
  });
}

test("completion: the scripts are made from the definitions: every verb and option of --help, choices, no hidden verbs", (t) => {
  const s = sandbox(t);
  const help = s.shit(["--help"]).stdout;
  const verbs = [...help.matchAll(/^ {2}([a-z][\w-]*)(?:\|(\S+))?/gm)].flatMap((m) => [m[1], ...(m[2] ? [m[2]] : [])]);
  assert.ok(verbs.includes("undo") && verbs.includes("config") && verbs.includes("log"), help);
  for (const sh of ["bash", "zsh", "fish"]) {
    const r = s.shit(["completion", sh]);
    assert.equal(r.status, 0, out(r));
    for (const v of verbs) assert.match(r.stdout, new RegExp(`\\b${v}\\b`), `${sh}: verb ${v}`);
    for (const v of verbs.filter((v) => v !== "help")) {
      const opts = [...s.shit([v, "--help"]).stdout.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);
      for (const o of opts) assert.ok(r.stdout.includes(sh === "fish" ? `-l ${o.slice(2)}` : o), `${sh}: ${v} ${o}`);
    }
    assert.match(r.stdout, /stop skip/, `${sh}: the choices of --on-conflict`);
    assert.doesNotMatch(r.stdout, /__man|'__complete'/, `${sh}: hidden verbs stay hidden`);
  }
  const bad = s.shit(["completion", "tcsh"]);
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.split("\n").length, 2, "one line");
});
