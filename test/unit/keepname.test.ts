// The keep names a record may carry (src/store/store.ts isKeepName; native/apply keep_ok checks the
// same shapes, test/security.test.ts): by inode, a kept tail, or an unlinked file by its directory.
import test from "node:test";
import assert from "node:assert/strict";
import { isKeepName, looksLikeKeepName } from "../../dist/store/store.js";

test("keep names: the three shapes are a command's own; anything else is refused", () => {
  const c = "0123456789abcdef";
  for (const ok of ["1-2", "65024-2384084.tail4096", "d65024-2384084/f00", "d1-2/k e.pt", "d1-2/.gitignore", "d1-2/...", `d1-2/${"x".repeat(255)}`])
    assert.ok(isKeepName(c, `${c}/${ok}`) && looksLikeKeepName(`${c}/${ok}`), ok);
  for (const bad of [
    "",
    "1-",
    "-2",
    "x1-2",
    "1-2/x",
    "1-2.tail",
    "d1-2",
    "d1-2/",
    "d1-2/.",
    "d1-2/..",
    "d1-2/a/b",
    "d1-2/../../secret",
    "dx-2/a",
    "d1-/a",
    "d1-2/caf\u00e9",
    "d1-2/a\nb",
    `d1-2/${"x".repeat(256)}`,
  ])
    assert.ok(!isKeepName(c, `${c}/${bad}`), JSON.stringify(bad));
  assert.ok(!isKeepName(c, "fedcba9876543210/1-2"), "another command's");
  assert.ok(!isKeepName("../x", "../x/1-2"), "a command id that is a path");
});
