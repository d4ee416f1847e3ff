#!/usr/bin/env node
// `pnpm start` builds only what changed: `tsc -b` (run before this) is incremental, and the
// contributor page (a vite build, most of a full build's time) is rebuilt only when something
// it is built from is newer than the built page.
import { execSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const built = join(root, "packages/browser-node/dist/contribute/index.html");
const sources = [
  "packages/browser-node/page",
  "packages/browser-node/src",
  "packages/browser-node/vite.config.ts",
  "packages/browser-node/package.json",
  "packages/protocol/dist",
  "packages/ledger/dist",
  "packages/p2p/dist",
];

/** The latest modification time under a file or folder (0 when it does not exist). */
function newest(path) {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    return 0;
  }
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(path).reduce((latest, name) => Math.max(latest, newest(join(path, name))), stats.mtimeMs);
}

const builtAt = newest(built);
const changedAt = Math.max(...sources.map((source) => newest(join(root, source))));
if (builtAt === 0 || changedAt > builtAt) {
  execSync("pnpm --filter @opengateway/browser-node build:page", { cwd: root, stdio: "inherit" });
} else {
  process.stdout.write("contributor page: up to date\n");
}
