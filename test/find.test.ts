// Finding a command and undoing the one meant (issue 13, "Find it" and housekeeping): list's
// filters against recorded commands, ids as prefixes and as @/@~N, show's default, and in a real
// hooked bash, housekeeping (git's index refresh, a cache) passed over by `shit undo`, and an
// undo typed at the prompt listed once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { spawnSync } from "node:child_process";
import { sandbox, out, type Sandbox, addContext } from "./helpers.ts";
import { Term } from "./term.ts";

interface Listed {
  id: string;
  short: string;
  kind: string;
  argv: string[];
  line?: string;
  exit: number | null;
  class: string | null;
  parent?: string;
  of?: string;
}

const listJson = (s: Sandbox, args: string[] = [], env?: NodeJS.ProcessEnv): Listed[] => {
  const r = s.shit(["list", "--json", ...args], env ? { env } : {});
  assert.equal(r.status, 0, out(r));
  return JSON.parse(r.stdout);
};
const argvs = (rows: Listed[]) => rows.map((c) => c.argv.join(" "));

/** Commands recorded with `shit run`, in order: a sed that changes a file, one that changes
 *  nothing, one that fails, one in a subdirectory, one that only writes a cache. */
function recordSome(s: Sandbox): void {
  s.sh("printf 'old\\n' > f.txt; mkdir -p sub/deep other; mkdir -p home/.cache");
  s.env.HOME = join(s.work, "home"); // whose ~/.cache
  const run = (args: string[], cwd = s.work) => s.shit(["run", "--", ...args], { cwd });
  assert.equal(run(["sed", "-i", "s/old/new/", "f.txt"]).status, 0);
  assert.equal(run(["true"]).status, 0);
  assert.equal(run(["sh", "-c", "exit 3"]).status, 3);
  assert.equal(run(["sh", "-c", "echo x > x"], join(s.work, "sub", "deep")).status, 0);
  assert.equal(run(["sh", "-c", "echo y > y"], join(s.work, "other")).status, 0);
  assert.equal(run(["sh", "-c", "echo 1 > .cache/db"], s.env.HOME).status, 0);
}

