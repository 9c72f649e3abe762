// The shape of src/: layers that point one way, no import cycles, SQL only behind src/index/, the
// native build located in one place. Reads the sources; runs no process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { root } from "./helpers.ts";

const src = join(root, "src");

// core → services → cli: a module may import its own layer or a lower one. Every top-level
// entry of src/ is placed here, so a new one fails until it is given a layer.
const LAYER: Record<string, number> = {
  spool: 0,
  index: 0,
  store: 0,
  plan: 0,
  paths: 0,
  procs: 0,
  "config.ts": 0,
  "manifest.ts": 0,
  ingest: 1,
  apply: 1,
  daemon: 1,
  shell: 1,
  irreversible: 1,
  doctor: 1,
  undo: 1,
  cli: 2,
};
const NAME = ["core", "services", "cli"];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith(".ts"))
    .map((d) => join(d.parentPath, d.name));
}

/** Relative imports of a file (static, dynamic and type-only), as source paths under src/. */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*["'](\.[^"']+)["']|\bimport\(\s*["'](\.[^"']+)["']\s*\)/g)) {
    const spec = m[1] ?? m[2];
    out.push(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
  }
  return out;
}

/** Source text without comments (block, line, and the tail of a line). */
const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");

const top = (file: string) => relative(src, file).split("/")[0];
const files = sources(src);
const graph = new Map(files.map((f) => [f, importsOf(f, readFileSync(f, "utf8"))]));

test("every part of src/ has a layer", () => {
  const unplaced = [...new Set(files.map(top))].filter((t) => !(t in LAYER));
  assert.deepEqual(unplaced, [], `give these a layer in test/layers.test.ts: ${unplaced.join(", ")}`);
});

test("imports point down the layers: core → services → cli, and nothing outside src/cli imports it", () => {
  const wrong: string[] = [];
  for (const [f, deps] of graph) {
    for (const d of deps) {
      if (!d.startsWith(src + "/")) continue;
      const from = LAYER[top(f)],
        to = LAYER[top(d)];
      if (to > from) wrong.push(`${relative(root, f)} (${NAME[from]}) imports ${relative(root, d)} (${NAME[to]})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("every relative import names a file that exists", () => {
  const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${relative(root, f)} → ${relative(root, d)}`));
  assert.deepEqual(missing, []);
});

test("verbs do not import verbs: what two verbs share lives in a module of its own", () => {
  const main = join(src, "cli", "main.ts");
  const verbs = new Set(graph.get(main)!.filter((d) => top(d) === "cli"));
  const shared = ["context.ts", "exit.ts", "output.ts"].map((f) => join(src, "cli", f)); // main imports these too
  for (const f of shared) verbs.delete(f);
  const wrong = [...verbs].flatMap((v) =>
    graph
      .get(v)!
      .filter((d) => verbs.has(d))
      .map((d) => `${relative(root, v)} imports ${relative(root, d)}`),
  );
  assert.ok(verbs.size >= 8, `found the verbs: ${[...verbs].map((v) => relative(src, v)).join(", ")}`);
  assert.deepEqual(wrong, []);
});

test("no import cycles", () => {
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, "open");
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === "open") cycles.push([...stack.slice(stack.indexOf(d)), d].map((x) => relative(src, x)).join(" → "));
      else if (!state.has(d) && graph.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of files) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});

test("SQL lives in src/index/ only", () => {
  const outside = files
    .filter((f) => top(f) !== "index")
    .flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .map((l, i) => [f, i + 1, l] as const),
    )
    .filter(([, , l]) => /\.q\(|\bprepare\(|\.exec\(\s*["'`]\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|BEGIN|PRAGMA)/i.test(l))
    .map(([f, n, l]) => `${relative(root, f)}:${n}: ${l.trim()}`);
  assert.deepEqual(outside, []);
});

test("the native build is located in src/paths/native.ts only", () => {
  const locators = files
    .filter((f) => relative(src, f) !== "paths/native.ts")
    .filter((f) => /native\/build|"native",\s*"build"|"\.\.",\s*"\.\."|\.\.\/\.\.\//.test(code(readFileSync(f, "utf8"))))
    .map((f) => relative(root, f));
  assert.deepEqual(locators, []);
});

test("the checker sees a cycle and an upward import when there is one", () => {
  const a = join(src, "plan", "a.ts"),
    b = join(src, "plan", "b.ts");
  assert.deepEqual(importsOf(a, `import { x } from "./b.js";\nimport type { Y } from "../cli/main.js";\nconst z = await import("./c.js");`), [
    b,
    join(src, "cli", "main.ts"),
    join(src, "plan", "c.ts"),
  ]);
});
