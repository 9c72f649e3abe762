// `npm run bench` (bench/all.sh) gathers the rows each bench writes into one summary table, and a
// bench that fails shows as FAILED there without stopping the next. The real chain runs on a tiny
// selection; no figure is asserted (speed targets live in bench/, never in timed tests), only
// that a real run's row arrives with its target and a verdict.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root } from "./helpers.ts";

function allSh(env: Record<string, string>): { status: number | null; table: string; all: string } {
  const home = mkdtempSync(join(tmpdir(), "shit-bench-test."));
  try {
    const r = spawnSync("bash", ["bench/all.sh"], {
      cwd: root,
      env: { ...process.env, SHIT_HOME: home, SHIT_BENCH_SMALL: "1", SHIT_BENCH_DIR: home, ...env },
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    const i = r.stdout.indexOf("shit bench summary");
    return { status: r.status, table: i < 0 ? "" : r.stdout.slice(i), all: r.stdout + r.stderr };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

test("bench/all.sh: a real bench's row reaches the summary table with its target and verdict", () => {
  const r = allSh({ SHIT_BENCH_ONLY: "cpython" });
  assert.equal(r.status, 0, r.all);
  assert.match(
    r.table,
    /^cpython +CPython's file-system tests under shit run( \(2 suites\) +\d+\.\d{3}x \(median of 1\) +<= 1\.05x +(ok|MISSED)| +- +<= 1\.05x +skipped: .*)$/m,
    r.all,
  );
  assert.match(r.table, /^1 rows: 1 (ok|MISSED|skipped)$/m, r.all);
});

test("bench/all.sh: a bench that fails is a FAILED row and the next one still runs", () => {
  // a scratch dir that cannot be made: run.sh and cpython.py both fail for real
  const r = allSh({ SHIT_BENCH_ONLY: "run cpython", SHIT_BENCH_DIR: "/nonexistent/shit-bench" });
  assert.equal(r.status, 0, r.all);
  assert.match(r.table, /^run +bash bench\/run\.sh +- +- +FAILED: exited 1 \(its output is above\)$/m, r.all);
  assert.match(r.table, /^cpython +python3 bench\/cpython\.py test_glob test_fileio +- +- +FAILED: exited 1 /m, r.all);
  assert.match(r.table, /^2 rows: 2 FAILED$/m, r.all);
});
