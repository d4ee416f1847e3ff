import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { PortInUseError } from "./cli-errors.js";

/** Fails at once, naming the variable that moves it, when the HTTP port is taken (before any build, node or registration). */
export function assertPortFree(host: string, port: number, variable: string): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      error.code === "EADDRINUSE" ? reject(new PortInUseError(port, variable)) : resolve(),
    );
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

/**
 * The model as a local file before any process starts: a path must exist; a remote model comes
 * from the cache, or is downloaded here with its own progress line (no ready-timeout of its
 * own), or fails at once when its host cannot be reached.
 */
export async function localModelFile(spec: string, home: string): Promise<string> {
  const { resolveModel } = await import("@opengateway/full-node");
  const { downloadProgress } = await import("./progress-line.js");
  return resolveModel(spec, { cacheDir: join(home, "models"), onProgress: downloadProgress(spec) });
}

function parentOf(pid: number): number | null {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

/** Our parent, its parent, … up to `depth` (or init). */
function ancestors(depth: number): number[] {
  const chain: number[] = [];
  for (let pid: number | null = process.ppid; pid !== null && pid > 1 && chain.length < depth; pid = parentOf(pid))
    chain.push(pid);
  return chain;
}

/**
 * Stops this process (as SIGTERM would) when what started it goes: `npx pnpm start` runs us under
 * `npm exec` → `pnpm` → `sh -c`, and a SIGTERM to npx ends npm exec alone, leaving pnpm and the
 * shell (and so us) running. Checked once a second: when any of our first four ancestors is gone
 * or has been re-parented, we stop. Without /proc (macOS), only our own parent is watched.
 */
export function stopWithParent(intervalMs = 1_000): void {
  const chain = ancestors(4);
  const timer = setInterval(() => {
    const now = ancestors(chain.length);
    const orphaned = process.ppid !== chain[0] || chain.some((pid, index) => now[index] !== pid);
    if (!orphaned) return;
    clearInterval(timer);
    process.kill(process.pid, "SIGTERM");
  }, intervalMs);
  timer.unref();
}
