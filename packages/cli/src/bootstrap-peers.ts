import type { Region } from "@opengateway/protocol";
import { guessRegionFromTimeZone, isRegion, REGIONS } from "@opengateway/protocol";
import { readCliConfig } from "./cli-config.js";

/**
 * The network's bootstrap peers per region, built in: `/ip4|ip6|dns4|dns6/…/tcp/…/p2p/<id>`, or
 * `/dnsaddr/<domain>/p2p/<id>` (libp2p resolves its `_dnsaddr` TXT records, so an operator can move
 * a bootstrap node without a release). Every list is empty today: no operator runs a public
 * bootstrap relay yet. Until one does, a node joins through `bootstrap` (flag, OPENGATEWAY_BOOTSTRAP
 * or config) and finds the peers on its LAN with mDNS. `bootstrapPeers` in the config file
 * replaces a region's list.
 */
export const DEFAULT_BOOTSTRAP_PEERS: Readonly<Record<Region, readonly string[]>> = {
  asia: [],
  "north-america": [],
  "south-america": [],
  europe: [],
  africa: [],
  oceania: [],
};

export type RegionPeers = Partial<Record<Region, string[]>>;

/** The built-in list with the config file's regions laid over it. */
export function bootstrapPeers(overrides: RegionPeers = {}): Record<Region, string[]> {
  return Object.fromEntries(
    REGIONS.map((region) => [region, [...(overrides[region] ?? DEFAULT_BOOTSTRAP_PEERS[region])]]),
  ) as Record<Region, string[]>;
}

export interface BootstrapChoice {
  addresses: string[];
  /** Where they came from: given (flag, environment or config), or the region's built-in list. */
  source: "given" | "region";
  /** The region whose list comes first (null: none known, every region's in turn). */
  region: Region | null;
}

/**
 * The peers a command joins through: the ones given (`--bootstrap`, OPENGATEWAY_BOOTSTRAP or the
 * config's `bootstrap`), else the built-in lists: the region's first (`--region`, the config's, else
 * the time zone's guess), then the other regions' (a region with no bootstrap peer of its own still
 * joins the network through another's). Empty when nothing is given and no list has a peer: then
 * only mDNS finds peers, on the LAN.
 */
export function chooseBootstrap(options: {
  given?: readonly string[];
  region?: Region | null;
  overrides?: RegionPeers;
  timeZone?: string;
}): BootstrapChoice {
  const region = options.region ?? guessRegionFromTimeZone(options.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone);
  if (options.given !== undefined && options.given.length > 0) return { addresses: [...options.given], source: "given", region };
  const lists = bootstrapPeers(options.overrides);
  const ordered = region === null ? REGIONS : [region, ...REGIONS.filter((other) => other !== region)];
  return { addresses: [...new Set(ordered.flatMap((each) => lists[each]))], source: "region", region };
}

/** {@link chooseBootstrap} for a command: its `--bootstrap` and `--region`, and the config file's `bootstrapPeers`. */
export async function commandBootstrap(options: {
  bootstrap?: string[];
  region?: string;
  home: string;
}): Promise<BootstrapChoice> {
  const config = await readCliConfig(options.home);
  const region = options.region ?? config.region;
  return chooseBootstrap({
    given: options.bootstrap,
    region: region !== undefined && isRegion(region) ? region : null,
    overrides: config.bootstrapPeers,
  });
}
