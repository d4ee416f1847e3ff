import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The real test model: OPENGATEWAY_TEST_MODEL (set by .ci/run), else the shared copy beside the checkout. */
export function testModelPath(): string {
  const path =
    process.env.OPENGATEWAY_TEST_MODEL ?? fileURLToPath(new URL("../../../shared/models/stories260K.gguf", import.meta.url));
  if (!existsSync(path)) throw new Error(`test model missing at ${path}; set OPENGATEWAY_TEST_MODEL`);
  return path;
}
