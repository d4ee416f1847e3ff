import { z } from "zod";
import { ENVELOPE_VERSION, MAX_MODEL_ID_CHARS } from "./constants.js";
import { InvalidSignatureError, RequestExpiredError } from "./errors.js";
import type { Identity } from "./identity.js";
import { isIdentityId } from "./identity.js";
import { MODEL_CLUSTERS } from "./model-cluster.js";
import type { Signed } from "./signed-envelope.js";
import { signEnvelope, verifyEnvelope } from "./signed-envelope.js";

/** What a provider serves and how busy it is: answered by node-info and gossiped in adverts. */
export const nodeCapabilitiesShape = {
  /** Software and version, e.g. `opengateway-full-node/0.1.0`. */
  agent: z.string().max(128),
  engine: z.string().max(64),
  region: z.string().max(64).nullable(),
  clusters: z.array(z.enum(MODEL_CLUSTERS)).max(MODEL_CLUSTERS.length),
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
  /** Requests being generated now, how many can run at once, and how many wait. */
  activeRequests: z.int().min(0),
  maxConcurrentRequests: z.int().min(1),
  queuedRequests: z.int().min(0),
  /** Measured generation speed (recent average), null until measured. */
  tokensPerSecond: z.number().min(0).max(1e7).nullable(),
};

export const nodeCapabilitiesSchema = z.strictObject({ v: z.literal(1), ...nodeCapabilitiesShape });
export type NodeCapabilities = z.infer<typeof nodeCapabilitiesSchema>;

export const MAX_ADVERT_TTL_MS = 5 * 60_000;

/** A provider's signed, expiring statement of its capabilities and addresses, gossiped to the network. */
export const capabilityAdvertSchema = z.strictObject({
  v: z.literal(ENVELOPE_VERSION),
  peer: z.string().max(128).refine(isIdentityId, "not an identity id"),
  capabilities: nodeCapabilitiesSchema,
  addresses: z.array(z.string().max(512)).max(32),
  issuedAt: z.int().min(0),
  expiresAt: z.int().min(0),
  sig: z.string().max(128),
});

export type CapabilityAdvert = z.infer<typeof capabilityAdvertSchema>;

export function createCapabilityAdvert(
  params: { capabilities: NodeCapabilities; addresses: string[]; ttlMs: number; now?: number },
  identity: Identity,
): CapabilityAdvert {
  const issuedAt = params.now ?? Date.now();
  return signEnvelope(
    "capability-advert",
    {
      v: ENVELOPE_VERSION,
      peer: identity.id,
      capabilities: params.capabilities,
      addresses: params.addresses,
      issuedAt,
      expiresAt: issuedAt + Math.min(params.ttlMs, MAX_ADVERT_TTL_MS),
    },
    identity,
  ) as Signed<Omit<CapabilityAdvert, "sig">>;
}

/** Checks the advert is signed by the peer it describes and is current. */
export function verifyCapabilityAdvert(advert: CapabilityAdvert, options: { now?: number; clockSkewMs?: number } = {}): void {
  if (!verifyEnvelope("capability-advert", advert, advert.peer))
    throw new InvalidSignatureError("the advert is not signed by its peer");
  const now = options.now ?? Date.now();
  const skew = options.clockSkewMs ?? 30_000;
  if (advert.issuedAt > now + skew || advert.expiresAt <= now) throw new RequestExpiredError("the advert is not current");
  if (advert.expiresAt - advert.issuedAt > MAX_ADVERT_TTL_MS) throw new RequestExpiredError("the advert claims too long a life");
}
