import { InvalidArgumentError } from "commander";

/** A commander parser for an integer flag of at least `min`. */
export const integer =
  (name: string, min = 0) =>
  (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return parsed;
  };
