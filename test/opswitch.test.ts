// Per-op completeness: every switch over record ops or plan steps that says what to do for each
// of them carries a marker comment right before it,
//
//   // OPSWITCH(name)                          TypeScript: case Op.X / case StepOp.X
//   /* OPSWITCH(name; ignores: BEGIN END) */   C: case SP_X / case STEP_X
//
// and this test fails, naming the switch and the op, when an op of the kind the switch is over
// (record ops, or plan steps) is neither a `case` of it nor listed after `ignores:` (ops that
// switch deliberately leaves to its default). Adding an op to src/spool/records.ts therefore
// fails here until every marked switch has decided about it. A marker whose switch cannot be
// parsed fails too. (The idea is binpash/try's TRYCASE comments.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { root } from "./helpers.ts";
import { Op, StepOp } from "../dist/spool/records.js";

// The switches that must exist (each marked once). Add a name here when you mark a switch.
const REQUIRED = ["apply", "step_name", "inverse", "effects", "describe"];

type Kind = "ops" | "steps";
const VOCAB: Record<Kind, string[]> = { ops: Object.keys(Op), steps: Object.keys(StepOp) };

export interface Marked {
  name: string;
  where: string; // file:line of the marker
  kind: Kind | null;
  handled: string[];
  ignores: string[];
  problems: string[]; // cannot be parsed, unknown names
}

/** Blanks out comments and string literals (keeping offsets and newlines), so braces and
 * `case` inside them do not count. */
