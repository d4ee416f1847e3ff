import type { ChildProcess } from "node:child_process";
import { fork } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ReadyMessage } from "./process-ready.js";

/** A process of a local network: which role it plays and its index among its kind. */
export type NetworkPart = "relay" | "node" | "gateway";

const BIN = fileURLToPath(new URL("./bin.js", import.meta.url));

/** One `opengateway …` child process, with what it reported when it became ready. */
export class NetworkProcess {
  readonly child: ChildProcess;
  readonly part: NetworkPart;

  private constructor(child: ChildProcess, part: NetworkPart) {
    this.child = child;
    this.part = part;
  }

  /**
   * Starts `opengateway <args>` with an IPC channel; its output goes to `onOutput` or this terminal.
   * `env` is added to this process's environment: secrets go there, never in `args` (`ps` shows those to every user).
   */
  static spawn(
    args: string[],
    part: NetworkPart,
    onOutput?: (part: NetworkPart, line: string) => void,
    env?: Record<string, string>,
  ): NetworkProcess {
    const child = fork(BIN, args, {
      env: env && { ...process.env, ...env },
      stdio: onOutput ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "inherit", "inherit", "ipc"],
    });
    if (onOutput) {
      for (const stream of [child.stdout, child.stderr]) {
        if (stream) createInterface({ input: stream }).on("line", (line) => onOutput(part, line));
      }
    }
    return new NetworkProcess(child, part);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for the ready message of the role this process plays. */
  async readyAs<R extends ReadyMessage["role"]>(
    role: R,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Extract<ReadyMessage, { role: R }>> {
    const message = await this.ready(timeoutMs, signal);
    if (message.role !== role) throw new Error(`expected the ${role} to report ready, got the ${message.role}`);
    return message as Extract<ReadyMessage, { role: R }>;
  }

  ready(timeoutMs: number, signal?: AbortSignal): Promise<ReadyMessage> {
    const { child, part } = this;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => finish(new Error(`the ${part} did not become ready within ${timeoutMs / 1000}s`)),
        timeoutMs,
      );
      const onMessage = (message: unknown) => {
        if ((message as ReadyMessage | null)?.type === "ready") finish(undefined, message as ReadyMessage);
      };
      const onExit = (code: number | null) => finish(new Error(`the ${part} exited with code ${code} before it was ready`));
      const onAbort = () => finish(new Error("cancelled"));
      function finish(error?: Error, message?: ReadyMessage) {
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
        signal?.removeEventListener("abort", onAbort);
        if (error) reject(error);
        else if (message) resolve(message);
      }
      child.on("message", onMessage);
      child.on("exit", onExit);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Dies at once, as a crashed machine would (for chaos tests). */
  async kill(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGKILL");
    await exited;
  }
}

/** TCP (not WebSocket) addresses from a ready message, for Node peers to dial. */
export function tcpAddresses(addresses: readonly string[]): string[] {
  return addresses.filter(
    (address) => address.includes("/tcp/") && !address.includes("/ws") && !address.includes("/p2p-circuit"),
  );
}

/** Every local process listens on loopback, on ports the system picks, over TCP and WebSockets. */
export const LOOPBACK_LISTEN = ["--listen", "/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"];

/** `opengateway node start` for a local network (devnet ledger parameters and addresses). */
export function localNodeArgs(options: { model?: string; upstream?: string; home: string }, extra: string[]): string[] {
  const serves = options.upstream === undefined ? ["--model", options.model ?? ""] : ["--upstream", options.upstream];
  return ["node", "start", ...serves, "--home", options.home, "--local", ...extra, ...LOOPBACK_LISTEN];
}

/** What a local network's gateway is started with. */
export interface LocalGatewayOptions {
  host: string;
  port: number;
  home: string;
  /** Kept off the command line: it goes in the gateway's environment (`ps` shows arguments to every user). */
  apiKey: string;
  onOutput?: (part: NetworkPart, line: string) => void;
  signal?: AbortSignal;
}

/**
 * Starts `opengateway gateway start` for a local network (`extra` says how it finds providers), adds it to
 * `parts` so that the network's stop ends it, and waits until it serves.
 */
export async function startLocalGateway(
  options: LocalGatewayOptions,
  extra: string[],
  parts: NetworkProcess[],
): Promise<{ process: NetworkProcess; ready: Extract<ReadyMessage, { role: "gateway" }> }> {
  const args = ["gateway", "start", "--host", options.host, "--port", String(options.port), "--home", options.home, "--local"];
  const gateway = NetworkProcess.spawn([...args, ...extra], "gateway", options.onOutput, {
    OPENGATEWAY_API_KEY: options.apiKey,
  });
  parts.push(gateway);
  return { process: gateway, ready: await gateway.readyAs("gateway", 60_000, options.signal) };
}
