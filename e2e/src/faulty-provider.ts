import type { Libp2p, Stream } from "@libp2p/interface";
import { lpStream } from "@libp2p/utils";
import type { NetworkServices } from "@opengateway/p2p";
import { AdvertPublisher, createLibp2pNode } from "@opengateway/p2p";
import type { Identity } from "@opengateway/protocol";
import { decodeClientFrame, encodeFrame, generateIdentity, INFERENCE_PROTOCOL } from "@opengateway/protocol";

/** Test-only: the ways a provider can fail a request. */
export type Misbehaviour =
  | "dies-before-first-token"
  | "hangs"
  | "sends-garbage"
  | "dies-mid-stream"
  /** Sends three tokens, then nothing more, and never closes the stream. */
  | "goes-silent-mid-stream";

export interface FaultyProvider {
  node: Libp2p<NetworkServices>;
  identity: Identity;
  /** Requests it has been sent. */
  served(): number;
}

/**
 * A provider that misbehaves on purpose (test-only; no engine behind it): it joins through the
 * bootstrap node and advertises the model with irresistible figures, so a router tries it first,
 * then fails every request in one chosen way.
 */
export async function startFaultyProvider(
  bootstrap: string[],
  misbehaviour: Misbehaviour,
  options: { model?: string; region?: string | null; maxConcurrentRequests?: number } = {},
): Promise<FaultyProvider> {
  const identity = generateIdentity();
  let served = 0;
  const node = await createLibp2pNode({ identity, bootstrap, localNetwork: true });
  await node.handle(INFERENCE_PROTOCOL, async (stream: Stream) => {
    served++;
    const lp = lpStream(stream);
    decodeClientFrame((await lp.read()).subarray());
    switch (misbehaviour) {
      case "dies-before-first-token":
        stream.abort(new Error("crashed"));
        return;
      case "hangs":
        return; // never answers, never closes
      case "sends-garbage":
        await lp.write(new TextEncoder().encode('{"t":"delta","text":42,"garbage":true}'));
        return;
      case "dies-mid-stream":
      case "goes-silent-mid-stream":
        for (const text of ["Once", " upon", " a"]) await lp.write(encodeFrame({ t: "delta", index: 0, text, tokens: 1 }));
        if (misbehaviour === "goes-silent-mid-stream") return;
        await new Promise((resolve) => setTimeout(resolve, 50));
        stream.abort(new Error("crashed mid-stream"));
        return;
    }
  });
  const adverts = new AdvertPublisher(node, {
    identity,
    intervalMs: 1_000,
    getCapabilities: () => ({
      v: 1,
      agent: "faulty-test-provider",
      engine: "none",
      region: options.region ?? null,
      clusters: ["A"],
      models: [{ id: options.model ?? "stories260K", contextSize: 2048, pricePerToken: 1, kinds: ["chat", "completion"] }],
      activeRequests: 0,
      maxConcurrentRequests: options.maxConcurrentRequests ?? 64,
      queuedRequests: 0,
      // The most an advert may claim: routers try it first (with odds of millions to one).
      tokensPerSecond: 1e7,
    }),
  });
  adverts.start();
  node.addEventListener("stop", () => adverts.stop());
  return { node, identity, served: () => served };
}

/** The plain TCP addresses among a node's (what a Node peer dials). */
export function tcpAddresses(addresses: string[]): string[] {
  return addresses.filter((address) => address.includes("/tcp/") && !address.includes("/ws"));
}
