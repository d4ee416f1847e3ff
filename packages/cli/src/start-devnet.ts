import { join } from "node:path";
import { REGIONS } from "@opengateway/protocol";
import type { NetworkPart } from "./network-process.js";
import { LOOPBACK_LISTEN, localNodeArgs, NetworkProcess, startLocalGateway, tcpAddresses } from "./network-process.js";

export interface DevnetOptions {
  nodes: number;
  model: string;
  port: number;
  host: string;
  apiKey: string;
  home: string;
  /** Regions the nodes are spread over, in turn (default: europe, north-america, asia, …). */
  regions?: string[];
  onOutput?: (part: NetworkPart, line: string) => void;
  nodeArgs?: string[];
  gatewayArgs?: string[];
  signal?: AbortSignal;
}

export interface DevnetNode {
  process: NetworkProcess;
  peerId: string;
  addresses: string[];
  region: string | null;
  /** The command line it runs with: its key file (and so its identity and ledger file) survives a restart. */
  readonly args: readonly string[];
}

export interface Devnet {
  url: string;
  relay: { process: NetworkProcess; peerId: string; addresses: string[] };
  nodes: DevnetNode[];
  gateway: { process: NetworkProcess; peerId: string };
  /** Starts one more full node joining through the relay, with `extraArgs` after the devnet's node arguments. */
  addNode(region?: string, extraArgs?: string[]): Promise<DevnetNode>;
  /** Kills the node (SIGKILL, like a crash) if it still runs, and starts it again with the same identity and ledger file. */
  restartNode(node: DevnetNode): Promise<DevnetNode>;
  stop(): Promise<void>;
}

const DEFAULT_REGIONS = [
  "europe",
  "north-america",
  "asia",
  ...REGIONS.filter((r) => !["europe", "north-america", "asia"].includes(r)),
];

/**
 * A multi-process network on one machine, discovered the way a real one is: a bootstrap/relay
 * node, N full nodes and a gateway that know only the bootstrap address and find each other
 * through it (gossiped adverts, the DHT, identify) — no peer lists.
 */
export async function startDevnet(options: DevnetOptions): Promise<Devnet> {
  const processes: NetworkProcess[] = [];
  const stop = async () => {
    await Promise.all(processes.map((part) => part.stop()));
  };
  try {
    const relayProcess = NetworkProcess.spawn(
      ["relay", "start", "--local", "--home", options.home, ...LOOPBACK_LISTEN],
      "relay",
      options.onOutput,
    );
    processes.push(relayProcess);
    const relayReady = await relayProcess.readyAs("relay", 30_000, options.signal);
    const bootstrap = tcpAddresses(relayReady.addresses);
    const regions = options.regions ?? DEFAULT_REGIONS;

    const launch = async (args: readonly string[]) => {
      const process = NetworkProcess.spawn([...args], "node", options.onOutput);
      processes.push(process);
      return { process, ready: await process.readyAs("node", 180_000, options.signal) };
    };
    const addNode = async (region?: string, extraArgs: string[] = []): Promise<DevnetNode> => {
      const nodeRegion = region ?? regions[nodes.length % regions.length] ?? null;
      const args = localNodeArgs(options, [
        ...(nodeRegion ? ["--region", nodeRegion] : []),
        "--key-file",
        // Numbered by nodes ever started, not by nodes running: a replacement never reuses a live node's key.
        join(options.home, `devnet-node-${++started}.key.json`),
        ...(options.nodeArgs ?? []),
        ...extraArgs,
        "--bootstrap",
        ...bootstrap,
      ]);
      const { process, ready } = await launch(args);
      const node = { process, peerId: ready.peerId, addresses: ready.addresses, region: ready.region, args };
      nodes.push(node);
      return node;
    };
    const restartNode = async (node: DevnetNode): Promise<DevnetNode> => {
      await node.process.kill();
      const { process, ready } = await launch(node.args);
      if (ready.peerId !== node.peerId) throw new Error(`the node came back as ${ready.peerId}, not ${node.peerId}`);
      node.process = process;
      node.addresses = ready.addresses;
      return node;
    };
    const nodes: DevnetNode[] = [];
    let started = 0;
    // Models load one at a time: on two cores, parallel loads only slow each other down.
    for (let i = 0; i < options.nodes; i++) await addNode();

    const { process: gatewayProcess, ready: gatewayReady } = await startLocalGateway(
      options,
      [...(options.gatewayArgs ?? []), "--bootstrap", ...bootstrap],
      processes,
    );
    return {
      url: gatewayReady.url,
      relay: { process: relayProcess, peerId: relayReady.peerId, addresses: relayReady.addresses },
      nodes,
      gateway: { process: gatewayProcess, peerId: gatewayReady.peerId },
      addNode,
      restartNode,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
