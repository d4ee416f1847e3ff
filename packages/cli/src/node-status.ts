import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FullNode } from "@opengateway/full-node";
import type { Reputation } from "@opengateway/ledger";

/** What a running node says about itself, in `<home>/node-status.json`, for `opengateway status`. */
export const NODE_STATUS_FILE = "node-status.json";
const INTERVAL_MS = 5_000;

export interface NodeStatus {
  pid: number;
  startedAt: string;
  updatedAt: string;
  peerId: string;
  /** `serving`, or what the temperature guard made of it. */
  state: string;
  models: string[];
  modelPath: string;
  region: string | null;
  addresses: string[];
  peers: number;
  queue: { active: number; queued: number; parallel: number };
  /** Whether it runs as a devnet/LAN node (`--local`): a wallet that joins through it takes the same ledger rules. */
  localNetwork: boolean;
  /**
   * The node's account on its copy of the ledger, its reputation as a provider (0–1000, the score
   * routers read from the same ledger) and the network's registration difficulty; null without a
   * ledger (`--no-credits`).
   */
  ledger: {
    registered: boolean;
    balance: number;
    debt: number;
    earned: number;
    claimed: number;
    reputation: Reputation;
    registrationDifficultyBits: number;
    registrationMemoryKiB?: number;
  } | null;
  temperature: { state: string; celsius: number | null } | null;
}

export function nodeStatus(
  node: FullNode,
  startedAt: Date,
  localNetwork: boolean,
  temperature: NodeStatus["temperature"] = null,
): NodeStatus {
  const ledger = node.ledger;
  const account = ledger?.account(node.identity.id);
  return {
    pid: process.pid,
    startedAt: startedAt.toISOString(),
    updatedAt: new Date().toISOString(),
    peerId: node.identity.id,
    state: temperature?.state === "paused" || temperature?.state === "throttled" ? temperature.state : "serving",
    models: node.engine.listModels().map((model) => model.id),
    modelPath: node.modelPath,
    region: node.region,
    addresses: node.addresses(),
    peers: node.libp2p.getPeers().length,
    localNetwork,
    queue: { active: node.engine.activeRequests, queued: node.engine.queuedRequests, parallel: node.engine.parallelRequests },
    ledger:
      ledger && account
        ? {
            registered: account.opened,
            balance: account.balance,
            debt: account.debt,
            earned: node.earnings?.collected ?? 0,
            claimed: node.earnings?.claimed ?? 0,
            reputation: ledger.reputation(node.identity.id),
            registrationDifficultyBits: ledger.params.registrationDifficultyBits,
            registrationMemoryKiB: ledger.params.registrationMemoryKiB,
          }
        : null,
    temperature,
  };
}

/** Keeps the status file current while the node runs, and removes it when the node stops. */
export function writeNodeStatus(
  home: string,
  node: FullNode,
  options: { localNetwork: boolean; temperature?: () => NodeStatus["temperature"] },
): { stop(): Promise<void> } {
  const path = join(home, NODE_STATUS_FILE);
  const startedAt = new Date();
  let writing = Promise.resolve();
  const write = () => {
    writing = writing
      .then(() =>
        writeFile(
          path,
          `${JSON.stringify(nodeStatus(node, startedAt, options.localNetwork, options.temperature?.() ?? null), null, 2)}\n`,
        ),
      )
      .catch(() => undefined);
  };
  write();
  const timer = setInterval(write, INTERVAL_MS);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await writing;
      await rm(path, { force: true });
    },
  };
}

/** The status a node last wrote, when the process that wrote it still runs. */
export async function readNodeStatus(home: string): Promise<NodeStatus | null> {
  const text = await readFile(join(home, NODE_STATUS_FILE), "utf8").catch(() => undefined);
  if (text === undefined) return null;
  const status = JSON.parse(text) as NodeStatus;
  try {
    process.kill(status.pid, 0);
    return status;
  } catch {
    return null;
  }
}
