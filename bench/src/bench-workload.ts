// What the text-generating benchmarks run: one small model and one set of prompts, so their figures compare.
import { fileURLToPath } from "node:url";

/** OPENGATEWAY_TEST_MODEL (or OPENGATEWAY_MODEL), else the shared stories260K beside the checkout. */
export const BENCH_MODEL_PATH =
  process.env.OPENGATEWAY_TEST_MODEL ??
  process.env.OPENGATEWAY_MODEL ??
  fileURLToPath(new URL("../../../shared/models/stories260K.gguf", import.meta.url));

export const BENCH_PROMPTS = ["Once upon a time", "The little dog", "Lily and Tom went to the park", "One day, a big bird"];