function code(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`/g, (m) => m.replace(/[^\n]/g, " "));
}

/** The index just past the brace that closes the one at open. -1 when unbalanced. */
function closeBrace(c: string, open: number): number {
  let depth = 0;
  for (let i = open; i < c.length; i++) {
    if (c[i] === "{") depth++;
    else if (c[i] === "}" && --depth === 0) return i + 1;
  }
  return -1;
}

const LABEL = /\bcase\s+(?:(Op|StepOp)\.([A-Z0-9_]+)|(SP|STEP)_(?!F_)([A-Z0-9_]+))\s*:/g;

/** Every OPSWITCH marker in one file and the switch after it. */
export function scan(src: string, file: string): Marked[] {
  const out: Marked[] = [];
  const lineOf = (i: number) => src.slice(0, i).split("\n").length;
  for (const m of src.matchAll(/OPSWITCH\(([^)]*)\)/g)) {
    const at = m.index!;
    const where = `${file}:${lineOf(at)}`;
    const [name, ...rest] = m[1].split(";").map((s) => s.trim());
    const r: Marked = { name, where, kind: null, handled: [], ignores: [], problems: [] };
    out.push(r);
    if (!/^[\w-]+$/.test(name ?? "")) r.problems.push(`marker "${m[0]}": no switch name`);
    for (const part of rest) {
      const ig = /^ignores\s*:\s*(.*)$/.exec(part);
      if (!ig) r.problems.push(`marker "${m[0]}": cannot parse "${part}" (expected "ignores: A B")`);
      else
        r.ignores.push(
          ...ig[1]
            .split(/[\s,]+/)
            .filter(Boolean)
            .map((s) => s.replace(/^(Op\.|StepOp\.|SP_|STEP_)/, "")),
        );
    }
    // the switch must follow the marker's comment, with at most two lines between them; the text
    // is blanked from the marker on only, so a string or regex the blanker misreads earlier in the
    // file (nested template literals) cannot hide it
    const eol = src.indexOf("\n", at);
    const after = eol < 0 ? src.length : eol; // the marker's own line is a comment
    const c = " ".repeat(after) + code(src.slice(after));
    const sw = /\bswitch\s*\(/g;
    sw.lastIndex = after;
    const s = sw.exec(c);
    if (!s || src.slice(after, s.index).split("\n").length > 3) {
      r.problems.push("no switch right after the marker");
      continue;
    }
    const open = c.indexOf("{", s.index);
    const end = open < 0 ? -1 : closeBrace(c, open);
    if (end < 0) {
      r.problems.push("the switch's body cannot be parsed (unbalanced braces)");
      continue;
    }
    // the labels of this switch, not of a switch nested in it
    let body = c.slice(open + 1, end - 1);
    for (let n; (n = /\bswitch\s*\(/.exec(body));) {
      const o = body.indexOf("{", n.index);
      const e = o < 0 ? -1 : closeBrace(body, o);
      if (e < 0) break;
      body = body.slice(0, n.index) + " ".repeat(e - n.index) + body.slice(e);
    }
    const kinds = new Set<Kind>();
    for (const l of body.matchAll(LABEL)) {
      kinds.add(l[1] === "Op" || l[3] === "SP" ? "ops" : "steps");
      r.handled.push(l[2] ?? l[4]);
    }
    if (kinds.size === 0) r.problems.push("the switch has no case Op.X / StepOp.X / SP_X / STEP_X label");
    else if (kinds.size > 1) r.problems.push("the switch mixes record ops and plan steps");
    else r.kind = [...kinds][0];
  }
  return out;
}

/** What is wrong with the marked switches: one line each. */
export function problems(marked: Marked[], required: string[] = []): string[] {
  const out: string[] = [];
  const seen = new Map<string, string>();
  for (const s of marked) {
    const id = `switch ${s.name} (${s.where})`;
    for (const p of s.problems) out.push(`${id}: ${p}`);
    if (seen.has(s.name)) out.push(`${id}: the name is also used at ${seen.get(s.name)}`);
    seen.set(s.name, s.where);
    if (!s.kind) continue;
    const vocab = VOCAB[s.kind];
    for (const x of [...s.handled, ...s.ignores]) if (!vocab.includes(x)) out.push(`${id}: ${x} is not one of the ${s.kind} (records.ts)`);
    for (const x of s.ignores) if (s.handled.includes(x)) out.push(`${id}: ${x} is both handled and ignored`);
    for (const x of vocab)
      if (!s.handled.includes(x) && !s.ignores.includes(x)) out.push(`${id}: ${s.kind === "ops" ? "op" : "step"} ${x} is neither handled nor in its ignores`);
  }
  for (const n of required) if (!seen.has(n)) out.push(`no OPSWITCH(${n}) marker found (required by test/opswitch.test.ts)`);
  return out;
}

function files(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== "build" && e.name !== "node_modules") out.push(...files(p, ext));
    else if (e.isFile() && ext.test(e.name)) out.push(p);
  }
  return out;
}

test("every marked switch handles or ignores each op of its kind", () => {
  const all = [...files(join(root, "src"), /\.ts$/), ...files(join(root, "native"), /\.[ch]$/)];
  const marked = all.flatMap((f) => scan(readFileSync(f, "utf8"), relative(root, f)));
  assert.deepEqual(problems(marked, REQUIRED), []);
});

test("the scanner fails on a missing op, an unparsable marker, a missing required switch", () => {
  const steps = Object.keys(StepOp);
  const ts = (names: string[], marker = "OPSWITCH(fixture; ignores: EXPECT)") =>
    `function f(op: number) {\n  // ${marker}\n  switch (op) {\n${names.map((n) => `    case StepOp.${n}: return "${n} {";\n`).join("")}    default: return "";\n  }\n}\n`;
  const full = steps.filter((n) => n !== "EXPECT");
  assert.deepEqual(problems(scan(ts(full), "fixture.ts"), ["fixture"]), []);

  const minusOne = full.filter((n) => n !== "RENAME");
  const p = problems(scan(ts(minusOne), "fixture.ts"));
  assert.equal(p.length, 1, p.join("\n"));
  assert.match(p[0], /switch fixture \(fixture\.ts:2\): step RENAME is neither handled nor in its ignores/);

  const c = `static int g(int op) {\n  /* OPSWITCH(cfix; ignores: BEGIN END POST) */\n  switch (op) {\n  case SP_UNLINK: { switch (x) { case SP_BEGIN: break; } return 1; }\n  default: return 0;\n  }\n}\n`;
  const pc = problems(scan(c, "fixture.c"));
  assert.ok(
    pc.some((l) => l.includes("op RMDIR is neither handled")),
    pc.join("\n"),
  );
  assert.ok(!pc.some((l) => l.includes("op UNLINK")), pc.join("\n"));

  assert.ok(problems(scan("// OPSWITCH(lost)\nconst x = 1;\n\n\n\nswitch (y) { case Op.BEGIN: }\n", "f.ts")).some((l) => l.includes("no switch right after")));
  assert.ok(problems(scan("// OPSWITCH(open)\nswitch (y) { case Op.BEGIN: \n", "f.ts")).some((l) => l.includes("cannot be parsed")));
  assert.ok(problems(scan(ts(full, "OPSWITCH(bad; skips: EXPECT)"), "f.ts")).some((l) => l.includes('cannot parse "skips: EXPECT"')));
  assert.ok(problems(scan(ts(full, "OPSWITCH(typo; ignores: EXPECTED)"), "f.ts")).some((l) => l.includes("EXPECTED is not one of the steps")));
  assert.ok(problems([], ["nowhere"]).some((l) => l.includes("no OPSWITCH(nowhere) marker")));
});
