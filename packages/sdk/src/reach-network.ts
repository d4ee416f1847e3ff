import type { Libp2p } from "@libp2p/interface";
import { multiaddr } from "@multiformats/multiaddr";
import { errorClass, errorMessage } from "@opengateway/protocol";

/** How long `createClient` tries to reach one of its bootstrap or peer addresses. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** `createClient` reached none of the addresses it was given to join the network through. */
export class NetworkUnreachableError extends errorClass(
  "NetworkUnreachableError",
  "network_unreachable",
  (message: string) => message,
) {}

/**
 * Dials every bootstrap and peer address at once and resolves at the first connection, so a
 * client with an unreachable network fails at once with the reasons, not with 503s later.
 */
export async function reachNetwork(
  libp2p: Libp2p,
  addresses: readonly string[],
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  if (addresses.length === 0) {
    throw new NetworkUnreachableError(
      "no address to join the network through: pass `bootstrap` (or `peers`) multiaddrs, e.g. /dns4/relay.example/tcp/443/wss/p2p/12D3KooW…",
    );
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])];
  const signal = AbortSignal.any(signals);
  const started = performance.now();
  const failures: string[] = [];
  try {
    await Promise.any(
      addresses.map(async (address) => {
        try {
          await libp2p.dial(multiaddr(address), { signal });
        } catch (error) {
          failures.push(`${address}: ${signal.aborted && !options.signal?.aborted ? "no answer" : dialFailure(error)}`);
          throw error;
        }
      }),
    );
  } catch {
    options.signal?.throwIfAborted();
    const waited = ((performance.now() - started) / 1000).toFixed(1);
    throw new NetworkUnreachableError(
      `could not reach any of the ${addresses.length} bootstrap/peer address${addresses.length === 1 ? "" : "es"} (waited ${waited} s, at most ${timeoutMs / 1000} s): ${failures.join("; ")}`,
    );
  }
}

/** libp2p reports "All multiaddr dials failed" around the reasons that matter (refused, not found…). */
function dialFailure(error: unknown): string {
  const inner = error instanceof AggregateError ? error.errors.filter((cause) => cause instanceof Error) : [];
  return inner.length > 0 ? [...new Set(inner.map(errorMessage))].join(", ") : errorMessage(error);
}
