import { z } from "zod";

export const MAX_EMBEDDING_INPUTS = 2048;
export const MAX_EMBEDDING_INPUT_CHARS = 64 * 1024;

export const embeddingBodySchema = z.strictObject({
  input: z.array(z.string().max(MAX_EMBEDDING_INPUT_CHARS)).min(1).max(MAX_EMBEDDING_INPUTS),
});

export type EmbeddingBody = z.infer<typeof embeddingBodySchema>;
