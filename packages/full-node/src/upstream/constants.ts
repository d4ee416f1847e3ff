/** An upstream that has not started answering (headers or first event) after this long is treated as failed. */
export const DEFAULT_UPSTREAM_FIRST_BYTE_TIMEOUT_MS = 20_000;
/** An upstream stream that goes quiet for this long mid-answer is treated as failed. */
export const DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS = 20_000;
/** How long discovery (models, llama-server's /props) may take at start. */
export const DEFAULT_UPSTREAM_DISCOVERY_TIMEOUT_MS = 10_000;
/** Context size assumed for a model the upstream says nothing about, unless a flag sets it. */
export const DEFAULT_UPSTREAM_CONTEXT_SIZE = 4096;
/** Requests sent at once when the upstream does not say how many slots it has. */
export const DEFAULT_UPSTREAM_PARALLEL_REQUESTS = 4;
/** Requests the node lets wait on a busy upstream before refusing new ones as overloaded. */
export const DEFAULT_UPSTREAM_MAX_QUEUED_REQUESTS = 64;
