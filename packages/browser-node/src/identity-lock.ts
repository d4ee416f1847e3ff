import { errorClass } from "@opengateway/protocol";

/** How long a starting tab waits for another tab of this browser to let go of the same identity (a reload's old page). */
const IDENTITY_LOCK_TIMEOUT_MS = 10_000;

/** Another tab of this browser runs the same identity (its IndexedDB database) with a ledger. */
export class IdentityInUseError extends errorClass(
  "IdentityInUseError",
  "identity_in_use",
  (databaseName: string) =>
    `this identity (database '${databaseName}') is already running in another tab of this browser; close that tab, or open this one with its own ?db=`,
) {}

/**
 * Holds an exclusive Web Lock named after the identity's database while the node runs, so two
 * tabs never write one chain. A reload's old page lets go as it unloads, hence the wait.
 * Resolves to the function that lets go.
 */
export async function holdIdentityLock(databaseName: string): Promise<() => void> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (locks === undefined) return () => {};
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  try {
    await new Promise<void>((granted, refused) => {
      locks
        .request(`opengateway-browser-node:${databaseName}`, { signal: AbortSignal.timeout(IDENTITY_LOCK_TIMEOUT_MS) }, () => {
          granted();
          return held;
        })
        .catch(refused);
    });
  } catch {
    throw new IdentityInUseError(databaseName);
  }
  return release;
}
