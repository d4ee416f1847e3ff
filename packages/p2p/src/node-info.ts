import type { Libp2p, PeerId, Stream } from "@libp2p/interface";
import { MAX_MODEL_ID_CHARS, NODE_INFO_PROTOCOL, utf8Decode, utf8Encode } from "@opengateway/protocol";
import { z } from "zod";
import { DEFAULT_NODE_INFO_TIMEOUT_MS } from "./constants.js";
import { FrameStream } from "./frame-stream.js";
import type { ProtocolServiceComponents } from "./service-components.js";

export const nodeInfoSchema = z.strictObject({
  v: z.literal(1),
  /** Software and version, e.g. `opengateway-full-node/0.1.0`. */
  agent: z.string().max(128),
  engine: z.string().max(64),
  region: z.string().max(64).nullable(),
  models: z
    .array(
      z.strictObject({
        id: z.string().min(1).max(MAX_MODEL_ID_CHARS),
        contextSize: z.int().min(1),
        pricePerToken: z.number().min(0).max(1_000_000),
        kinds: z.array(z.enum(["chat", "completion", "embedding"])).max(3),
      }),
    )
    .max(256),
  /** Requests being served now, and how many can run at once before queueing. */
  activeRequests: z.int().min(0),
  maxConcurrentRequests: z.int().min(1),
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
  peer: PeerId,
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
