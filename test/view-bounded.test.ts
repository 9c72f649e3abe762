// A large command's stored view folded path by path in bounded memory (src/ingest/view.ts,
// storeBounded) against the whole fold: for every command of the case matrix, and for one of
// thousands of events over many directories (renames across directories, chains and a swap,
// sed -i's temp files renamed over, files created then removed, links, metadata, a directory
// removed after a file was moved out of it, files past the cap), folded in batches of a few changes, the same rows:
// the view's parts, its doubts, the effect counts and the command's class. Each also with the
// events sorted in ranges of a few paths (as when SQLite's temporary directory is full), with the
// paths renames join folded again at each of them past two changes waiting for the pass, and a
// large sed -i (a temp file renamed over each of 3000 files) with moves to an earlier directory
// and a rotation. Then a real full temporary directory: the ingest goes on, the undo is exact.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { cases, runCase, skipOf } from "./cases.ts";
import { sandbox, sameTree, out, shitBin, busybox, noBusybox, type Sandbox } from "./helpers.ts";
import { Index } from "../dist/index/db.js";
import * as commands from "../dist/index/commands.js";
import * as views from "../dist/index/views.js";
import * as doubts from "../dist/index/doubts.js";
import * as events from "../dist/index/events.js";
import * as keeps from "../dist/index/keeps.js";
import { ingest } from "../dist/ingest/ingest.js";
import { recount } from "../dist/ingest/effects.js";
import { viewLimits } from "../dist/ingest/view.js";
import { statePaths } from "../dist/paths/state.js";

const hex = (b: Uint8Array | null) => (b ? Buffer.from(b).toString("hex") : null);

/** What recount stored of a command, as text. */
function stored(ix: Index, id: string): string {
  const dirs = doubts.dirsOf(ix, id).sort((a, b) => Buffer.compare(a, b));
  return JSON.stringify({
    effects: commands.effectsOf(ix, id),
    class: commands.classOf(ix, id),
    head: views.part(ix, id, -1),
    parts: [...views.parts(ix, id)],
    doubts: dirs.map((d) => [hex(d), hex(doubts.namesIn(ix, id, d))]),
  });
}

/** Each command of the state dir recounted with its view folded whole, then path by path in
 *  batches of `batch`: the same rows. Returns the stored views compared (with entries). */
function bothWays(s: Sandbox, batch: number): Array<{ id: string; events: number; entries: number }> {
  const paths = statePaths(s.state);
  const ix = new Index(paths.index);
  const was = viewLimits({});
  const seen = [];
  try {
    ingest(paths, ix);
    for (const c of commands.newestFirst(ix, null, -1)) {
      viewLimits({ min: 1, bounded: Infinity });
      ix.tx(() => recount(ix, [c.id], paths.staging));
      const whole = stored(ix, c.id);
      viewLimits({ min: 1, bounded: 0, batch });
      ix.tx(() => recount(ix, [c.id], paths.staging));
      assert.equal(stored(ix, c.id), whole, `${c.id} (${c.argv ? Buffer.from(c.argv).toString() : c.kind}): folded path by path`);
      viewLimits({ ahead: 2 }); // past two changes waiting, renames folded again at each path
      ix.tx(() => recount(ix, [c.id], paths.staging));
      assert.equal(stored(ix, c.id), whole, `${c.id} (${c.argv ? Buffer.from(c.argv).toString() : c.kind}): folded path by path, renames at each path`);
      ix.tx(() => events.sortInRanges(() => recount(ix, [c.id], paths.staging), 2000)); // sorted in ranges of a few paths
      assert.equal(stored(ix, c.id), whole, `${c.id} (${c.argv ? Buffer.from(c.argv).toString() : c.kind}): folded path by path, in ranges`);
      const head = views.part(ix, c.id, -1);
      if (head) seen.push({ id: c.id, events: events.count(ix, c.id), entries: (JSON.parse(head) as { entries: number }).entries });
    }
  } finally {
    viewLimits(was);
    ix.close();
  }
  return seen;
}

