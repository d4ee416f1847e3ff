import assert from "node:assert/strict";

/** Polls `condition` every 100 ms until it holds; fails the test, naming `what`, after `timeoutMs`. */
export async function waitFor(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How `promise` settled within `timeoutMs`: its value, its error, or "hang" if it had not settled by then. */
export function settledWithin<T>(promise: Promise<T>, timeoutMs: number): Promise<{ value: T } | { error: unknown } | "hang"> {
  const hang = new Promise<"hang">((resolve) => setTimeout(() => resolve("hang"), timeoutMs).unref());
  return Promise.race([
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    hang,
  ]);
}
