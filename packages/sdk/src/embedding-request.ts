import type { EmbeddingBody } from "@opengateway/protocol";
import { MAX_EMBEDDING_INPUT_CHARS, MAX_EMBEDDING_INPUTS } from "@opengateway/protocol";
import { z } from "zod";
import { checkParameters, isPresent, parseWith, requireJsonObject } from "./request-validation.js";
import { nullish } from "./sampling-request.js";

export const embeddingRequestSchema = z.object({
  model: z.string().min(1).max(256),
  input: z.union([
    z.string().max(MAX_EMBEDDING_INPUT_CHARS),
    z.array(z.string().max(MAX_EMBEDDING_INPUT_CHARS)).min(1).max(MAX_EMBEDDING_INPUTS),
  ]),
  encoding_format: nullish(z.enum(["float", "base64"])),
  dimensions: nullish(z.int().min(1)),
  user: nullish(z.string().max(256)),
});

const KNOWN = new Set(Object.keys(embeddingRequestSchema.shape));
const UNSUPPORTED = {
  input: {
    when: (value: unknown) => Array.isArray(value) && value.some((item) => typeof item !== "string"),
    reason: "inputs as token arrays are not accepted; send text",
  },
  dimensions: { when: isPresent, reason: "the served embedding models have a fixed vector size" },
};

export interface ValidatedEmbeddingRequest {
  model: string;
  body: EmbeddingBody;
  encoding: "float" | "base64";
}

export function parseEmbeddingRequest(raw: unknown): ValidatedEmbeddingRequest {
  const object = requireJsonObject(raw);
  checkParameters(object, KNOWN, UNSUPPORTED);
  const request = parseWith(embeddingRequestSchema, object);
  return {
    model: request.model,
    body: { input: typeof request.input === "string" ? [request.input] : request.input },
    encoding: request.encoding_format ?? "float",
  };
}
