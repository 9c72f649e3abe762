// Which systemd units a command stopped, from its command lines (src/ingest/units.ts): systemctl's
// options anywhere, wrappers taken off, a typed line split into its commands, another machine's
// units left out, a lone systemctl that failed stopped nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { stoppedUnits, unitsStoppedBy } from "../../dist/ingest/units.js";

test("units: systemctl stop names its units, user or system, with options before or after the verb", () => {
  assert.deepEqual(unitsStoppedBy(["systemctl", "--user", "stop", "web.service", "db"]), [
    { unit: "web.service", scope: "user" },
    { unit: "db", scope: "user" },
  ]);
  assert.deepEqual(unitsStoppedBy(["/usr/bin/systemctl", "stop", "--user", "-q", "web"]), [{ unit: "web", scope: "user" }]);
  assert.deepEqual(unitsStoppedBy(["systemctl", "--no-block", "stop", "nginx"]), [{ unit: "nginx", scope: "system" }]);
  assert.deepEqual(unitsStoppedBy(["systemctl", "--job-mode", "fail", "stop", "nginx"]), [{ unit: "nginx", scope: "system" }]);
  assert.deepEqual(unitsStoppedBy(["systemctl", "--user", "--", "stop", "-odd-name"]), [{ unit: "-odd-name", scope: "user" }]);
});

test("units: other verbs, other programs and other machines stop nothing here", () => {
  assert.deepEqual(unitsStoppedBy(["systemctl", "start", "web"]), []);
  assert.deepEqual(unitsStoppedBy(["systemctl", "status", "stop"]), []);
  assert.deepEqual(unitsStoppedBy(["systemctl", "--user", "restart", "web"]), []);
  assert.deepEqual(unitsStoppedBy(["service", "web", "stop"]), []);
  assert.deepEqual(unitsStoppedBy(["systemctl", "-H", "host", "stop", "web"]), []);
  assert.deepEqual(unitsStoppedBy(["systemctl", "--machine=box", "stop", "web"]), []);
  assert.deepEqual(unitsStoppedBy(["systemctl"]), []);
});

const nul = (...w: string[]) => Buffer.from(w.map((x) => x + "\0").join(""));

test("units: from a typed line (sudo, &&, sh -c) and from the programs a command started, each once", () => {
  const typed = { argv: null, line: "make && sudo systemctl stop nginx; sh -c 'systemctl --user stop web'", exit: 0 };
  assert.deepEqual(stoppedUnits(typed, [nul("systemctl", "stop", "nginx")]), [
    { unit: "nginx", scope: "system" },
    { unit: "web", scope: "user" },
  ]);
  const run = { argv: nul("./deploy.sh"), line: null, exit: 0 };
  assert.deepEqual(stoppedUnits(run, [nul("/bin/bash", "./deploy.sh"), nul("systemctl", "--user", "stop", "worker@1")]), [{ unit: "worker@1", scope: "user" }]);
});

test("units: a lone systemctl stop that failed stopped nothing; in a longer line its status is not its own", () => {
  assert.deepEqual(stoppedUnits({ argv: nul("systemctl", "--user", "stop", "nope"), line: null, exit: 5 }, []), []);
  assert.deepEqual(stoppedUnits({ argv: null, line: "systemctl --user stop web; false", exit: 1 }, []), [{ unit: "web", scope: "user" }]);
});
