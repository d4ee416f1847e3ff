import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { NetworkPart } from "./network-process.js";
import { localNodeArgs, NetworkProcess, startLocalGateway, tcpAddresses } from "./network-process.js";

export type { NetworkPart };

export interface LocalNetworkOptions {
  /** The model file the node serves; ignored with `upstream`. */
  model: string;
  /** The node serves through this OpenAI-compatible server (`--upstream`) instead of loading `model`. */
  upstream?: string;
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
  /** The process ids of the node and the gateway (benchmarks read their CPU time). */
  pids: { node: number; gateway: number };
  stop(): Promise<void>;
}

/**
 * A whole network on this machine, each part in its own process and talking over libp2p:
 * a full node (also the relay and bootstrap peer) and a gateway that dials it.
 */
export async function startLocalNetwork(options: LocalNetworkOptions): Promise<LocalNetwork> {
  const parts: NetworkProcess[] = [];
  const stop = async () => {
    await Promise.all(parts.map((part) => part.stop()));
  };
  try {
    const node = NetworkProcess.spawn(localNodeArgs(options, ["--relay", ...(options.nodeArgs ?? [])]), "node", options.onOutput);
    parts.push(node);
    const nodeReady = await node.readyAs("node", 180_000, options.signal);
    const { process: gateway, ready: gatewayReady } = await startLocalGateway(
      options,
      [...contributeArgs(nodeReady.modelPath, nodeReady.addresses), "--peer", ...tcpAddresses(nodeReady.addresses)],
      parts,
    );
    return {
      url: gatewayReady.url,
      nodePeerId: nodeReady.peerId,
      nodeAddresses: nodeReady.addresses,
      models: nodeReady.models,
      pids: { node: node.pid ?? -1, gateway: gateway.pid ?? -1 },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The node is the relay the /contribute page's tabs join through; the file it serves from its model cache is offered to them. */
function contributeArgs(modelPath: string, nodeAddresses: string[]): string[] {
  const ws = nodeAddresses.filter((address) => address.includes("/ws/"));
  return [
    ...(ws.length > 0 ? ["--contribute-bootstrap", ...ws] : []),
    ...(existsSync(modelPath) ? ["--contribute-model", resolve(modelPath)] : []),
  ];
}
