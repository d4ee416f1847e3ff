import type { Region } from "@opengateway/protocol";
import { REGIONS } from "@opengateway/protocol";

/**
 * The network's bootstrap peers per region, built in. Operators of a region's bootstrap/relay
 * nodes add theirs here; until a region has one, a node joins through `bootstrap` (config or
 * flag) or finds peers on its LAN. `bootstrapPeers` in the config file replaces a region's list.
 */
export const DEFAULT_BOOTSTRAP_PEERS: Readonly<Record<Region, readonly string[]>> = {
  asia: [],
  "north-america": [],
  "south-america": [],
  europe: [],
  africa: [],
  oceania: [],
};

/** The built-in list with the config file's regions laid over it. */
export function bootstrapPeers(overrides: Partial<Record<Region, string[]>> = {}): Record<Region, string[]> {
  return Object.fromEntries(
    REGIONS.map((region) => [region, [...(overrides[region] ?? DEFAULT_BOOTSTRAP_PEERS[region])]]),
  ) as Record<Region, string[]>;
}
