// The native parts' own checks (each a script under test/native/ that prints its cases and
// exits non-zero on a failure): the shim against real tools, shit-run, shit-apply, and the
// interposed-symbol list against what the tools on this machine import.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { root } from "./helpers.ts";

const scripts: Array<[string, string[], NodeJS.ProcessEnv?]> = [
  ["shim against real tools (shim-smoke.sh)", ["test/native/shim-smoke.sh"], { BENCH: "0" }],
  ["shit-run: state dir, records, exit status, signals, end scan (run-smoke.sh)", ["test/native/run-smoke.sh"]],
  ["shit-apply: every step kind, conflicts, symlinked parents, resume after kill (apply-smoke.sh)", ["test/native/apply-smoke.sh"]],
  ["the shim exports every mutating symbol the tools here import (symbols-check.sh)", ["test/native/symbols-check.sh"]],
  ["programs that run outside capture (setuid/setgid, static) are said and recorded (exec-check.sh)", ["test/native/exec-check.sh"]],
];

for (const [name, argv, env] of scripts) {
  test(name, () => {
    const r = spawnSync(
      "bash",
      argv.map((a, i) => (i === 0 ? join(root, a) : a)),
      {
        cwd: root,
        encoding: "utf8",
        env: { ...process.env, ...env, SHIT_CMD: "", SHIT_STATE: "" },
        maxBuffer: 64 << 20,
      },
    );
    const fails = (r.stdout + r.stderr).split("\n").filter((l) => /^(FAIL|not ok)\b/.test(l) || /\bFAIL\b/.test(l));
    assert.equal(r.status, 0, `${argv[0]} exited ${r.status}\n${fails.join("\n")}\n--- tail\n${(r.stdout + r.stderr).slice(-3000)}`);
  });
}
