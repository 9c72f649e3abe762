// shit config: get, set, unset, list and edit over a real config file, each change checked against
// the schema (src/config.ts) before it is written; a file that does not load is one line naming
// the field, exit 2, for every verb that reads it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync, mkdirSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { root, sandbox, out, type Sandbox, type Ends } from "./helpers.ts";

function box(t: Ends): Sandbox & { cfg: string } {
  const s = sandbox(t);
  const cfg = join(s.dir, "conf", "shit", "config.json");
  s.env.XDG_CONFIG_HOME = join(s.dir, "conf");
  s.env.HOME = s.dir;
  delete s.env.SHIT_CONFIG;
  return Object.assign(s, { cfg });
}

test("config: set writes the file (0600), get reads it back, unset removes it", (t) => {
  const s = box(t);
  assert.ok(!existsSync(s.cfg));
  const set = s.shit(["config", "set", "watch.roots", '["/tmp"]']);
  assert.equal(set.status, 0, out(set));
  assert.deepEqual(JSON.parse(readFileSync(s.cfg, "utf8")), { watch: { roots: ["/tmp"] } });
  assert.equal(statSync(s.cfg).mode & 0o777, 0o600);
  assert.equal(s.shit(["config", "get", "watch.roots"]).stdout, '["/tmp"]\n');
  // not JSON: a string; JSON: the value it spells
  assert.equal(s.shit(["config", "set", "pager", "less -R"]).status, 0);
  assert.equal(s.shit(["config", "set", "watch.recent", "false"]).status, 0);
  assert.deepEqual(JSON.parse(readFileSync(s.cfg, "utf8")), { watch: { roots: ["/tmp"], recent: false }, pager: "less -R" });
  assert.equal(s.shit(["config", "get", "pager"]).stdout, "less -R\n");
  assert.equal(s.shit(["config", "get", "watch.recent"]).stdout, "false\n");
  // a key not set: its default
  assert.equal(s.shit(["config", "get", "color"]).stdout, "auto\n");
  assert.equal(s.shit(["config", "unset", "watch.roots"]).status, 0);
  assert.equal(s.shit(["config", "unset", "watch.recent"]).status, 0);
  assert.deepEqual(JSON.parse(readFileSync(s.cfg, "utf8")), { pager: "less -R" }, "an emptied object goes with its last key");
  assert.equal(s.shit(["config", "get", "watch.roots"]).stdout, "[]\n");
  // an unknown key is bad input, naming the keys there are
  const bad = s.shit(["config", "get", "wacth.roots"]);
  assert.equal(bad.status, 2, out(bad));
  assert.match(bad.stderr, /wacth\.roots.*watch\.roots/);
});

test("config: an invalid value is refused with the field named, and the file is left as it was", (t) => {
  const s = box(t);
  assert.equal(s.shit(["config", "set", "watch.roots", '["/tmp"]']).status, 0);
  const before = readFileSync(s.cfg, "utf8");
  for (const [key, value, why] of [
    ["watch.roots", '["/tmp", 3]', "watch.roots[1]: expected a string"],
    ["watch.roots", "/tmp", "watch.roots: expected a list"],
    ["watch.recent", "yes", "watch.recent: expected true or false"],
    ["color", "blue", 'color: expected one of "auto", "always", "never"'],
    ["irreversible", '[{"program": "x"}]', "irreversible[0].says: missing"],
    ["irreversible", '[{"program": "x", "says": "y", "anyArg": ["("]}]', "irreversible[0].anyArg[0]: not a valid regular expression"],
  ]) {
    const r = s.shit(["config", "set", key, value]);
    assert.equal(r.status, 2, out(r));
    assert.equal(r.stderr, `shit: config ~/conf/shit/config.json: ${why}\n`);
    assert.equal(readFileSync(s.cfg, "utf8"), before, `${key} ${value}: the file is unchanged`);
  }
});

test("config: list shows every key with its value and default; --json the same as data", (t) => {
  const s = box(t);
  let l = s.shit(["config", "list"]);
  assert.equal(l.status, 0, out(l));
  assert.match(l.stdout, /^config: ~\/conf\/shit\/config\.json \(no file: every key has its default\)$/m);
  s.shit(["config", "set", "watch.roots", '["/tmp"]']);
  s.shit(["config", "set", "color", "never"]);
  l = s.shit(["config", "list"]);
  const rows = new Map(
    l.stdout
      .split("\n")
      .slice(2)
      .filter(Boolean)
      .map((line) => {
        const [k, v, d] = line.split(/ {2,}/);
        return [k, { v, d }];
      }),
  );
  assert.deepEqual(rows.get("watch.roots"), { v: '["/tmp"]', d: "[]" });
  assert.deepEqual(rows.get("color"), { v: '"never"', d: '"auto"' });
  assert.deepEqual(rows.get("watch.recent"), { v: "-", d: "true" });
  assert.deepEqual(rows.get("pager"), { v: "-", d: "-" });
  const j = JSON.parse(s.shit(["config", "list", "--json"]).stdout);
  assert.equal(j.file, s.cfg);
  assert.deepEqual(Object.keys(j.settings).sort(), [...rows.keys()].sort(), "the table and the JSON name the same keys");
  assert.deepEqual(j.settings["watch.roots"].value, ["/tmp"]);
  assert.equal(j.settings.color.default, "auto");
  assert.ok(j.settings.irreversible.doc.length > 10);
});

