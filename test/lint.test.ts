// Lint: the TypeScript of src/ and test/ is formatted as .prettierrc.json says (prettier --check),
// the C of native/ as .clang-format says (clang-format --dry-run --Werror), and the shell scripts
// are shellcheck-clean (a warning that is intended carries a targeted
// `# shellcheck disable=SCxxxx # reason`). Fails with the tools' own output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { root } from "./helpers.ts";

function files(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== "build") out.push(...files(p, ext));
    else if (e.isFile() && ext.test(e.name)) out.push(relative(root, p));
  }
  return out.sort();
}

function tool(cmd: string, apt: string): void {
  const r = spawnSync(cmd, ["--version"], { encoding: "utf8" });
  assert.ok(!r.error && r.status === 0, `${cmd} is not installed: apt-get install ${apt}`);
}

test("native/**/*.{c,h} are clang-formatted (.clang-format)", () => {
  tool("clang-format", "clang-format");
  const srcs = files(join(root, "native"), /\.[ch]$/);
  assert.ok(srcs.length > 0);
  const r = spawnSync("clang-format", ["--dry-run", "--Werror", ...srcs], { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `clang-format would change these (run: clang-format -i ${srcs.join(" ")}):\n${r.stderr.slice(0, 20000)}`);
});

test("the shell scripts are shellcheck-clean", () => {
  tool("shellcheck", "shellcheck");
  const scripts = [
    ...files(join(root, "scripts"), /\.sh$/),
    "bin/shit",
    ...files(join(root, "test", "native"), /\.sh$/),
    ...files(join(root, "bench"), /\.sh$/),
    ".ci/run",
  ];
  const r = spawnSync("shellcheck", ["-f", "gcc", ...scripts], { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `shellcheck ${scripts.join(" ")}:\n${r.stdout}${r.stderr}`);
});

test("src/ and test/ are prettier-formatted (.prettierrc.json)", () => {
  const bin = join(root, "node_modules", ".bin", "prettier");
  const r = spawnSync(bin, ["--check", "src/**/*.ts", "test/**/*.ts"], { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });
  assert.ok(!r.error, `prettier is not installed: npm install (it is a devDependency): ${r.error?.message}`);
  assert.equal(r.status, 0, `prettier would change these (run: npx prettier --write "src/**/*.ts" "test/**/*.ts"):\n${r.stdout}${r.stderr}`);
});
