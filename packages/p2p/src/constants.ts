/** Defaults for the inference service; each one can be overridden in its init. */
export const DEFAULT_MAX_INBOUND_INFERENCE_STREAMS = 256;
export const DEFAULT_MAX_OUTBOUND_INFERENCE_STREAMS = 1024;
/** How long a provider waits for the request frame after a stream opens. */
export const DEFAULT_REQUEST_READ_TIMEOUT_MS = 10_000;
/**
 * While a provider streams several answers at once, it sends each of them at most one delta frame
 * per this interval, coalescing the text in between; an answer streamed alone goes out token by
 * token. Measured (issue #15, docs/benchmarks.md): a frame costs the gateway about 0.2 ms of CPU
 * and the node about 0.07 ms, so with 8 streams token-by-token frames took about a third of the
 * aggregate tok/s, while one stream alone only pays a few ms over a 64-token answer.
 */
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
/** Gossipsub topic of new signed ledger blocks. */
export const LEDGER_TOPIC = "/opengateway/ledger/1.0.0";
/** Request/response protocol of Merkle-root reconciliation between two ledgers. */
export const LEDGER_SYNC_PROTOCOL = "/opengateway/ledger-sync/1.0.0";
/** How often every connected peer is reconciled with (roots first: one round trip when in sync). */
export const LEDGER_SYNC_INTERVAL_MS = 10 * 60 * 1000;
/** How long a peer waits for a first ledger-keeping peer before signing on its own chains anyway (the first node of a network has none). */
export const DEFAULT_FIRST_SYNC_WAIT_MS = 5_000;
/** Longest one reconciliation exchange may take, end to end. */
export const LEDGER_SYNC_TIMEOUT_MS = 30_000;
/** Blocks are sent in frames of about this many bytes (one larger block still travels alone). */
export const LEDGER_SYNC_BATCH_BYTES = 256 * 1024;
/** Account heads per frame (a head is ~200 bytes of JSON). */
export const LEDGER_SYNC_HEADS_PER_FRAME = 1_000;
/** Most account heads one side accepts in one exchange. */
export const LEDGER_SYNC_MAX_HEADS = 200_000;
/** Most blocks sent in one direction of one exchange; the rest follow in the next reconciliation. */
export const LEDGER_SYNC_MAX_BLOCKS = 20_000;
/** Reconciliations run at once by `reconcileAll`, and inbound exchanges accepted per connection. */
export const LEDGER_SYNC_CONCURRENCY = 4;
/** Most inbound reconciliation exchanges served at once (over all connections); more are refused. */
export const LEDGER_SYNC_MAX_INBOUND = 16;
/** Where a browser tab listens: through a relay reservation, upgraded to direct WebRTC. */
export const BROWSER_RELAYED_LISTEN = ["/p2p-circuit", "/webrtc"];
/** Invalid ledger blocks (or blocks from unregistered accounts) a peer may send per window before it is banned. */
export const LEDGER_PEER_BAN_AFTER = 50;
export const LEDGER_PEER_STRIKE_WINDOW_MS = 60_000;
/** How long a banned peer's gossip and sync exchanges are refused. */
export const LEDGER_PEER_BAN_MS = 10 * 60 * 1000;
/** Gossiped blocks taken per peer per second (burst: LEDGER_GOSSIP_BURST); past it they are dropped, reconciliation delivers them later. */
export const LEDGER_GOSSIP_BLOCKS_PER_SECOND = 200;
export const LEDGER_GOSSIP_BURST = 1_000;
/**
 * Router backpressure (docs/http-limits.md): a request that finds every provider's slots taken by
 * this router waits in its queue, at most this many at once and at most this long, then gets
 * `OverloadedError` (a 429 with `retry-after`). A stream that already delivered text waits ahead of
 * new requests, and longer, to resume.
 */
export const DEFAULT_ROUTER_MAX_QUEUED = 256;
export const DEFAULT_ROUTER_QUEUE_WAIT_MS = 15_000;
export const DEFAULT_ROUTER_RESUME_WAIT_MS = 60_000;
/** A queued request re-checks the provider table this often (providers appear, adverts refresh). */
export const ROUTER_QUEUE_POLL_MS = 500;
/** Before dialling a provider again whose dial failed (no other one left), the router waits this long times the attempt. */
export const ROUTER_REDIAL_DELAY_MS = 250;
/**
 * A provider that failed this recently is suspect: while a healthy provider of the model exists,
 * even a busy one, requests wait for it rather than dial the suspect (a killed node stays in the
 * table until its advert expires, and would turn every waiting request into a failed dial).
 */
export const ROUTER_SUSPECT_MS = 10_000;
/**
 * mDNS service name of this network's peers: its own, so a node finds OpenGateway peers on its
 * LAN and not every IPFS node there.
 */
export const MDNS_SERVICE_TAG = "_opengateway._udp.local";
/** How often a peer asks its LAN for others over mDNS (it answers others' questions at once). */
export const DEFAULT_MDNS_INTERVAL_MS = 10_000;

/**
 * Routing weight of a provider that has not measured its speed yet (a full node before its first
 * answer): the median of the others' advertised tokens/s, but at most this, so one provider's
 * large claim does not lend every newcomer its weight.
 */
export const ROUTER_UNMEASURED_TOKENS_PER_SECOND = 100;
