// Transparency: a real program's own test suite gives the same result under `shit run` as
// without it. Python's standard-library tests for the modules that do the most file work.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { sandbox, out } from "./helpers.ts";

const suites = ["test_shutil", "test_tempfile", "test_fileinput", "test_glob", "test_filecmp", "test_zipfile"];
const python = "/usr/bin/python3";
const haveSuite = spawnSync(python, ["-c", "import test.support"]).status === 0;

/** "test_x (module.Class.test_x) ... ok" lines, without timings, sorted. */
function results(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((l) => / \.\.\. (ok|skipped|FAIL|ERROR|expected failure)/.test(l))
    .map((l) => l.replace(/ \([0-9.]+s\)$/, ""))
    .sort();
}

test(
  "python's own tests: same results with and without shit run",
  { skip: !existsSync(python) || !haveSuite ? "python3 test suite not installed (libpython3-testsuite)" : false },
  (t) => {
    const s = sandbox(t);
    const argv = [python, "-m", "test", "-v", ...suites];
    const plain = spawnSync(argv[0], argv.slice(1), { cwd: s.work, env: s.env, encoding: "utf8", maxBuffer: 64 << 20 });
    const under = s.shit(["run", "--", ...argv]);
    assert.equal(under.status, plain.status, out(under));
    const a = results(plain.stdout),
      b = results(under.stdout);
    assert.ok(a.length > 300, `the suite ran (${a.length} results)`);
    assert.deepEqual(b, a);
    const listed = JSON.parse(s.shit(["list", "--json"]).stdout);
    assert.equal(listed[0].exit, plain.status);
  },
);
