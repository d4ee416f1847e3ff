import { InvalidArgumentError } from "commander";

/** A commander parser for an integer flag of at least `min`. */
export const integer =
  (name: string, min = 0) =>
  (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return parsed;
  };

/**
 * A commander parser for a list of multiaddrs (`--bootstrap a b`, or OPENGATEWAY_BOOTSTRAP="a,b"):
 * each value may hold several, separated by commas or spaces; the values add up.
 */
export const multiaddrList =
  (name: string) =>
  (value: string, previous: string[] | undefined): string[] => {
    const addresses = value.split(/[\s,]+/).filter((part) => part !== "");
    const bad = addresses.find((address) => !address.startsWith("/"));
    if (bad !== undefined) throw new InvalidArgumentError(`${name}: '${bad}' is not a multiaddr (they start with '/')`);
    return [...(previous ?? []), ...addresses];
  };
