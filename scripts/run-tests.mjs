#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist and e2e/dist) with Node's test runner, one
// file at a time: the e2e suites start real processes and the machines have two cores.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

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
    else if (entry.endsWith(".test.js") && (only.length === 0 || only.some((filter) => path.includes(filter)))) files.push(path);
  }
}
for (const root of roots) walk(root);
if (files.length === 0) {
  console.error("no test files found: run the build first");
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--test", "--test-concurrency=1", ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