test("list filters: --grep, --exit, --effects, --cwd, --since/--until, each in SQL over the recorded commands", (t) => {
  const s = sandbox(t);
  recordSome(s);
  // the default view: `shit run` commands stay, even those that changed nothing; the cache-only one is housekeeping
  const all = listJson(s, ["--all"]);
  assert.equal(all.length, 6);
  const byArgv = (a: string) => all.find((c) => c.argv.join(" ") === a)!;
  assert.equal(byArgv("true").class, "none");
  assert.equal(byArgv("sed -i s/old/new/ f.txt").class, "changes");
  assert.equal(byArgv("sh -c echo 1 > .cache/db").class, "housekeeping", "only ~/.cache: housekeeping");
  assert.deepEqual(
    argvs(listJson(s)),
    argvs(all).filter((a) => a !== "sh -c echo 1 > .cache/db"),
  );
  const text = s.shit(["list"]).stdout;
  assert.match(text, /\(1 more that changed nothing, only housekeeping, or ran an undo: shit list --all shows every command\)\n$/, text);
  assert.match(s.shit(["list", "--all"]).stdout, /1 created \(housekeeping\)\s+sh -c 'echo 1 > \.cache\/db'/);

  assert.deepEqual(argvs(listJson(s, ["--grep", "old/new"])), ["sed -i s/old/new/ f.txt"]);
  assert.deepEqual(argvs(listJson(s, ["--grep", "-c exit"])), ["sh -c exit 3"], "the arguments are searched as one line");
  // its words each in the arguments are not enough (SQL looks for them first): the line must hold it
  assert.deepEqual(argvs(listJson(s, ["--grep", "exit -c"])), [], "words out of order");
  assert.deepEqual(argvs(listJson(s, ["--grep", "3 exit"])), [], "words out of order");
  assert.deepEqual(argvs(listJson(s, ["--exit", "failed"])), ["sh -c exit 3"]);
  assert.deepEqual(argvs(listJson(s, ["--exit", "3"])), ["sh -c exit 3"]);
  assert.equal(listJson(s, ["--exit", "0"]).length, 4);
  assert.deepEqual(argvs(listJson(s, ["--effects"])), ["sh -c echo y > y", "sh -c echo x > x", "sed -i s/old/new/ f.txt"]);
  assert.deepEqual(argvs(listJson(s, ["--cwd", "sub"])), ["sh -c echo x > x"], "DIR or below");
  assert.deepEqual(argvs(listJson(s, ["--cwd", "sub/deep/"])), ["sh -c echo x > x"]);
  const here = JSON.parse(s.shit(["list", "--json", "--cwd"], { cwd: join(s.work, "other") }).stdout) as Listed[];
  assert.deepEqual(argvs(here), ["sh -c echo y > y"], "--cwd with no DIR: the current directory");
  assert.equal(listJson(s, ["--cwd", "su"]).length, 0, "a name that only starts the same is not below");
  assert.equal(listJson(s, ["--grep", "sed", "--effects", "--cwd", "sub"]).length, 0, "filters combine");

  // times: move the sed and `true` two days back, as if recorded then
  const db = new DatabaseSync(join(s.state, "index.sqlite"));
  const old = Date.now() - 2 * 86400e3;
  for (const a of ["sed -i s/old/new/ f.txt", "true"]) db.prepare("UPDATE commands SET started = ? WHERE id = ?").run(old + a.length, byArgv(a).id);
  db.close();
  assert.deepEqual(argvs(listJson(s, ["--until", "1d"])), ["sed -i s/old/new/ f.txt", "true"]);
  assert.equal(listJson(s, ["--since", "2h"]).length, 3);
  assert.equal(listJson(s, ["--since", "today"]).length, 3);
  const day = new Date(old);
  const iso = `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, "0")}-${String(day.getDate()).padStart(2, "0")}`;
  assert.deepEqual(argvs(listJson(s, ["--since", iso, "--until", `${iso}T23:59:59`])), ["sed -i s/old/new/ f.txt", "true"]);
  assert.equal(listJson(s, ["--since", "yesterday", "--until", "30m"]).length, 0);
  assert.equal(listJson(s, ["-n", "2"]).length, 2, "--limit");
  assert.match(s.shit(["list", "--grep", "nothing like this"]).stdout, /^no command matches\n/);

  for (const [args, what] of [
    [["--since", "3x"], /--since <when>' argument '3x' is invalid\. not a time/],
    [["--until", "2024-13-45"], /--until <when>' argument '2024-13-45' is invalid/],
    [["--exit", "lots"], /--exit <status>' argument 'lots' is invalid\. not an exit status/],
    [["--exit", "256"], /argument '256' is invalid/],
    [["--limit", "abc"], /--limit <n>' argument 'abc' is invalid/],
  ] as const) {
    const r = s.shit(["list", ...args]);
    assert.equal(r.status, 2, out(r));
    assert.match(r.stderr, what, out(r));
    assert.equal(r.stderr.trim().split("\n").length, 1, out(r));
  }
});

test("references: any unique prefix, @ and @~N as undo would pick; show with no id is undo's pick; errors name the candidates", (t) => {
  const s = sandbox(t);
  recordSome(s);
  const all = listJson(s, ["--all"]);
  const id = (a: string) => all.find((c) => c.argv.join(" ") === a)!.id;
  // undo's default order: the commands with effects, newest first (not the cache-only one, nor `true`)
  const shown = (ref?: string) => {
    const r = s.shit(["show", "--json", ...(ref ? [ref] : [])]);
    assert.equal(r.status, 0, out(r));
    return JSON.parse(r.stdout).id as string;
  };
  assert.equal(shown(), id("sh -c echo y > y"), "show with no id: what undo would pick, not the cache write after it");
  assert.equal(shown("@"), id("sh -c echo y > y"));
  assert.equal(shown("@~1"), id("sh -c echo x > x"));
  assert.equal(shown("@~"), id("sh -c echo x > x"));
  assert.equal(shown("@~2"), id("sed -i s/old/new/ f.txt"));
  let r = s.shit(["show", "@~3"]);
  assert.equal(r.status, 2, out(r));
  assert.match(r.stderr, /^shit: @~3: there are 3 commands to undo \(@ to @~2\)\n$/);
  for (const c of all) assert.equal(shown(c.short), c.id, `${c.short} names ${c.id}`);
  assert.equal(shown(id("true").slice(0, 5)), id("true"), "a prefix shorter than the one shown still works when unique");

  // undo @~1 undoes that one, and then @~1 is the next
  r = s.shit(["undo", "--yes", "@~1"]);
  assert.equal(r.status, 0, out(r));
  assert.ok(!existsSync(join(s.work, "sub", "deep", "x")), "@~1 was the echo x");
  assert.ok(existsSync(join(s.work, "other", "y")));
  assert.equal(shown("@~1"), id("sed -i s/old/new/ f.txt"));
  r = s.shit(["undo", "--yes", "@"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(readFileSync(join(s.work, "f.txt"), "utf8"), "new\n", "@ was the echo y, not the sed");
  assert.equal(shown(), id("sed -i s/old/new/ f.txt"));

  // a typo: did you mean; no such id; not hex
  const sed = id("sed -i s/old/new/ f.txt");
  const typo = sed.slice(0, 3) + (sed[3] === "0" ? "1" : "0") + sed.slice(4, 8);
  r = s.shit(["show", typo]);
  if (!all.some((c) => c.id.startsWith(typo))) {
    assert.equal(r.status, 2, out(r));
    assert.match(r.stderr, new RegExp(`^shit: unknown command id: ${typo} \\(did you mean ${sed.slice(0, 8)}`), out(r));
  }
  r = s.shit(["undo", "--dry-run", "zz"]);
  assert.equal(r.status, 2, out(r));
  assert.match(r.stderr, /not a command id: "zz"/);
});

test("ids of one shell session: the shortest unique prefix tells them apart, an ambiguous prefix names its commands", (t) => {
  const s = sandbox(t);
  s.sh("printf 'a\\n' > a");
  assert.equal(s.shit(["list"]).status, 0); // the index exists
  // ids as a fish shell makes them: its prefix, a counter, an offset (src/shell/init.fish)
  const db = new DatabaseSync(join(s.state, "index.sqlite"));
  const ids = ["2e6c109500000000", "2e6c109500000001", "2e6c109500000002", "2e6c109500000102"];
  ids.forEach((id, i) =>
    db
      .prepare(
        "INSERT INTO commands(id, kind, line, session, started, ended, exit, effects, class) VALUES(?, 'run', ?, 'f00dfeedf00dfeed', ?, ?, 0, '{}', 'none')",
      )
      .run(id, `echo ${i}`, Date.now() - 1000 + i, Date.now() - 1000 + i),
  );
  db.close();
  const rows = listJson(s, ["--all"]).filter((c) => c.id.startsWith("2e6c"));
  assert.deepEqual(
    rows.map((c) => c.short),
    ["2e6c1095000001", "2e6c109500000002", "2e6c109500000001", "2e6c109500000000"],
  );
  const text = s.shit(["list", "--all"]).stdout;
  for (const c of rows) assert.match(text, new RegExp(`^${c.short} +\\S+ ago`, "m"), text);
  let r = s.shit(["show", "2e6c1095"]);
  assert.equal(r.status, 2, out(r));
  assert.match(
    r.stderr,
    /^shit: ambiguous command id 2e6c1095: it starts 2e6c109500000000 \(echo 0\), 2e6c109500000001 \(echo 1\), .*; type more of it\n$/,
    out(r),
  );
  r = s.shit(["show", "2e6c10950000010"]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stdout, /^command 2e6c109500000102\n\s+echo 3\n/);
  r = s.shit(["show", "2e6c1059"]);
  assert.equal(r.status, 2, out(r));
  assert.match(r.stderr, /unknown command id: 2e6c1059 \(did you mean 2e6c109500000000 or/, out(r));
});

test("housekeeping config: added patterns count, dropped defaults do not, a bad key is one line, exit 2", (t) => {
  const s = sandbox(t);
  const cfg = join(s.dir, "config.json");
  const env = { ...s.env, SHIT_CONFIG: cfg, HOME: join(s.work, "home") };
  mkdirSync(join(s.work, "home", ".cache"), { recursive: true });
  writeFileSync(cfg, JSON.stringify({ housekeeping: ["**/*.log"], "housekeeping!": ["~/.cache/**"] }));
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo 1 > build.log"], { env }).status, 0);
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo 1 > home/.cache/db"], { env }).status, 0);
  const all = listJson(s, ["--all"], env);
  assert.deepEqual(
    all.map((c) => c.class),
    ["changes", "housekeeping"],
  );
  writeFileSync(cfg, JSON.stringify({ housekeeping: "*.log" }));
  const r = s.shit(["list"], { env });
  assert.equal(r.status, 2, out(r));
  assert.match(r.stderr, /^shit: config .*config\.json: housekeeping: expected a list\n$/);
});

test("hooked bash: undo passes over git status (an index refresh) and a cache write to the sed; the undo typed is one row", async (tc) => {
  const s = sandbox(tc);
  const home = join(s.dir, "home");
  mkdirSync(home, { recursive: true });
  s.env.HOME = home; // the shell's home is the CLI's, as it is outside tests
  const git = "git -c user.email=a@b -c user.name=a";
  s.sh(`git init -q repo && cd repo && printf 'old\\n' > f.txt && printf 'g\\n' > g.txt && ${git} add . && ${git} commit -qm one`);
  const repo = join(s.work, "repo");
  let t: Term | undefined;
  try {
    t = await Term.start("bash", { dir: s.dir, home, cwd: repo, state: s.state });
    await t.run("sed -i s/old/new/ f.txt");
    s.sh("sleep 1.1; touch repo/g.txt"); // same bytes, new stat: git status refreshes the index
    await t.run("git status --short > /dev/null");
    await t.run("mkdir -p ~/.cache/tool && echo 1 > ~/.cache/tool/db");
    await t.run("ls > /dev/null");
    const typed = listJson(s, ["--all"]);
    const status = typed.find((c) => c.line === "git status --short > /dev/null")!;
    const show = JSON.parse(s.shit(["show", "--json", status.id]).stdout) as { events: { path: string }[] };
    assert.ok(
      show.events.some((e) => e.path.endsWith("/.git/index") || e.path.endsWith("/.git/index.lock")),
      `git status wrote the index: ${JSON.stringify(show.events)}`,
    );
    const posts = () => {
      const db = new DatabaseSync(join(s.state, "index.sqlite"));
      const r = db.prepare("SELECT cast(path AS TEXT) AS p, post IS NOT NULL AS has FROM posts WHERE cmd = ?").all(status.id);
      db.close();
      return JSON.stringify(r);
    };
    assert.equal(status.class, "housekeeping", `an index refresh: ${s.shit(["show", status.id]).stdout} posts ${posts()}`);
    assert.equal(typed.find((c) => c.line?.startsWith("mkdir -p ~/.cache"))!.class, "housekeeping");
    assert.equal(typed.find((c) => c.line === "ls > /dev/null")!.class, "none");
    // the default view: only the sed
    assert.deepEqual(
      listJson(s).map((c) => c.line),
      ["sed -i s/old/new/ f.txt"],
    );

    await t.run("shit undo --yes");
    assert.equal(t.prompts().at(-1), "p 0");
    assert.equal(readFileSync(join(repo, "f.txt"), "utf8"), "old\n", "the sed was undone");
    // one row for the undo: the undo command, carrying the line it was typed as
    const after = listJson(s);
    assert.deepEqual(
      after.map((c) => c.kind),
      ["undo", "run"],
      JSON.stringify(after),
    );
    const everything = listJson(s, ["--all"]);
    const line = everything.find((c) => c.line === "shit undo --yes")!;
    assert.ok(line, "the typed line is recorded");
    assert.equal(after[0].parent, line.id, "the undo names the line it was typed as");

    // an undo that stops on a conflict (exit 3) is a row that changed nothing, never undo's pick
    await t.run("echo one > h.txt");
    s.sh("sleep 0.05; echo outside > repo/h.txt");
    await t.run("shit undo --yes");
    assert.equal(t.prompts().at(-1), "p 3");
    const rows = listJson(s, ["--all"]);
    const stopped = rows.find((c) => c.line === "shit undo --yes" && c.exit === 3)!;
    assert.equal(stopped.class, "none");
    const pick = JSON.parse(s.shit(["show", "--json"]).stdout).id as string;
    assert.equal(pick, rows.find((c) => c.line === "echo one > h.txt")!.id);
  } catch (e) {
    if (t) addContext(e, `\n--- screen ---\n${t.screen()}`);
    throw e;
  } finally {
    t?.kill();
  }
});

test("git's index: a refresh (git status) is housekeeping, a change of what is staged (git rm --cached) is not", (t) => {
  const s = sandbox(t);
  const git = "git -c user.email=a@b -c user.name=a";
  s.sh(`git init -q repo && cd repo && printf 'g\\n' > g.txt && ${git} add . && ${git} commit -qm one && sleep 1.1 && touch g.txt`);
  const repo = join(s.work, "repo");
  assert.equal(s.shit(["run", "--", "git", "status", "--short"], { cwd: repo }).status, 0);
  assert.equal(s.shit(["run", "--", "git", "rm", "-q", "--cached", "g.txt"], { cwd: repo }).status, 0);
  const [rm, status] = listJson(s, ["--all"]);
  assert.deepEqual([status.argv.join(" "), status.class], ["git status --short", "housekeeping"]);
  assert.deepEqual([rm.argv.join(" "), rm.class], ["git rm -q --cached g.txt", "changes"]);
  const u = s.shit(["undo", "--yes"]);
  assert.equal(u.status, 0, out(u));
  assert.match(u.stdout, /^undo of \S+: git rm -q --cached g\.txt/, out(u));
  assert.equal(spawnSync("git", ["ls-files"], { cwd: repo, encoding: "utf8" }).stdout, "g.txt\n", "staged again");
});
