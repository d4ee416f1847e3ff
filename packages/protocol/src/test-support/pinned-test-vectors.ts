import { readFileSync, writeFileSync } from "node:fs";

/**
 * Test vectors pinned in a JSON file; the returned function reads them. With
 * OPENGATEWAY_UPDATE_TEST_VECTORS=1 the file is first rewritten from `compute()`, after a deliberate
 * change of format (the diff of the file is then the change to review).
 */
export function pinnedTestVectors<T>(file: URL, compute: () => T): () => T {
  if (process.env.OPENGATEWAY_UPDATE_TEST_VECTORS === "1") writeFileSync(file, `${JSON.stringify(compute(), null, 2)}\n`);
  return () => JSON.parse(readFileSync(file, "utf8")) as T;
}
