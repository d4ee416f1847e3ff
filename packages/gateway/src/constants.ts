/**
 * The gateway's HTTP bounds (docs/http-limits.md). A request's head must arrive within
 * HEADERS_TIMEOUT_MS and the whole request, body included, within REQUEST_TIMEOUT_MS (Node checks
 * every CONNECTIONS_CHECK_INTERVAL_MS, so a dribbled body is cut off with a 408 within their sum);
 * a streamed answer is not bounded by them, only by the provider's idle timeout.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;
/** An idle keep-alive connection is closed after this. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** A socket with no traffic either way for this long is closed, whatever it is doing. */
export const SOCKET_IDLE_TIMEOUT_MS = 120_000;
/**
 * After an answer that left a body unread (a 401, a 413), the gateway half-closes and reads and
 * discards what the client still sends, for at most LINGER_TIME_MS and LINGER_MAX_BYTES, before it
 * closes (nginx's lingering close): closing over unread data makes the kernel send a reset, which
 * can reach the client before it has read the answer.
 */
export const LINGER_TIME_MS = 2_000;
export const LINGER_MAX_BYTES = 16 * 1024 * 1024;
/**
 * Sockets lingering at once, over all clients; past it an answer's socket closes at once, as
 * before. A lingering socket no longer counts towards its client's MAX_CONNECTIONS_PER_CLIENT
 * (its exchange is over), so this is what bounds them.
 */
export const MAX_LINGERING_SOCKETS = 256;
/** The event a socket emits when it starts lingering (the per-client connection count lets it go). */
export const LINGER_EVENT = "opengateway:linger";
/** Open connections one client address may hold; the next ones are closed at once. */
export const MAX_CONNECTIONS_PER_CLIENT = 64;
/** Host names a gateway listening on loopback answers for (DNS rebinding). */
export const LOOPBACK_HOSTNAMES: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"]);
