// Effects that leave the machine: the rules against a table of command lines, then real recorded
// commands (git push to a remote that fails, curl POST to a closed port) through show and undo,
// and the user's own rules from the config file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sandbox, out } from "./helpers.ts";
import { RULES } from "../dist/irreversible/rules.js";
import { compileRules, irreversibleIn } from "../dist/irreversible/match.js";
import { simpleCommands } from "../dist/irreversible/words.js";

const rules = compileRules(RULES, "built-in");
const what = (argv: string[]) => irreversibleIn([argv], rules).map((i: { what: string }) => i.what);
const line = (l: string) => what([l]);

test("irreversible: the rules on a table of command lines", () => {
  const table: Array<[string[] | string, string[]]> = [
    [["git", "push"], ["git push"]],
    [["git", "pull"], []],
    [["ssh-keygen", "-t", "ed25519", "-f", "k"], ["ssh-keygen"]],
    [["ssh-keygen", "-l", "-f", "k.pub"], []], // a fingerprint: nothing generated
    [["ssh-keygen", "-R", "host"], []],
    [["gpg", "--batch", "--quick-gen-key", "me@x"], ["gpg"]],
    [["gpg", "--list-keys"], []],
    [["age-keygen", "-o", "key.txt"], ["age-keygen"]],
    [["git", "-C", "repo", "push", "origin", "main"], ["git push"]],
    [["git", "-C", "push", "status"], []], // -C takes a value: "push" is the directory
    [["git", "commit", "-m", "push"], []],
    [["/usr/bin/git", "push", "--force"], ["git push"]],
    [["rsync", "-av", "a", "b"], []],
    [["rsync", "-av", "a", "host:b"], ["rsync"]],
    [["rsync", "-av", "user@host:a", "./b"], []], // from a remote: the effect is here, and recorded
    [["rsync", "-e", "ssh -p 2", "a", "./x:y"], []],
    [["scp", "f", "me@[::1]:/tmp/"], ["scp"]],
    [["curl", "http://x/"], []],
    [["curl", "-X", "POST", "http://x/"], ["curl"]],
    [["curl", "-XDELETE", "http://x/"], ["curl"]],
    [["curl", "--request=PUT", "http://x/"], ["curl"]],
    [["curl", "-sX", "PATCH", "http://x/"], ["curl"]],
    [["curl", "-X", "GET", "http://x/"], []],
    [["curl", "-d", "a=1", "http://x/"], ["curl"]],
    [["curl", "-sSfL", "-o", "out", "http://x/"], []],
    [["curl", "--data-binary", "@f", "http://x/"], ["curl"]],
    [["curl", "-F", "f=@x", "http://x/"], ["curl"]],
    [["wget", "--post-data=a", "http://x/"], ["wget"]],
    [["wget", "http://x/"], []],
    [["npm", "publish"], ["npm publish"]],
    [["npm", "install"], []],
    [["ssh", "host", "uptime"], ["ssh"]],
    [["ssh", "-V"], []],
    [["docker", "push", "img"], ["docker push"]],
    [["docker", "pull", "img"], []],
    [["kubectl", "--context", "prod", "apply", "-f", "x.yaml"], ["kubectl apply"]],
    [["kubectl", "get", "pods"], []],
    [["gh", "pr", "create", "--fill"], ["gh pr create"]],
    [["gh", "pr", "list"], []],
    [["aws", "s3", "cp", "f", "s3://b/k"], ["aws s3 cp"]],
    [["aws", "s3", "cp", "s3://b/k", "f"], []],
    [["terraform", "apply"], ["terraform apply"]],
    [["terraform", "plan"], []],
    [["helm", "upgrade", "r", "chart"], ["helm upgrade"]],
    [["sendmail", "-t"], ["sendmail"]],
    // command lines as typed, wrappers, shells
    ["make && git push origin HEAD", ["git push"]],
    ["git pull; echo push", []],
    ["sudo -u deploy env X=1 git push", ["git push"]],
    ["FOO=1 timeout 5 npm publish --tag next", ["npm publish"]],
    ["echo 'git push' > notes.txt", []],
    ["for r in a b; do git -C $r push; done", ["git push"]],
    ["cat f | ssh host 'cat > f'", ["ssh"]],
    [["sh", "-c", "touch f; git push nowhere || true"], ["git push"]],
    [["bash", "-euc", "curl -X POST http://127.0.0.1:9/ 2>/dev/null || :"], ["curl"]],
    ["shit run -- git push", ["git push"]],
    ["x=$(git push 2>&1)", ["git push"]],
  ];
  const wrong: string[] = [];
  for (const [cmd, want] of table) {
    const got = typeof cmd === "string" ? line(cmd) : what(cmd);
    if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${JSON.stringify(cmd)}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
  assert.deepEqual(wrong, []);
  assert.deepEqual(simpleCommands(`a "b c" 'd e' f\\ g >out 2>&1 && h # i`), [["a", "b c", "d e", "f g"], ["h"]]);
  assert.deepEqual(
    irreversibleIn(
      [
        ["git", "push"],
        ["git", "push", "origin"],
      ],
      rules,
    ).length,
    1,
    "one entry per kind",
  );
  assert.throws(() => compileRules([{ program: "x" }], "cfg"), /cfg: irreversible rule 0: "says"/);
  assert.throws(() => compileRules([{ program: "x", says: "y", anyArg: ["("] }], "cfg"), /bad regular expression/);
});

test("irreversible: a recorded git push is named by show and undo, and the local part is undone", (t) => {
  const s = sandbox(t);
  s.sh("git init -q repo && cd repo && git -c user.email=a@b -c user.name=a commit -q --allow-empty -m one");
  const repo = join(s.work, "repo");
  const run = s.shit(["run", "--", "sh", "-c", "touch f; git push nowhere main 2>/dev/null || true"], { cwd: repo });
  assert.equal(run.status, 0, out(run));
  assert.ok(existsSync(join(repo, "f")));
  const show = s.shit(["show"]);
  assert.equal(show.status, 0, out(show));
  assert.match(show.stdout, /^beyond {2}git push: sent to a remote; cannot be undone here$/m);
  const j = JSON.parse(s.shit(["show", "--json"]).stdout);
  assert.deepEqual(
    j.irreversible.map((i: { text: string }) => i.text),
    ["git push: sent to a remote; cannot be undone here"],
  );
  assert.deepEqual(j.irreversible[0].argv.slice(0, 2), ["git", "push"]);
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 0, out(undo));
  assert.match(undo.stdout, /^not undone: git push: sent to a remote; cannot be undone here$/m);
  assert.ok(!existsSync(join(repo, "f")), "the local part is undone");
});

