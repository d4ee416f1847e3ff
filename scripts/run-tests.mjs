#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist and e2e/dist) with Node's test runner, one
// file at a time: the e2e suites start real processes and the machines have two cores.
//
// A hang must fail the run, not stall CI:
// - `--test-timeout` bounds every test that sets no timeout of its own; Node 20's runner also
//   applies it to each file as a whole, so it is the per-file limit too (larger than any suite's own).
// - `--test-force-exit` ends a file once its tests are done, even if it left a handle open.
// - a whole-run watchdog kills the runner and its files if everything together runs too long.
// The output is Node's runner's own, closing summary included.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const TEST_TIMEOUT_MS = Number(process.env.OPENGATEWAY_TEST_TIMEOUT_MS ?? 600_000);
const RUN_TIMEOUT_MS = Number(process.env.OPENGATEWAY_TEST_RUN_TIMEOUT_MS ?? 3_600_000);

const roots = [...readdirSync("packages").map((name) => join("packages", name, "dist")), join("e2e", "dist")];
const only = process.argv.slice(2);
const files = [];
function walk(dir) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) walk(path);
    else if (entry.endsWith(".test.js") && (only.length === 0 || only.some((filter) => path.includes(filter)))) {
      // A compiled test whose source is gone (moved or deleted) is stale output, not a test.
      if (existsSync(sourceOf(path))) files.push(path);
      else console.error(`# run-tests: skipping ${path}: its source ${sourceOf(path)} is gone (stale build output)`);
    }
  }
}
function sourceOf(compiled) {
  return compiled.replace(/(^|[\\/])dist([\\/])/, "$1src$2").replace(/\.js$/, ".ts");
}
for (const root of roots) walk(root);
if (files.length === 0) {
  console.error("no test files found: run the build first");
  process.exit(1);
}

// Every node, gateway and wallet the tests start would otherwise multicast mDNS on this machine's
// network: off for all of them; the LAN discovery test turns it on inside a network namespace of its own.
const env = { ...process.env, OPENGATEWAY_NO_MDNS: process.env.OPENGATEWAY_NO_MDNS ?? "1" };
// Its own process group, so the watchdog (and a Ctrl-C here) reaches every file's process too.
const runner = spawn(
  process.execPath,
  ["--test", "--test-concurrency=1", `--test-timeout=${TEST_TIMEOUT_MS}`, "--test-force-exit", ...files],
  { stdio: "inherit", detached: true, env },
);
const killGroup = (signal) => {
  try {
    process.kill(-runner.pid, signal);
  } catch {
    // already gone
  }
};
let watchdogFired = false;
const watchdog = setTimeout(() => {
  watchdogFired = true;
  console.error(`\n# run-tests: the whole run passed ${RUN_TIMEOUT_MS} ms; killing it (a test hangs)`);
  killGroup("SIGTERM");
  setTimeout(() => killGroup("SIGKILL"), 10_000).unref();
}, RUN_TIMEOUT_MS);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => killGroup(signal));
runner.once("exit", (code, signal) => {
  clearTimeout(watchdog);
  if (watchdogFired) console.error("# run-tests: FAILED by the whole-run watchdog");
  process.exit(watchdogFired ? 1 : (code ?? (signal ? 1 : 0)));
});
