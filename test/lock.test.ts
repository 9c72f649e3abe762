// The undo lock (src/undo/lock.ts, issue 12 point 11): flock on run/apply.lock, released by the
// kernel with its last holder. Many undos started at once: exactly one undoes. A holder killed
// with -9 leaves it free at once; a descriptor handed to a child (as the CLI hands it to
// shit-apply) keeps it held until that child ends too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sandbox, out, root, shitBin, until } from "./helpers.ts";

const node = process.execPath;

test("16 `shit undo ID --yes` started at the same moment, a stale lock file from a killed undo there: exactly one undoes, the others are busy (7) or find it undone (2)", async (t) => {
  const s = sandbox(t);
  s.sh("mkdir d; for i in $(seq 1 200); do echo $i > d/f$i; done");
  const run = s.shit(["run", "--", "rm", "-r", "d"]);
  assert.equal(run.status, 0, out(run));
  const id = readdirSync(join(s.state, "spool"))[0].replace(/\.spool$/, "");
  assert.equal(s.shit(["list"]).status, 0); // ingested once, so the racers contend on the lock, not on the first ingest
  writeFileSync(join(s.state, "run", "apply.lock"), "999999999"); // left by an undo killed long ago: no such pid
  const runs = Array.from({ length: 16 }, () => {
    const c = spawn(shitBin, ["undo", id, "--yes"], { cwd: s.work, env: s.env, stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    c.stdout.on("data", (b) => (text += b));
    c.stderr.on("data", (b) => (text += b));
    return new Promise<{ code: number | null; text: string }>((res) => c.on("close", (code) => res({ code, text })));
  });
  const results = await Promise.all(runs);
  const done = results.filter((r) => r.code === 0);
  assert.equal(done.length, 1, results.map((r) => `exit ${r.code}: ${r.text}`).join("\n"));
  for (const r of results.filter((r) => r.code !== 0)) assert.ok(r.code === 7 || r.code === 2, `exit ${r.code}: ${r.text}`);
  assert.equal(readdirSync(join(s.work, "d")).length, 200);
  const list = JSON.parse(s.shit(["list", "--all", "--json"]).stdout) as Array<{ kind: string }>;
  assert.equal(list.filter((c) => c.kind === "undo").length, 1, "more than one undo command was recorded");
});

test("a lock held by a process killed with -9 is free at once; one handed to a child stays held until the child ends", async (t) => {
  const s = sandbox(t);
  s.sh("echo a > a");
  assert.equal(s.shit(["run", "--", "rm", "a"]).status, 0);
  assert.equal(s.shit(["list"]).status, 0); // the state layout exists
  // a holder that hands its descriptor to a `sleep` (as the CLI hands it to shit-apply), then waits
  const holder = spawn(
    node,
    [
      "--input-type=module",
      "-e",
      `import { lock } from ${JSON.stringify(join(root, "dist", "undo", "lock.js"))};
       import { statePaths } from ${JSON.stringify(join(root, "dist", "paths", "state.js"))};
       import { spawn } from "node:child_process";
       const u = lock(statePaths(process.env.SHIT_HOME));
       const c = spawn("sleep", ["60"], { stdio: ["ignore", "ignore", "ignore", u.fd] });
       process.stdout.write(c.pid + "\\n");
       setInterval(() => {}, 1000);`,
    ],
    { env: s.env, stdio: ["ignore", "pipe", "inherit"] },
  );
  let sleeper = 0;
  holder.stdout.on("data", (b) => (sleeper = Number(String(b).trim())));
  t.after(() => {
    holder.kill("SIGKILL");
    if (sleeper) spawnSync("kill", ["-9", String(sleeper)]);
  });
  await until("the holder took the lock", () => sleeper > 0);
  const busy = s.shit(["undo", "--yes"]);
  assert.equal(busy.status, 7, out(busy));
  assert.match(busy.stderr, /^shit: another undo, redo or gc is running \(started by pid \d+\); try again when it ends\n$/);
  holder.kill("SIGKILL");
  await new Promise((r) => holder.on("close", r));
  const still = s.shit(["undo", "--yes"]);
  assert.equal(still.status, 7, `the child still holds the lock\n${out(still)}`);
  spawnSync("kill", ["-9", String(sleeper)]);
  await until("the sleeper is gone", () => !existsSync(`/proc/${sleeper}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${sleeper}/status`, "utf8")));
  const free = s.shit(["undo", "--yes"]);
  assert.equal(free.status, 0, out(free));
  assert.equal(readFileSync(join(s.work, "a"), "utf8"), "a\n");
});

test("12 processes calling lock() at the same instant over a stale lock file: exactly one holds it", async (t) => {
  const s = sandbox(t);
  assert.equal(s.shit(["list"]).status, 0); // the state layout exists
  writeFileSync(join(s.state, "run", "apply.lock"), "999999999");
  const at = Date.now() + 1500; // every process waits for this instant, then takes the lock and holds it 500 ms
  const script = `import { lock } from ${JSON.stringify(join(root, "dist", "undo", "lock.js"))};
    import { statePaths } from ${JSON.stringify(join(root, "dist", "paths", "state.js"))};
    while (Date.now() < ${at}) {}
    let got = "busy";
    try { lock(statePaths(process.env.SHIT_HOME)); got = "held"; } catch (e) { if (e.constructor.name !== "Busy") throw e; }
    process.stdout.write(got);
    setTimeout(() => {}, 500);`;
  const got = await Promise.all(
    Array.from({ length: 12 }, () => {
      const c = spawn(node, ["--input-type=module", "-e", script], { env: s.env, stdio: ["ignore", "pipe", "inherit"] });
      let text = "";
      c.stdout.on("data", (b) => (text += b));
      return new Promise<string>((res) => c.on("close", (code) => res(code === 0 ? text : `exit ${code}`)));
    }),
  );
  assert.deepEqual(
    got.filter((g) => g !== "busy"),
    ["held"],
    got.join(" "),
  );
});