test("bounded view = whole view: the case matrix, each command and its undo", async (t) => {
  let compared = 0;
  for (const c of cases) {
    if (skipOf(c)) continue;
    await t.test(c.name, async (t) => {
      const s = sandbox(t);
      await runCase(s, c);
      if (c.expect.exit === 0 && c.expect.summary !== null) s.shit(["undo", "--yes"]); // its records too
      compared += bothWays(s, 2).length;
    });
  }
  assert.ok(compared >= 40, `only ${compared} stored views compared`);
});

test("bounded view = whole view: ~900 events in many directories, renames across them, folded in batches of 7", (t) => {
  const s = sandbox(t);
  s.sh(`mkdir t && for d in $(seq 1 14); do mkdir t/d$d; for i in $(seq 1 100); do echo "x $d $i" > t/d$d/f$i; done; done
        mkdir -p t/gone/a/b t/a && echo x > t/gone/a/b/c && echo x > t/gone/k && echo x > t/a/x && echo x > t/a-b
        for i in 1 2 3 4 5 6; do head -c 8192 /dev/zero > t/big$i; done`);
  const cmd = `set -e
    mv t/d3/f1 t/out1; rm -rf t/d1 t/d2 t/d3                        # deleted dirs; one file moved out first
    for i in $(seq 1 50); do mv t/d5/f$i t/d6/m$i; done              # renames across directories
    mv t/d7/f1 t/d7/x; mv t/d7/x t/d8/y; mv t/d8/y t/d9/z            # a chain
    mv t/d7/f2 t/tmp; mv t/d7/f3 t/d7/f2; mv t/tmp t/d7/f3           # a swap
    mv t/d4 t/d4b; mv t/d4b/f9 t/d4b/f9b                             # a directory renamed, then a name in it
    for i in $(seq 1 30); do echo n > t/d10/n$i; rm t/d10/n$i; done  # created then removed
    mkdir -p t/new/sub; touch t/new/f{1..150} t/new/sub/g{1..20}      # a created directory
    sed -i s/x/y/ t/d11/f*                                           # a temp file renamed over each
    chmod 600 t/d12/f{1..20}; touch -d 2001-01-01 t/d12/f{21..30}     # metadata
    ln t/d12/f31 t/d12/l31; ln -s f32 t/d12/s32                      # links
    echo more >> t/d13/f1; truncate -s 0 t/d13/f2                    # modified
    echo y >> t/gone/k; rm -rf t/gone                                # modified, then deleted
    rm t/d14/f{1..60}
    echo y >> t/a/x; mv t/a-b t/d13/ab                                # "t/a/x" before "t/a-b" in path order, not in byte order
    for i in 1 2 3; do echo gone > t/big$i; done; rm t/big4 t/big5; truncate -s 1 t/big6  # past the cap: notes`;
  const run = s.shit(["run", "--", "bash", "-c", cmd], { env: { ...s.env, SHIT_CAP: "4096" } });
  assert.equal(run.status, 0, out(run));
  const seen = bothWays(s, 7);
  const big = seen.find((v) => v.events > 800);
  assert.ok(big, `no command of over 800 events: ${JSON.stringify(seen)}`);
  assert.ok(big.entries > 200, `its view has ${big.entries} entries: not many batches`);
  const ix = new Index(statePaths(s.state).index);
  try {
    const parts = [...views.parts(ix, big.id)].join("");
    assert.match(parts, /larger than the cap/, "no notes: the case does not test them");
  } finally {
    ix.close();
  }
});

