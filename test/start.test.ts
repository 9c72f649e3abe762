// How the CLI starts: bin/shit runs the one-file bundle scripts/build.sh makes (dist/bundle/), which
// must be the same CLI as dist/'s modules and find everything they find; with no bundle, or one
// older than dist/cli/main.js (tsc run since the build), it runs dist/cli/main.js instead.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { out, root, sandbox, shitBin } from "./helpers.ts";

const bundle = join(root, "dist", "bundle", "main.cjs");
const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
// Node loads this before the program and it prints the program's path: which file bin/shit ran
const probe = { NODE_OPTIONS: "--import=data:text/javascript,console.error('main:'+process.argv[1])" };
const ran = (stderr: string) => /^main:(.*)$/m.exec(stderr)?.[1];

test("start: bin/shit runs the bundle the build made, and it is dist/'s CLI: same version, completion, man page, native files, lazy zod and jsdiff", (t) => {
  assert.ok(
    existsSync(bundle) && existsSync(join(root, "dist", "bundle", "shitd.js")),
    "the build made no bundle: npm install (esbuild is a devDependency), then npm run build",
  );
  const s = sandbox(t);
  const v = s.shit(["--version"], { env: { ...s.env, ...probe } });
  assert.equal(v.status, 0, out(v));
  assert.equal(ran(v.stderr), bundle, out(v));
  assert.equal(v.stdout, version + "\n");
  // scripts/build.sh made these with dist/cli/main.js
  assert.equal(s.shit(["completion", "bash"]).stdout, readFileSync(join(root, "dist", "completion", "shit.bash"), "utf8"));
  assert.equal(s.shit(["__man"]).stdout, readFileSync(join(root, "man", "man1", "shit.1"), "utf8"));
  // import.meta.url-relative lookups from dist/bundle/: the native build and its lock.node
  const doc = JSON.parse(s.shit(["doctor", "--json"]).stdout) as { checks: { check: string; level: string; message: string }[] };
  assert.equal(doc.checks.find((c) => c.check === "native")?.level, "ok", JSON.stringify(doc.checks));
  // zod, required from the bundle's directory when a config file is checked
  writeFileSync(join(s.dir, "config.json"), '{"color": 5}');
  const bad = s.shit(["list"], { env: { ...s.env, SHIT_CONFIG: join(s.dir, "config.json") } });
  assert.equal(bad.status, 2, out(bad));
  assert.match(bad.stderr, /^shit: config .*: color: expected one of "auto", "always", "never"\n$/);
  // jsdiff, likewise, for a diff; the runner and the lock through the bundle's paths
  s.sh("printf 'one\\n' > f");
  assert.equal(s.shit(["run", "--", "sed", "-i", "s/one/two/", "f"]).status, 0);
  const d = s.shit(["diff", "@"]);
  assert.equal(d.status, 0, out(d));
  assert.match(d.stdout, /^-one\n\+two\n/m);
  const u = s.shit(["undo", "--yes"]);
  assert.equal(u.status, 0, out(u));
  assert.equal(readFileSync(join(s.work, "f"), "utf8"), "one\n");
});

test("start: list, show and completion's ids to a pipe or a file make no process.stdout (node:net and the streams, ~4 ms CPU a verb); to /dev/null it is asked", (t) => {
  const s = sandbox(t);
  s.sh("printf 'one\\n' > f");
  assert.equal(s.shit(["run", "--", "sed", "-i", "s/one/two/", "f"]).status, 0);
  // which of Node's own modules the verb loaded, written at its exit without making a stream
  const said = join(s.dir, "loaded");
  const probeLoads = join(s.dir, "probe.mjs");
  writeFileSync(
    probeLoads,
    `process.on("exit", () => process.getBuiltinModule("fs").writeFileSync(${JSON.stringify(said)}, process.moduleLoadList.join("\\n")));\n`,
  );
  const loaded = (script: string) => {
    s.sh(`set -o pipefail; NODE_OPTIONS=--import=${probeLoads} ${script}`); // fails the test if the verb does
    return readFileSync(said, "utf8").split("\n");
  };
  for (const script of [
    `"${shitBin}" list | cat`,
    `"${shitBin}" list --json > out.txt`,
    `"${shitBin}" show @ | cat`,
    `"${shitBin}" show --json @ | cat`,
    `ids=$("${shitBin}" __complete ids)`,
  ]) {
    const mods = loaded(script);
    assert.ok(mods.includes("NativeModule fs"), `${script}: the probe ran`);
    assert.ok(!mods.includes("NativeModule net") && !mods.includes("NativeModule stream"), `${script}: ${mods.filter((m) => /net|stream/.test(m)).join(", ")}`);
  }
  assert.ok(loaded(`"${shitBin}" list > /dev/null`).includes("NativeModule stream"), "a character device is asked of process.stdout");
});

