import { resolveTxt } from "node:dns/promises";
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

/** Looks up a name's TXT records (node:dns's `resolveTxt`; tests give their own). */
export type TxtResolver = (name: string) => Promise<string[][]>;

/**
 * The TCP targets behind a bootstrap multiaddr: its own host and port, or for
 * `/dnsaddr/<domain>[/p2p/<id>]` the addresses that `_dnsaddr.<domain>`'s TXT records list
 * (`dnsaddr=/ip4/…/tcp/…/p2p/<id>`, only those of that peer id; nested dnsaddrs in turn), as libp2p
 * resolves them when it dials. Empty when it names no TCP address or its records cannot be read.
 */
export async function tcpTargets(
  multiaddr: string,
  options: { resolveTxt?: TxtResolver; depth?: number } = {},
): Promise<Array<{ host: string; port: number }>> {
  const direct = tcpTarget(multiaddr);
  if (direct !== null) return [direct];
  const dnsaddr = /^\/dnsaddr\/([^/]+)(?:\/p2p\/([^/]+))?/.exec(multiaddr);
  const depth = options.depth ?? 0;
  if (dnsaddr === null || depth >= 4) return [];
  const [, domain, peerId] = dnsaddr;
  const records = await (options.resolveTxt ?? resolveTxt)(`_dnsaddr.${domain}`).catch(() => [] as string[][]);
  const listed = records
    .map((chunks) => chunks.join(""))
    .filter((record) => record.startsWith("dnsaddr="))
    .map((record) => record.slice("dnsaddr=".length))
    .filter((address) => peerId === undefined || address.endsWith(`/p2p/${peerId}`));
  const nested = await Promise.all(listed.map((address) => tcpTargets(address, { ...options, depth: depth + 1 })));
  return nested.flat();
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
        for (const target of await tcpTargets(address))
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
