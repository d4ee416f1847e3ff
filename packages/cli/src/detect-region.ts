import { connect } from "node:net";
import type { Region } from "@opengateway/protocol";
import { guessRegionFromTimeZone } from "@opengateway/protocol";

export interface RegionGuess {
  region: Region | null;
  /** How it was found: the nearest bootstrap peer, or the time zone when none answered. */
  source: "latency" | "time-zone" | "none";
  /** The round-trip time (TCP connect) to the nearest peer of each region that answered. */
  latencyMs: Partial<Record<Region, number>>;
}

/** The host and TCP port of a multiaddr such as `/ip4/1.2.3.4/tcp/4001/p2p/…` or `/dns4/host/tcp/4001`; null for other transports. */
export function tcpTarget(multiaddr: string): { host: string; port: number } | null {
  const match = /^\/(?:ip4|ip6|dns|dns4|dns6)\/([^/]+)\/tcp\/(\d+)/.exec(multiaddr);
  return match ? { host: match[1] as string, port: Number(match[2]) } : null;
}

/** Milliseconds to open a TCP connection; null when it fails or takes longer than the timeout. */
export function connectTime(target: { host: string; port: number }, timeoutMs: number): Promise<number | null> {
  return new Promise((done) => {
    const started = performance.now();
    const socket = connect(target);
    const finish = (ms: number | null) => {
      socket.destroy();
      done(ms);
    };
    socket.setTimeout(timeoutMs, () => finish(null));
    socket.once("connect", () => finish(performance.now() - started));
    socket.once("error", () => finish(null));
  });
}

/**
 * The region this machine is nearest to, with no central service: the region whose bootstrap
 * peers answer a TCP connect fastest (the best of three tries each), or else the time zone's guess.
 */
export async function detectRegion(
  peers: Record<Region, readonly string[]>,
  options: { timeZone?: string; timeoutMs?: number } = {},
): Promise<RegionGuess> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const latencyMs: Partial<Record<Region, number>> = {};
  await Promise.all(
    Object.entries(peers).map(async ([region, addresses]) => {
      for (const address of addresses) {
        const target = tcpTarget(address);
        if (target === null) continue;
        for (let attempt = 0; attempt < 3; attempt++) {
          const ms = await connectTime(target, timeoutMs);
          if (ms === null) break;
          latencyMs[region as Region] = Math.min(latencyMs[region as Region] ?? Number.POSITIVE_INFINITY, ms);
        }
      }
    }),
  );
  const nearest = (Object.entries(latencyMs) as Array<[Region, number]>).sort((a, b) => a[1] - b[1])[0];
  if (nearest) return { region: nearest[0], source: "latency", latencyMs };
  const region = guessRegionFromTimeZone(options.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone);
  return { region, source: region === null ? "none" : "time-zone", latencyMs };
}
