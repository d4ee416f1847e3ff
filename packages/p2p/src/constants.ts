/** Defaults for the inference service; each one can be overridden in its init. */
export const DEFAULT_MAX_INBOUND_INFERENCE_STREAMS = 256;
export const DEFAULT_MAX_OUTBOUND_INFERENCE_STREAMS = 1024;
/** How long a provider waits for the request frame after a stream opens. */
export const DEFAULT_REQUEST_READ_TIMEOUT_MS = 10_000;
/** A provider sends at most one delta frame per this interval, coalescing the text in between. */
export const DEFAULT_DELTA_BATCH_MS = 30;
/** A delta frame is flushed early once it holds this many tokens. */
export const DEFAULT_DELTA_BATCH_TOKENS = 256;
/** How long a client waits for a node-info answer. */
export const DEFAULT_NODE_INFO_TIMEOUT_MS = 5_000;
/** Gossipsub topic of signed capability adverts. */
export const ADVERT_TOPIC = "/opengateway/adverts/1.0.0";
/** How often a provider re-publishes its advert, and how long one stays valid. */
export const DEFAULT_ADVERT_INTERVAL_MS = 10_000;
export const DEFAULT_ADVERT_TTL_MS = 30_000;
/** Kad-DHT protocol of this network (its own, so it never mixes with the public IPFS DHT). */
export const KAD_DHT_PROTOCOL = "/opengateway/kad/1.0.0";
