import type { ChildProcess } from "node:child_process";
import { fork } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Libp2p } from "@libp2p/interface";
import type { NetworkServices } from "@opengateway/p2p";
import { ADVERT_TOPIC, createLibp2pNode } from "@opengateway/p2p";
import { generateIdentity } from "@opengateway/protocol";

const CLI_BIN = fileURLToPath(new URL("../../packages/cli/dist/bin.js", import.meta.url));

/** A circuit relay v2 server that browsers reserve a slot on (over WebSockets) and that carries gossip between them. */
export interface Relay {
  libp2p: Libp2p<NetworkServices>;
  /** Its WebSocket multiaddr, with /p2p/<peer id>. */
  address: string;
  /** A peer's address through this relay, as a multiaddr object to dial (e.g. `/p2p-circuit/webrtc/p2p/<id>`). */
  through(path: string): Multiaddr;
  stop(): Promise<void>;
}

type Multiaddr = ReturnType<Libp2p["getMultiaddrs"]>[number];

export async function startRelay(host: string): Promise<Relay> {
  const libp2p = await createLibp2pNode({ identity: generateIdentity(), relay: true, listen: [`/ip4/${host}/tcp/0/ws`] });
  // A relay that does not subscribe to adverts would not forward them between the peers it connects.
  libp2p.services.pubsub.subscribe(ADVERT_TOPIC);
  const listening = libp2p.getMultiaddrs().find((candidate) => candidate.toString().includes("/ws"));
  if (listening === undefined) {
    await libp2p.stop();
    throw new Error("the relay has no WebSocket address");
  }
  return {
    libp2p,
    address: listening.toString(),
    through: (path) => listening.encapsulate(path),
    stop: async () => {
      await libp2p.stop();
    },
  };
}

export interface CliPart<T> {
  ready: T;
  pid: number | undefined;
  output: string[];
  stop(): Promise<void>;
}

type NodeReady = { type: "ready"; role: "node"; peerId: string; addresses: string[]; models: string[] };
type GatewayReady = { type: "ready"; role: "gateway"; url: string };

/** `opengateway node start` (node-llama-cpp on the test model) in its own process, without audits (as test devnets). */
export function startFullNodeProcess(args: string[]): Promise<CliPart<NodeReady>> {
  return startCliPart<NodeReady>(["node", "start", "--no-audits", ...args], "node");
}

/** `opengateway gateway start` in its own process. */
export function startGatewayProcess(args: string[]): Promise<CliPart<GatewayReady>> {
  return startCliPart<GatewayReady>(["gateway", "start", ...args], "gateway");
}

async function startCliPart<T extends { role: string }>(args: string[], role: T["role"]): Promise<CliPart<T>> {
  const output: string[] = [];
  const child = fork(CLI_BIN, args, { stdio: ["ignore", "pipe", "pipe", "ipc"] });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on("line", (line) => output.push(line));
  }
  const stop = () => stopChild(child);
  try {
    const ready = await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the ${role} did not start in time:\n${output.join("\n")}`)), 60_000);
      child.on("message", (message: { type?: string; role?: string }) => {
        if (message?.type === "ready" && message.role === role) {
          clearTimeout(timer);
          resolve(message as unknown as T);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the ${role} exited with ${code}:\n${output.join("\n")}`));
      });
    });
    return { ready, pid: child.pid, output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
