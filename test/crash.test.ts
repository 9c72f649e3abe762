// Crash, kill and full disk (issue 12, items 4-7): nothing stranded. A command or an undo killed
// with SIGKILL at any point, or running out of disk, still leaves a state that `shit undo` (run
// again as needed) brings back whole, and says what it could not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { sandbox, sameTree, out, until, shitBin } from "./helpers.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("kill -9 of the whole `shit run` process group: the command is ended (killed, exit unknown) in list, show and gc", async (t) => {
  const s = sandbox(t);
  s.sh("mkdir d && echo a > d/a && echo b > d/b");
  const p = spawn(shitBin, ["run", "--", "sh", "-c", "rm d/a; sleep 100"], { cwd: s.work, env: s.env, detached: true, stdio: "ignore" });
  await until("rm d/a", () => !existsSync(join(s.work, "d/a")));
  await new Promise((r) => setTimeout(r, 100));
  process.kill(-p.pid!, "SIGKILL");
  await until("the process group to die", () => !alive(p.pid!));
  await new Promise((r) => setTimeout(r, 100));
  const list = s.shit(["list", "--json"]);
  assert.equal(list.status, 0, out(list));
  const [c] = JSON.parse(list.stdout);
  assert.equal(c.running, false, out(list));
  assert.ok(c.ended, out(list));
  assert.equal(c.exit, null);
  assert.match(s.shit(["list"]).stdout, /killed/);
  assert.match(s.shit(["show", c.id]).stdout, /exit +killed \(its processes are gone; exit unknown\)/);
  const u = s.shit(["undo", "--yes", c.id]);
  assert.equal(u.status, 0, out(u));
  assert.ok(existsSync(join(s.work, "d/a")), out(u));
  // and gc frees a killed command's staging like any other's
  const r = s.shit(["run", "--", "sh", "-c", "rm d/b; kill -9 $PPID $$"]);
  void r;
  const g = s.shit(["gc", "--older-than", "0s"]);
  assert.equal(g.status, 0, out(g));
  const left = readdirSync(join(s.state, "staging"), { recursive: true, withFileTypes: true }).filter((d) => !d.isDirectory());
  assert.deepEqual(
    left.map((d) => d.name),
    [],
    out(g),
  );
  assert.match(g.stdout, /freed 1 pre-image/);
});

void spawnSync;
void sameTree;
