// The index locked by another process for longer than any wait: a write says so as IndexBusy
// (the CLI's one line and exit 7), after waiting it out a few times; a lock let go in time is waited for.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { Index, IndexBusy } from "../../dist/index/db.js";
import { exitCodeOf, EXIT } from "../../dist/cli/exit.js";

/** Another process holding the index's write lock for ms, started once it holds it. */
async function holder(file: string, ms: number) {
  const code = `const {DatabaseSync}=require("node:sqlite");const d=new DatabaseSync(${JSON.stringify(file)});d.exec("BEGIN IMMEDIATE");process.stdout.write("held\\n");setTimeout(()=>{d.exec("COMMIT");process.exit(0)},${ms});`;
  const p = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve) => p.stdout.once("data", () => resolve()));
  return p;
}

test("a write waits out another writer past SQLite's timeout, and says IndexBusy (exit 7) when it never lets go", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "shit-busy-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "index.sqlite");
  new Index(file).close(); // made, migrated
  const ix = new Index(file, 50);
  t.after(() => ix.close());

  // let go after ~1 s: well past the 50 ms timeout, within the retries
  const brief = await holder(file, 1000);
  assert.equal(
    ix.tx(() => 7),
    7,
  );
  await new Promise((r) => brief.once("exit", r));

  // held for good: one clear error, the code the CLI exits with
  const long = await holder(file, 60000);
  t.after(() => long.kill());
  let err: unknown;
  try {
    ix.tx(() => 1);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof IndexBusy, String(err));
  assert.match((err as Error).message, /^the index is busy: another shit process kept it locked/);
  assert.equal(exitCodeOf(err), EXIT.BUSY);
});

// shitd and a CLI (or two CLIs) opening a new index at the same moment: each read the schema
// version before taking the write lock, and the second ran the first migration again ("cannot
// open the index: table spools already exists", exit 5).
test("a new index opened by eight processes at the same moment is migrated once; every open succeeds", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "shit-migrate-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "index.sqlite");
  const db = new URL("../../dist/index/db.js", import.meta.url).href;
  const at = Date.now() + 1500; // all start together
  const code = `const {Index}=await import(${JSON.stringify(db)});while(Date.now()<${at});try{new Index(${JSON.stringify(file)}).close();console.log("ok")}catch(e){console.log(e.message)}`;
  const runs = Array.from({ length: 8 }, () => {
    const p = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    let said = "";
    p.stdout.on("data", (d) => (said += d));
    return new Promise<string>((resolve) => p.on("exit", () => resolve(said.trim())));
  });
  assert.deepEqual(await Promise.all(runs), Array(8).fill("ok"));
});
