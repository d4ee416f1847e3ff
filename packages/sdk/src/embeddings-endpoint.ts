import type { InferenceReceipt } from "@opengateway/protocol";
import { base64 } from "@opengateway/protocol";
import type { CreateEmbeddingResponse, Embedding } from "openai/resources";
import { parseEmbeddingRequest } from "./embedding-request.js";
import { requireServes, servedModel } from "./models-endpoint.js";
import type { OpenAICall, OpenAIResult } from "./openai-endpoint.js";
import { jsonResult } from "./openai-endpoint.js";
import { OpenAIHttpError } from "./openai-error.js";
import { RoutedStream } from "./routed-stream.js";

/** With `encoding_format: "base64"` a vector travels as the base64 of its little-endian float32s (the client decodes it). */
type EmbeddingAnswer = Omit<CreateEmbeddingResponse, "data"> & {
  data: Array<Omit<Embedding, "embedding"> & { embedding: number[] | string }>;
  opengateway: { receipts: InferenceReceipt[]; providers: string[] };
};

/** `POST /v1/embeddings`: one vector per input, in order. */
export async function embeddingsEndpoint(raw: unknown, call: OpenAICall): Promise<OpenAIResult> {
  const served = servedModel(call.router, raw);
  const request = parseEmbeddingRequest(raw);
  requireServes(call.router, served, request.model, "embedding");
  const stream = await RoutedStream.start(call, [{ kind: "embedding", model: request.model, body: request.body }]);
  const vectors: Array<readonly number[]> = [];
  const done = await stream.drain((event) => {
    if (event.type === "embedding") vectors[event.index] = event.embedding;
  });
  // Array.from visits holes too: an index the provider skipped is undefined there.
  if (vectors.length !== request.body.input.length || Array.from(vectors).some((vector) => vector === undefined)) {
    throw new OpenAIHttpError(502, "the provider returned an incomplete set of embeddings", { code: "protocol_violation" });
  }
  const answer: EmbeddingAnswer = {
    object: "list",
    data: vectors.map((vector, index) => ({
      object: "embedding",
      index,
      embedding: request.encoding === "base64" ? base64.encode(new Uint8Array(Float32Array.from(vector).buffer)) : [...vector],
    })),
    model: request.model,
    usage: { prompt_tokens: done.usage.promptTokens, total_tokens: done.usage.promptTokens },
    opengateway: { receipts: done.receipts, providers: done.providers },
  };
  return jsonResult(answer, stream.headers);
}
