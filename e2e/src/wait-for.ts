import assert from "node:assert/strict";

/** Polls `condition` every 100 ms until it holds; fails the test, naming `what`, after `timeoutMs`. */
export async function waitFor(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
