import type { ModelRecord } from "@mlc-ai/web-llm";

/** WebLLM artifacts for a model: its TVM-compiled library and weights, hosted by the operator. */
export interface WebLlmModelSpec {
  /** WebLLM's own record: `model_id`, where the weights (`model`) and library (`model_lib`) are, and what it needs. */
  record: ModelRecord;
}

/**
 * A model the operator offers to browser tabs (from the page's config.json). The id is the one
 * clients ask for, the same id full nodes serve the GGUF file under.
 */
export interface ModelOffer {
  id: string;
  /** The GGUF file (wllama). */
  url?: string;
  /** The GGUF file's size; asked of the server (HEAD) when absent. */
  sizeBytes?: number;
  /** Tokens of context per request. */
  contextSize?: number;
  pricePerToken?: number;
  /** Present only where the operator hosts WebLLM artifacts for this model. */
  webllm?: WebLlmModelSpec;
}
