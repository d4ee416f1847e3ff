/** The regions the network routes within by default (phase 1: a request stays in its region). */
export const REGIONS = ["asia", "north-america", "south-america", "europe", "africa", "oceania"] as const;
export type Region = (typeof REGIONS)[number];

export function isRegion(value: string): value is Region {
  return (REGIONS as readonly string[]).includes(value);
}

const SOUTH_AMERICAN_ZONES =
  /^America\/(Sao_Paulo|Argentina|Buenos_Aires|Lima|Bogota|Santiago|Caracas|La_Paz|Montevideo|Asuncion|Guayaquil|Cayenne|Paramaribo|Guyana|Belem|Fortaleza|Recife|Manaus|Cuiaba|Porto_Velho|Rio_Branco|Boa_Vista|Campo_Grande|Araguaina|Maceio|Bahia|Noronha|Santarem|Punta_Arenas)/;

/**
 * A best guess of a node's region from its IANA time zone, with no network look-up. Config and
 * flags always win over it; `null` when the zone says nothing useful (e.g. `UTC`).
 */
export function guessRegionFromTimeZone(timeZone: string | undefined): Region | null {
  if (!timeZone) return null;
  if (SOUTH_AMERICAN_ZONES.test(timeZone)) return "south-america";
  const area = timeZone.split("/")[0];
  switch (area) {
    case "America":
    case "Canada":
    case "US":
      return "north-america";
    case "Europe":
    case "Atlantic":
      return "europe";
    case "Africa":
      return "africa";
    case "Asia":
    case "Indian":
      return "asia";
    case "Australia":
    case "Pacific":
    case "Antarctica":
      return "oceania";
    default:
      return null;
  }
}
