import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";

export interface LlamaServerProcessOptions {
  /** The command that starts llama-server and takes PORT, THREADS, PARALLEL, MODEL, ALIAS from the environment (the shared `llama-server.sh`). */
  command: string;
  /** Defaults to a free port. */
  port?: number;
  threads?: number;
  parallel?: number;
  /** Tokens of context over all slots. */
  contextSize?: number;
  model?: string;
  alias?: string;
  /** Extra arguments for llama-server. */
  args?: string[];
  /** How long it may take to answer /health (a cold start first downloads llama.cpp). */
  readyTimeoutMs?: number;
  /** Each line it prints. */
  onOutput?: (line: string) => void;
  signal?: AbortSignal;
}

/** A running llama-server child process. */
export interface LlamaServerProcess {
  /** Its OpenAI API root (`http://127.0.0.1:PORT/v1`). */
  readonly baseURL: string;
  readonly pid: number;
  /** Ends it (SIGTERM, then SIGKILL after 5 s); resolves once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts llama.cpp's own server, for tests and benchmarks that use it as an upstream or as the
 * reference, and waits until it answers `/health`.
 */
export async function startLlamaServer(options: LlamaServerProcessOptions): Promise<LlamaServerProcess> {
  const port = options.port ?? (await freePort());
  const environment: Record<string, string> = { PORT: String(port) };
  if (options.threads !== undefined) environment.THREADS = String(options.threads);
  if (options.parallel !== undefined) environment.PARALLEL = String(options.parallel);
  if (options.contextSize !== undefined) environment.CTX = String(options.contextSize);
  if (options.model !== undefined) environment.MODEL = options.model;
  if (options.alias !== undefined) environment.ALIAS = options.alias;
  const child = spawn(options.command, options.args ?? [], {
    env: { ...process.env, ...environment },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const onData = (data: Buffer) => {
    for (const line of data.toString().split("\n")) {
      if (line === "") continue;
      output.push(line);
      if (output.length > 40) output.shift();
      options.onOutput?.(line);
    }
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  let spawnError: Error | undefined;
  // A command that cannot run emits `error` (and maybe no `exit`).
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", (error) => {
      spawnError = error;
      resolve();
    });
  });
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null && spawnError === undefined) {
      child.kill(signal);
      const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(force);
    }
  };
  const baseURL = `http://127.0.0.1:${port}/v1`;
  try {
    await waitForHealth(
      `http://127.0.0.1:${port}/health`,
      () => spawnError ?? exitOf(child),
      options.readyTimeoutMs ?? 120_000,
      options.signal,
    );
  } catch (error) {
    await stop("SIGKILL");
    throw new Error(`llama-server did not start: ${(error as Error).message}\n${output.join("\n")}`, { cause: error });
  }
  return { baseURL, pid: child.pid ?? -1, stop };
}

function exitOf(child: ChildProcess): Error | undefined {
  return child.exitCode !== null || child.signalCode !== null
    ? new Error(`it exited (${child.exitCode ?? child.signalCode})`)
    : undefined;
}

async function waitForHealth(
  url: string,
  ended: () => Error | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    const failure = ended();
    if (failure) throw failure;
    const healthy = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      .then((response) => response.ok)
      .catch(() => false);
    if (healthy) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no healthy answer within ${timeoutMs} ms`);
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