test("bounded view = whole view: a sed -i over 3000 files, moves to an earlier directory, a rotation", (t) => {
  const s = sandbox(t);
  s.sh(`mkdir -p t/a t/b t/z && for d in a b; do for i in $(seq 1 1500); do echo "x $d $i" > t/$d/f$i; done; done
        for i in $(seq 1 200); do echo "z $i" > t/z/m$i; done; for i in 1 2 3 4 5; do echo "r $i" > t/r$i; done`);
  const cmd = `set -e
    sed -i s/x/y/ t/a/* t/b/*                                  # a temp file renamed over each
    for i in $(seq 1 200); do mv t/z/m$i t/a/m$i; done          # to a path before the old one: its change waits
    mv t/r1 t/tmp; mv t/r2 t/r1; mv t/r3 t/r2; mv t/r4 t/r3; mv t/r5 t/r4; mv t/tmp t/r5  # one fold of six paths`;
  const run = s.shit(["run", "--", "bash", "-c", cmd]);
  assert.equal(run.status, 0, out(run));
  const seen = bothWays(s, 64);
  const big = seen.find((v) => v.events > 6000);
  assert.ok(big, `no command of over 6000 events: ${JSON.stringify(seen)}`);
  assert.ok(big.entries >= 3205, `its view has ${big.entries} entries`);
});

test("the view's head keeps the seqs of the calls not captured while few, else their count; show lists them all", { skip: noBusybox }, (t) => {
  const s = sandbox(t);
  const cmd = `touch f{1..1100}; for i in $(seq 1 300); do ${busybox} true; done`; // each static program not captured
  const run = s.shit(["run", "--", "bash", "-c", cmd], { env: { ...s.env, SHIT_SECCOMP: "off" } });
  assert.equal(run.status, 0, out(run));
  const paths = statePaths(s.state);
  const ix = new Index(paths.index);
  const was = viewLimits({ bounded: 1000 }); // folded path by path
  try {
    ingest(paths, ix);
    const [c] = commands.newestFirst(ix, null, 1);
    const head = JSON.parse(views.part(ix, c.id, -1) ?? "null") as { uncaptured: unknown } | null;
    assert.equal(head?.uncaptured, 300, `the head: ${JSON.stringify(head).slice(0, 200)}`);
  } finally {
    viewLimits(was);
    ix.close();
  }
  const show = s.shit(["show"]);
  assert.equal(show.status, 0, out(show));
  assert.equal(show.stdout.match(/statically linked: changes it makes are not captured/g)?.length, 300, show.stdout.slice(-2000));
  assert.match(show.stdout, /created\s+f1\n/, "the entries before them");
});

const userns = spawnSync("unshare", ["-rm", "true"]).status === 0;

/** Runs shit with SQLite's temporary directory a tmpfs of one page, mounted in a namespace of each
 *  shit's own (the same user mapping for all, so that the owners recorded are the ones restored). */
function fullTmp(s: Sandbox, env: NodeJS.ProcessEnv = {}) {
  const tiny = join(s.dir, "tiny");
  mkdirSync(tiny, { recursive: true });
  return (args: string[]) =>
    spawnSync("unshare", ["-rm", "sh", "-c", 'mount -t tmpfs -o size=4k tmpfs "$0" && exec "$@"', tiny, shitBin, ...args], {
      cwd: s.work,
      env: { ...s.env, SQLITE_TMPDIR: tiny, ...env },
      encoding: "utf8",
    });
}

