import type { Libp2p, PeerId, Stream } from "@libp2p/interface";
import type { Multiaddr } from "@multiformats/multiaddr";
import type { Ledger } from "@opengateway/ledger";
import { NODE_INFO_PROTOCOL, nodeCapabilitiesShape, utf8Decode, utf8Encode } from "@opengateway/protocol";
import { z } from "zod";
import { DEFAULT_NODE_INFO_TIMEOUT_MS } from "./constants.js";
import { FrameStream } from "./frame-stream.js";
import type { ProtocolServiceComponents } from "./service-components.js";

const credits = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A node's view of the ledger: equal Merkle roots on two peers mean equal chains, hence equal balances. */
export const nodeLedgerSummarySchema = z.object({
  merkleRoot: z.string().max(128),
  accounts: z.int().min(0),
  blocks: z.int().min(0),
  minted: credits,
  balances: credits,
  inFlight: credits,
  burned: credits,
  /** The node's own account, and what it collected, claimed and swept since it started. */
  self: z.object({
    opened: z.boolean(),
    height: z.int().min(-1),
    balance: credits,
    debt: credits,
    /** The height at which the account equivocated (frozen there), or null. */
    frozenAt: z.int().min(0).nullable(),
    earned: credits,
    claimed: credits,
    swept: credits,
  }),
});
export type NodeLedgerSummary = z.infer<typeof nodeLedgerSummarySchema>;

/** What a node or tab reports of `ledger` and of its own `account`, with what it collected since it started. */
export function nodeLedgerSummary(
  ledger: Ledger,
  account: string,
  collected: { earned: number; claimed: number; swept: number },
): NodeLedgerSummary {
  const totals = ledger.totals();
  const self = ledger.account(account);
  return {
    merkleRoot: ledger.merkleRoot(),
    accounts: totals.accounts,
    blocks: totals.blocks,
    minted: totals.minted,
    balances: totals.balances,
    inFlight: totals.inFlight,
    burned: totals.burned,
    self: {
      opened: self.opened,
      height: self.height,
      balance: self.balance,
      debt: self.debt,
      frozenAt: self.frozenAt,
      ...collected,
    },
  };
}

/**
 * What `/opengateway/info/1.0.0` answers: the capabilities a node advertises, plus its ledger view
 * when it keeps one. Unknown fields are dropped rather than refused, so a node that reports more
 * than this peer knows of is still understood (adverts, which are signed, stay strict).
 */
export const nodeInfoSchema = z.object({
  v: z.literal(1),
  ...nodeCapabilitiesShape,
  ledger: nodeLedgerSummarySchema.optional(),
});
export type NodeInfo = z.infer<typeof nodeInfoSchema>;

const MAX_NODE_INFO_BYTES = 64 * 1024;

export interface NodeInfoServiceInit {
  /** Called per query, so load figures are current. */
  getInfo: () => NodeInfo;
}

export type NodeInfoServiceComponents = ProtocolServiceComponents;

/** Answers `/opengateway/info/1.0.0` with what this node serves and how busy it is. */
export class NodeInfoService {
  readonly #components: NodeInfoServiceComponents;
  readonly #init: NodeInfoServiceInit;
  #started = false;

  constructor(components: NodeInfoServiceComponents, init: NodeInfoServiceInit) {
    this.#components = components;
    this.#init = init;
  }

  readonly [Symbol.toStringTag] = "@opengateway/node-info-service";

  async start(): Promise<void> {
    await this.#components.registrar.handle(NODE_INFO_PROTOCOL, (stream) => this.#handle(stream), { maxInboundStreams: 32 });
    this.#started = true;
  }

  async stop(): Promise<void> {
    await this.#components.registrar.unhandle(NODE_INFO_PROTOCOL);
    this.#started = false;
  }

  isStarted(): boolean {
    return this.#started;
  }

  async #handle(stream: Stream): Promise<void> {
    try {
      const frames = new FrameStream(stream, { maxFrameBytes: MAX_NODE_INFO_BYTES });
      await frames.writeBytes(utf8Encode(JSON.stringify(this.#init.getInfo())));
      await stream.close();
    } catch (error) {
      stream.abort(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

export function nodeInfoService(init: NodeInfoServiceInit): (components: NodeInfoServiceComponents) => NodeInfoService {
  return (components) => new NodeInfoService(components, init);
}

/** Asks a peer what it serves. Throws on a timeout or an answer that does not validate. */
export async function fetchNodeInfo(
  node: Pick<Libp2p, "dialProtocol">,
  peer: PeerId | Multiaddr,
  options: { signal?: AbortSignal } = {},
): Promise<NodeInfo> {
  const signal = options.signal ?? AbortSignal.timeout(DEFAULT_NODE_INFO_TIMEOUT_MS);
  const stream = await node.dialProtocol(peer, NODE_INFO_PROTOCOL, { signal });
  try {
    const frames = new FrameStream(stream, { maxFrameBytes: MAX_NODE_INFO_BYTES });
    const bytes = await frames.readBytes({ signal });
    return nodeInfoSchema.parse(JSON.parse(utf8Decode(bytes)));
  } finally {
    await stream.close().catch(() => stream.abort(new Error("closing node-info stream failed")));
  }
}
