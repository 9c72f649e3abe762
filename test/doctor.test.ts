// shit doctor: real probes of a real sandbox — the shim loads, rc files with the hook line, the
// capture tier of the filesystems commands ran in, commands that ran outside capture, and a
// state dir others can write (FAIL, exit 8).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sandbox, out, type Ends, type Sandbox } from "./helpers.ts";

interface Check {
  check: string;
  level: string;
  message: string;
  fix?: string;
  data?: Record<string, unknown>;
}

function doctorBox(t: Ends): Sandbox {
  const s = sandbox(t);
  const home = join(s.dir, "home");
  mkdirSync(home);
  Object.assign(s.env, { HOME: home, XDG_CONFIG_HOME: join(home, ".config"), SHELL: "/bin/bash" });
  delete s.env.SHIT_SESSION;
  delete s.env.SHIT_SHELL_HOOK;
  return s;
}

const doctor = (s: Sandbox, env?: NodeJS.ProcessEnv) => {
  const r = s.shit(["doctor", "--json"], { env });
  const j = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] };
  return { r, j, by: (name: string) => j.checks.filter((c) => c.check === name) };
};

test("doctor: a healthy sandbox — shim loads, state dir 0700, the tier of the work dir's filesystem probed, no probe files left", (t) => {
  const s = doctorBox(t);
  assert.equal(s.shit(["run", "--", "touch", "a"]).status, 0);
  const { r, j, by } = doctor(s);
  assert.equal(r.status, 0, out(r));
  assert.equal(j.ok, true);
  for (const name of ["native", "shim", "state dir", "daemon", "not captured"]) assert.equal(by(name)[0]?.level, "ok", `${name}: ${JSON.stringify(by(name))}`);
  assert.equal(by("shells")[0].level, "warn");
  assert.match(by("shells")[0].fix!, /eval "\$\(shit init bash\)"/);
  const tiers = by("capture tier");
  assert.equal(tiers.length, 1, JSON.stringify(tiers));
  assert.equal(tiers[0].data!.root, s.work);
  // the work dir and the state dir share a filesystem: link() into staging must work
  assert.ok(["reflink", "hardlink"].includes(tiers[0].data!.tier as string), JSON.stringify(tiers[0]));
  assert.deepEqual(readdirSync(s.work), ["a"], "no probe file left in the work dir");
  assert.ok(
    readdirSync(join(s.state, "staging")).every((n) => !n.startsWith(".shit-doctor")),
    "none in staging",
  );
  const space = by("space")[0];
  assert.ok((space.data!.free as number) > 0 && typeof space.data!.kept === "number");

  const text = s.shit(["doctor"]);
  assert.equal(text.status, 0, out(text));
  assert.match(text.stdout, /^ok {4}shim +loads/m);
  assert.match(text.stdout, /^warn {2}shells .*\n +fix: add {2}eval "\$\(shit init bash\)" {2}to .*\.bashrc$/m);
});

test("doctor: rc files with the hook line, this shell hooked, a filesystem that only copies", (tc) => {
  const s = doctorBox(tc);
  const shm = statSync("/dev/shm", { throwIfNoEntry: false });
  const other = shm && shm.dev !== statSync(s.dir).dev ? mkdtempSync("/dev/shm/shit-doctor-test-") : null;
  try {
    const home = s.env.HOME!;
    writeFileSync(join(home, ".bashrc"), 'export X=1\neval "$(shit init bash)"\n');
    writeFileSync(join(home, ".zshrc"), '# eval "$(shit init zsh)"\n');
    mkdirSync(join(home, ".config", "fish"), { recursive: true });
    writeFileSync(join(home, ".config", "fish", "config.fish"), "shit init fish | source\n");
    let d = doctor(s);
    assert.equal(d.by("shells")[0].level, "ok");
    assert.deepEqual(d.by("shells")[0].data!.hooked, ["bash", "fish"], "a commented-out line does not count");
    assert.equal(d.by("this shell")[0].level, "warn", "rc files hooked, this shell not");
    d = doctor(s, { ...s.env, SHIT_SESSION: "0123456789abcdef" });
    assert.equal(d.by("this shell")[0].level, "ok");

    if (other) {
      assert.equal(s.shit(["run", "--", "touch", "b"], { cwd: other }).status, 0);
      d = doctor(s);
      const t = d.by("capture tier").find((c) => c.data!.root === other)!;
      assert.equal(t.data!.tier, "copy", JSON.stringify(d.by("capture tier")));
      assert.equal(t.level, "warn");
      assert.match(t.fix!, /SHIT_HOME/);
      assert.equal(d.r.status, 0, "a warning is not a failure");
    }
  } finally {
    if (other) rmSync(other, { recursive: true, force: true });
  }
});

test("doctor: a program that ran outside capture is reported by reason; a state dir others can write is FAIL, exit 8", (t) => {
  const s = doctorBox(t);
  const cc = spawnSync("cc", ["-static", "-x", "c", "-", "-o", join(s.work, "static")], { input: "int main(void){return 0;}\n" });
  if (cc.status !== 0) t.diagnostic("no static libc here: the not-captured part is not exercised");
  else {
    assert.equal(s.shit(["run", "--", "./static"], { env: { ...s.env, SHIT_SECCOMP: "off" } }).status, 0); // the tier would capture it
    const d = doctor(s);
    const nc = d.by("not captured");
    assert.equal(nc.length, 1, JSON.stringify(nc));
    assert.equal(nc[0].level, "warn");
    assert.match(nc[0].message, /statically linked.*: 1 time in 1 command/);
    assert.equal(d.r.status, 0);
  }
  chmodSync(s.state, 0o777);
  const { r, j, by } = doctor(s);
  assert.equal(r.status, 8, out(r));
  assert.equal(j.ok, false);
  assert.equal(by("state dir")[0].level, "FAIL");
  const text = s.shit(["doctor"]);
  assert.equal(text.status, 8);
  assert.match(text.stdout, /^FAIL  state dir .*writable by others \(mode 0777\).*\n +fix: chmod 700 /m);
  chmodSync(s.state, 0o750);
  assert.equal(doctor(s).by("state dir")[0].level, "warn");
});