test(
  "a full temporary directory: a large command's view is sorted in ranges, and the undo of an mv and rm -rf goes on, tree-exact",
  { skip: userns ? false : "needs `unshare -rm` (a user and mount namespace) to mount a tiny tmpfs" },
  (t) => {
    const s = sandbox(t);
    // paths of ~2.7 KB: each event's row in SQLite's sort ~5.5 KB, so 4000 of them pass the 16 MiB
    // it sorts in memory (the index's cache size) and spill to its temporary directory
    const deep = Array.from({ length: 10 }, (_, i) => String(i).padEnd(250, "d")).join("/");
    s.sh(`mkdir -p t/${deep} && cd t/${deep} && for i in $(seq 1 4000); do printf -v n 'f%0200d' $i; echo $i > $n; done`);
    // SQLite's temporary directory full; the view folded path by path past 1000 events (the
    // ingest of `list` does it, not the undo's, which holds the rows it reads and folds them whole)
    const full = fullTmp(s, { SHIT_VIEW_BOUNDED: "1000" });
    const before = s.tree();
    // moved to an earlier directory first: the renames' rows by their new names all sort there
    const run = full(["run", "--", "sh", "-c", "mkdir a && find t -type f -exec mv -t a {} + && rm -rf t a"]);
    assert.equal(run.status, 0, out(run));
    const list = full(["list"]);
    assert.equal(list.status, 0, `the ingest failed:\n${out(list)}`);
    assert.match(list.stderr, /temporary directory is full or unusable.*sorted in smaller ranges/, "the ranges were not used: nothing spilled");
    const show = full(["show"]);
    assert.equal(show.status, 0, out(show));
    assert.match(show.stdout, /deleted\s+t\/\s+\(4000 files, 10 dirs\)/, show.stdout);
    const undo = full(["undo", "--yes"]);
    assert.equal(undo.status, 0, `undo:\n${out(undo)}`);
    assert.equal(sameTree(before, s.tree()), "", "after undo the tree differs from before the command");
  },
);

test(
  "a full temporary directory: an undo's 3000 pre-images are marked moved back, gc expires and forget removes a command of 3000 files",
  { skip: userns ? false : "needs `unshare -rm` (a user and mount namespace) to mount a tiny tmpfs" },
  (t) => {
    const s = sandbox(t);
    const full = fullTmp(s);
    s.sh("for d in t u; do for i in $(seq 1 20); do mkdir -p $d/d$i; for j in $(seq 1 150); do echo $j > $d/d$i/file-$j; done; done; done");
    const before = s.tree();
    for (const d of ["t", "u"]) assert.equal(full(["run", "--", "rm", "-rf", d]).status, 0);
    const undo = full(["undo", "--yes"]);
    assert.equal(undo.status, 0, `undo:\n${out(undo)}`);
    const inU = (es: typeof before) => es.filter((e) => e.path === "u" || e.path.startsWith("u/"));
    assert.equal(sameTree(inU(s.tree()), inU(before)), "", "u is not back as it was");
    // the next ingest marks the 3000 names the undo moved back: one UPDATE over all of them spilled
    // its statement journal to the full directory, and this failed "disk is full" (exit 5)
    const list = full(["list"]);
    assert.equal(list.status, 0, `list:\n${out(list)}`);
    const ix = new Index(statePaths(s.env.SHIT_HOME!).index);
    const states = (id: string) => {
      const n = new Map<string, number>();
      for (const k of keeps.ofCommand(ix, id)) n.set(k.state, (n.get(k.state) ?? 0) + 1);
      return Object.fromEntries(n);
    };
    const [rmU, rmT] = commands
      .list(ix, { limit: 10, all: true })
      .rows.filter((c) => c.kind === "run")
      .map((c) => c.id); // newest first
    try {
      assert.deepEqual(states(rmU), { gone: 3000 }, "the undo's pre-images are not marked moved back");
      // gc frees the other rm's 3000 pre-images (a 1 s age: both are older by then)
      spawnSync("sleep", ["1.1"]);
      const gc = full(["gc", "--older-than", "1s"]);
      assert.equal(gc.status, 0, `gc:\n${out(gc)}`);
      assert.deepEqual(states(rmT), { expired: 3000 }, "gc did not expire them");
      assert.ok(events.count(ix, rmT) >= 3000, "its events are there before forget");
    } finally {
      ix.close();
    }
    const forget = full(["forget", rmT]);
    assert.equal(forget.status, 0, `forget:\n${out(forget)}`);
    const after = new Index(statePaths(s.env.SHIT_HOME!).index);
    try {
      assert.equal(events.count(after, rmT), 0, "forget left its events");
      assert.equal(keeps.ofCommand(after, rmT).length, 0, "forget left its keeps");
    } finally {
      after.close();
    }
  },
);