test("start: the bundled CLI starts the bundled shitd beside it", (t) => {
  const s = sandbox(t);
  const env = { ...s.env };
  delete env.SHIT_DAEMON;
  const r = s.shit(["daemon", "start"], { env });
  assert.equal(r.status, 0, out(r));
  t.after(() => s.shit(["daemon", "stop"], { env }));
  const pid = Number(readFileSync(join(s.state, "run", "shitd.pid"), "utf8").trim());
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  assert.ok(cmdline.includes(join(root, "dist", "bundle", "shitd.js")), cmdline.join(" "));
  const st = s.shit(["daemon", "status"], { env });
  assert.equal(st.status, 0, out(st));
});

test("start: undo and redo run with glibc's mmap threshold at 32 KiB, as shitd does (a user's own value kept); other verbs with none", (t) => {
  const s = sandbox(t);
  // printed by a module Node loads before the CLI: the environment bin/shit started it with
  const env: NodeJS.ProcessEnv = { ...s.env, NODE_OPTIONS: "--import=data:text/javascript,console.error('mmap:'+process.env.MALLOC_MMAP_THRESHOLD_)" };
  delete env.MALLOC_MMAP_THRESHOLD_;
  const mmap = (verb: string, own?: string) => {
    const r = s.shit([verb, "--help"], { env: own ? { ...env, MALLOC_MMAP_THRESHOLD_: own } : env });
    assert.equal(r.status, 0, out(r));
    return /^mmap:(.*)$/m.exec(r.stderr)?.[1];
  };
  for (const verb of ["undo", "redo"]) {
    assert.equal(mmap(verb), "32768", verb);
    assert.equal(mmap(verb, "65536"), "65536", `${verb}: the user's own`);
  }
  assert.equal(mmap("list"), "undefined");
  assert.equal(mmap("list", "65536"), "65536");
});

test("start: with no bundle, or one older than dist/cli/main.js, bin/shit runs dist/cli/main.js", (t) => {
  const s = sandbox(t);
  // a copy of the package whose dist/ the test may change: bin/shit finds its root from its own path
  const pkg = join(s.dir, "pkg");
  mkdirSync(join(pkg, "bin"), { recursive: true });
  copyFileSync(shitBin, join(pkg, "bin", "shit"));
  cpSync(join(root, "build"), join(pkg, "build"), { recursive: true });
  cpSync(join(root, "dist"), join(pkg, "dist"), { recursive: true, preserveTimestamps: true });
  for (const d of ["node_modules", "native", "src", "package.json"]) symlinkSync(join(root, d), join(pkg, d));
  const shit = (args: string[]) => spawnSync(join(pkg, "bin", "shit"), args, { cwd: s.work, env: { ...s.env, ...probe }, encoding: "utf8" });
  const main = join(pkg, "dist", "cli", "main.js");
  const bundled = join(pkg, "dist", "bundle", "main.cjs");
  const check = (expect: string) => {
    const r = shit(["--version"]);
    assert.equal(r.status, 0, out(r));
    assert.equal(ran(r.stderr), expect, out(r));
    assert.equal(r.stdout, version + "\n");
    const l = shit(["list"]);
    assert.equal(l.status, 0, out(l));
    assert.equal(ran(l.stderr), expect, out(l));
  };
  const at = (f: string, s: number) => utimesSync(f, s, s);
  at(main, 1000);
  at(bundled, 1000); // npm's tarballs give every file the same time: the bundle is not older
  check(bundled);
  at(main, 2000); // tsc rewrote dist/ after the build
  check(main);
  rmSync(join(pkg, "dist", "bundle"), { recursive: true }); // a build without esbuild
  check(main);
});