test("config: set through a symlinked file writes where it points; edit replaces the file only with a valid one", (t) => {
  const s = box(t);
  const real = join(s.dir, "dotfiles", "shit.json");
  mkdirSync(join(s.dir, "dotfiles"));
  writeFileSync(real, "{}\n");
  mkdirSync(join(s.dir, "conf", "shit"), { recursive: true });
  symlinkSync(real, s.cfg);
  assert.equal(s.shit(["config", "set", "color", "always"]).status, 0);
  assert.ok(lstatSync(s.cfg).isSymbolicLink(), "the link stays");
  assert.deepEqual(JSON.parse(readFileSync(real, "utf8")), { color: "always" });

  // an editor that writes what it is given in $NEW
  const editor = join(s.dir, "ed.sh");
  writeFileSync(editor, '#!/bin/sh\nfor f; do :; done\nprintf %s "$NEW" > "$f"\n'); // the file is the last argument
  chmodSync(editor, 0o755);
  const before = readFileSync(real, "utf8");
  const bad = s.shit(["config", "edit"], { env: { ...s.env, EDITOR: editor, VISUAL: "", NEW: '{"watch": {"roots": [1]}}' } });
  assert.equal(bad.status, 2, out(bad));
  assert.equal(bad.stderr, "shit: config ~/conf/shit/config.json: watch.roots[0]: expected a string\n");
  assert.equal(readFileSync(real, "utf8"), before);
  const text = '{\n  "color": "never" // no comments in JSON\n}\n';
  assert.equal(s.shit(["config", "edit"], { env: { ...s.env, EDITOR: editor, VISUAL: "", NEW: text } }).status, 2, "not JSON");
  const good = '{ "color": "never",   "pager": "most" }\n';
  const ok = s.shit(["config", "edit"], { env: { ...s.env, VISUAL: `${editor} --wait`, NEW: good } });
  assert.equal(ok.status, 0, out(ok));
  assert.equal(readFileSync(real, "utf8"), good, "the edit as written, layout and all");
});

test("config: a file with a wrong type makes every verb that reads it fail with one line, exit 2", (t) => {
  const s = box(t);
  s.sh("echo a > a");
  assert.equal(s.shit(["run", "--", "rm", "a"]).status, 0);
  mkdirSync(join(s.dir, "conf", "shit"), { recursive: true });
  writeFileSync(s.cfg, JSON.stringify({ watch: { roots: ["/tmp", 7] } }));
  for (const verb of [["list"], ["show"], ["undo", "--yes"], ["redo", "--yes"], ["gc", "--dry-run"], ["status"], ["daemon", "status"], ["config", "list"]]) {
    const r = s.shit(verb);
    assert.equal(r.status, 2, `${verb.join(" ")}: ${out(r)}`);
    assert.equal(r.stderr, "shit: config ~/conf/shit/config.json: watch.roots[1]: expected a string\n", verb.join(" "));
  }
  assert.ok(!existsSync(join(s.work, "a")), "the undo did not run");
  // doctor names it as a failed check instead
  const d = s.shit(["doctor", "--json"]);
  const check = JSON.parse(d.stdout).checks.find((c: { check: string }) => c.check === "config");
  assert.equal(check.level, "FAIL");
  assert.match(check.message, /watch\.roots\[1\]: expected a string/);
  // and config set can still mend it
  assert.equal(s.shit(["config", "set", "watch.roots", "[]"]).status, 0);
  assert.equal(s.shit(["list"]).status, 0);
  writeFileSync(s.cfg, "{ not json");
  const nj = s.shit(["show"]);
  assert.equal(nj.status, 2);
  assert.match(nj.stderr, /^shit: config ~\/conf\/shit\/config\.json: not JSON: /);
  assert.equal(nj.stderr.split("\n").length, 2, "one line");
});

test("config: docs/CONFIG.md's table names every key there is, and no other", (t) => {
  const s = sandbox(t);
  const keys = Object.keys(JSON.parse(s.shit(["config", "list", "--json"]).stdout).settings).sort();
  const doc = readFileSync(join(root, "docs", "CONFIG.md"), "utf8");
  const rows = [...doc.matchAll(/^\| `([\w.!]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(rows, keys);
});

test("config: color and pager are read by the verbs, under what the command line says", (t) => {
  const s = box(t);
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo x > f"]).status, 0);
  const esc = /\x1b\[/;
  assert.doesNotMatch(s.shit(["list"]).stdout, esc, "piped: plain by default");
  assert.equal(s.shit(["config", "set", "color", "always"]).status, 0);
  assert.match(s.shit(["list"]).stdout, esc, "the config's color: always");
  assert.doesNotMatch(s.shit(["--color=never", "list"]).stdout, esc, "--color wins over the config");
  // the config's pager, used on a terminal (script(1) gives one), after $SHIT_PAGER
  const paged = join(s.dir, "paged");
  assert.equal(s.shit(["config", "set", "pager", `cat > ${paged}`]).status, 0);
  const env = { ...s.env };
  delete env.SHIT_PAGER;
  delete env.PAGER;
  const r = spawnSync("script", ["-qec", `${join(root, "bin", "shit")} list`, "/dev/null"], { cwd: s.work, env, encoding: "utf8" });
  assert.equal(r.status, 0, out(r));
  assert.match(readFileSync(paged, "utf8"), /echo x > f/, "list went through the config's pager");
});
