import type { ChildProcess } from "node:child_process";
import { fork } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ReadyMessage } from "./process-ready.js";

export type NetworkPart = "node" | "gateway";

export interface LocalNetworkOptions {
  model: string;
  port: number;
  host: string;
  apiKey: string;
  home: string;
  /** Receives each line the parts print; without it they print to this process's terminal. */
  onOutput?: (part: NetworkPart, line: string) => void;
  /** Extra arguments for `opengateway node start`, e.g. `["--parallel", "2"]`. */
  nodeArgs?: string[];
  signal?: AbortSignal;
}

export interface LocalNetwork {
  url: string;
  nodePeerId: string;
  nodeAddresses: string[];
  models: string[];
  stop(): Promise<void>;
}

const BIN = fileURLToPath(new URL("./bin.js", import.meta.url));

/**
 * A whole network on this machine, each part in its own process and talking over libp2p:
 * a full node (which also acts as the bootstrap peer) and a gateway that dials it.
 */
export async function startLocalNetwork(options: LocalNetworkOptions): Promise<LocalNetwork> {
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map((child) => stopChild(child)));
  };
  try {
    const node = spawnPart(
      [
        "node",
        "start",
        "--model",
        options.model,
        "--home",
        options.home,
        ...(options.nodeArgs ?? []),
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "/ip4/127.0.0.1/tcp/0/ws",
      ],
      "node",
      options,
    );
    children.push(node);
    const nodeReady = await waitForReady(node, "node", 180_000, options.signal);
    if (nodeReady.role !== "node") throw new Error("unexpected ready message");
    const gateway = spawnPart(
      [
        "gateway",
        "start",
        "--host",
        options.host,
        "--port",
        String(options.port),
        "--api-key",
        options.apiKey,
        "--home",
        options.home,
        "--peer",
        ...nodeReady.addresses.filter((address) => address.includes("/tcp/") && !address.includes("/ws")),
      ],
      "gateway",
      options,
    );
    children.push(gateway);
    const gatewayReady = await waitForReady(gateway, "gateway", 60_000, options.signal);
    if (gatewayReady.role !== "gateway") throw new Error("unexpected ready message");
    return {
      url: gatewayReady.url,
      nodePeerId: nodeReady.peerId,
      nodeAddresses: nodeReady.addresses,
      models: nodeReady.models,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function spawnPart(args: string[], part: NetworkPart, options: LocalNetworkOptions): ChildProcess {
  const { onOutput } = options;
  const child = fork(BIN, args, {
    stdio: onOutput ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "inherit", "inherit", "ipc"],
  });
  if (onOutput) {
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on("line", (line) => onOutput(part, line));
    }
  }
  return child;
}

function waitForReady(child: ChildProcess, role: string, timeoutMs: number, signal?: AbortSignal): Promise<ReadyMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`the ${role} did not become ready within ${timeoutMs / 1000}s`)), timeoutMs);
    const onMessage = (message: unknown) => {
      if ((message as ReadyMessage | null)?.type === "ready") finish(undefined, message as ReadyMessage);
    };
    const onExit = (code: number | null) => finish(new Error(`the ${role} exited with code ${code} before it was ready`));
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

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
