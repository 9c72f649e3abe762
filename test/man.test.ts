// The man page shit(1): made at build time from the CLI's definitions, rendered by man itself with
// no warnings, naming every verb and option --help names, every config key, and the exit codes;
// package.json installs it where man looks after `npm install -g`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { root, sandbox, out } from "./helpers.ts";

const page = join(root, "man", "man1", "shit.1");

/** The verbs a --help lists under Commands (with aliases), and its options. */
function helpOf(text: string): { verbs: string[]; aliases: string[]; options: string[] } {
  const section = (name: string) => text.split(new RegExp(`^${name}:$`, "m"))[1]?.split(/^\S/m)[0] ?? "";
  return {
    verbs: [...section("Commands").matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]).filter((v) => v !== "help"),
    aliases: [...section("Commands").matchAll(/^ {2}[a-z][\w-]*\|([\w-]+)/gm)].map((m) => m[1]),
    options: [...section("Options").matchAll(/^ {2}(?:(-\w), )?(--[\w-]+)/gm)].flatMap((m) => [m[2], ...(m[1] ? [m[1]] : [])]),
  };
}

test("man: shit.1 renders with man -l, no warnings, and names every verb, option and setting", (t) => {
  const s = sandbox(t);
  assert.ok(existsSync(page), "scripts/build.sh made man/man1/shit.1");
  const r = spawnSync("man", ["--warnings", "-l", page], { env: { ...s.env, MANWIDTH: "100", MAN_KEEP_FORMATTING: "", PAGER: "cat" }, encoding: "utf8" });
  assert.equal(r.status, 0, out(r));
  assert.equal(r.stderr, "", "no warnings from groff");
  const text = r.stdout.replace(/.\x08/g, ""); // overstrike (bold, underline), if any
  assert.match(text, /^NAME\n\s+shit - magic undo/m);

  // every verb (and its subcommands) with every option, in the verb's own section
  const sections = text.split(/^ {3}(?=shit )/m);
  const walk = (path: string[]) => {
    const help = helpOf(s.shit([...path, "--help"]).stdout);
    if (path.length) {
      const sec = sections.find((x) => x.startsWith(`shit ${path.join(" ")}\n`) || x.startsWith(`shit ${path.join(" ")} (alias`));
      assert.ok(sec, `a section for shit ${path.join(" ")}`);
      for (const o of help.options.filter((o) => o !== "--help" && o !== "-h"))
        assert.match(sec, new RegExp(`^ {7}(-\\w, )?${o}\\b|, ${o}\\b`, "m"), `shit ${path.join(" ")} ${o}`);
    }
    for (const v of help.verbs) if (!s.shit([...path, v, "--help"]).stdout.startsWith("Usage: shit help")) walk([...path, v]);
    return help;
  };
  const top = walk([]);
  for (const v of ["undo", "redo", "list", "show", "config", "completion"]) assert.ok(top.verbs.includes(v), `--help lists ${v}`);
  for (const a of top.aliases) assert.match(text, new RegExp(`\\(alias ${a}\\)`));

  // the settings, the files and the exit codes
  const keys = Object.keys(JSON.parse(s.shit(["config", "list", "--json"]).stdout).settings);
  for (const k of keys) assert.match(text, new RegExp(`^ {7}${k.replace(/[.!]/g, "\\$&")}(?=\\s)`, "m"), `setting ${k}`);
  assert.match(text, /XDG_CONFIG_HOME\/shit\/config\.json/);
  assert.match(text, /~\/\.local\/state\/shit/);
  assert.match(text, /^EXIT STATUS\n[\s\S]*^ +141 +the reader of the output went away/m);
});

test("man: package.json installs the page (npm links man entries into PREFIX/share/man, which man searches)", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  assert.deepEqual(pkg.man, ["./man/man1/shit.1"]);
  assert.ok(pkg.files.includes("man/"), "the page is in the package");
  // the page is what `shit __man` prints now (the build made it from these definitions)
  const now = spawnSync(join(root, "bin", "shit"), ["__man"], { encoding: "utf8", env: { ...process.env, SOURCE_DATE_EPOCH: "0" } }).stdout;
  const built = readFileSync(page, "utf8");
  const body = (p: string) => p.replace(/^\.TH .*$/m, "");
  assert.equal(body(built), body(now));
});