test("irreversible: a key made by ssh-keygen is undone (its files go) with a warning that it may have been copied or used", (t) => {
  const s = sandbox(t);
  const run = s.shit(["run", "--", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "id_test"]);
  assert.equal(run.status, 0, out(run));
  assert.ok(existsSync(join(s.work, "id_test")) && existsSync(join(s.work, "id_test.pub")));
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 0, out(undo));
  assert.match(undo.stdout, /^not undone: ssh-keygen: generated a key, which may already have been copied or used; cannot be undone here$/m, out(undo));
  assert.ok(!existsSync(join(s.work, "id_test")) && !existsSync(join(s.work, "id_test.pub")), "the key files are gone");
});

test("irreversible: curl POST is named, a plain curl is not; the user's config adds rules; a broken config is one line, exit 2", (t) => {
  const s = sandbox(t);
  assert.equal(s.shit(["run", "--", "curl", "-s", "-X", "POST", "http://127.0.0.1:9/"]).status, 7, "curl: connection refused");
  let j = JSON.parse(s.shit(["show", "--json"]).stdout);
  assert.deepEqual(
    j.irreversible.map((i: { what: string }) => i.what),
    ["curl"],
  );
  assert.match(s.shit(["show"]).stdout, /beyond {2}curl: sent a request that may change a server; cannot be undone here/);
  const id = j.id as string;
  const nothing = s.shit(["undo", "--yes", id.slice(0, 8)]);
  assert.equal(nothing.status, 0, out(nothing));
  assert.match(nothing.stdout, /not undone: curl: sent a request/);
  assert.match(nothing.stdout, /changed no files/);

  s.shit(["run", "--", "curl", "-s", "http://127.0.0.1:9/"]);
  j = JSON.parse(s.shit(["show", "--json"]).stdout);
  assert.deepEqual(j.irreversible, []);

  const cfg = join(s.dir, "config.json");
  writeFileSync(cfg, JSON.stringify({ irreversible: [{ program: "mytool", subcommand: ["deploy"], says: "did something far away" }] }));
  const env = { ...s.env, SHIT_CONFIG: cfg };
  s.shit(["run", "--", "sh", "-c", "mytool() { :; }; mytool deploy"]);
  assert.match(s.shit(["show"], { env }).stdout, /beyond {2}mytool deploy: did something far away; cannot be undone here/);
  assert.doesNotMatch(s.shit(["show"]).stdout, /beyond/, "without the config");

  writeFileSync(cfg, "{ not json");
  const bad = s.shit(["show"], { env });
  assert.equal(bad.status, 2, out(bad));
  assert.match(bad.stderr, /^shit: config .*config\.json: not JSON/);
  assert.equal(bad.stderr.trim().split("\n").length, 1);
  writeFileSync(cfg, JSON.stringify({ irreversible: [{ program: "x" }] }));
  assert.match(s.shit(["show"], { env }).stderr, /config .*config\.json: irreversible\[0\]\.says: missing/);
});
