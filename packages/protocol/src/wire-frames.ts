import { z } from "zod";
import { utf8Decode, utf8Encode } from "./bytes-encoding.js";
import { MAX_EMBEDDING_INPUTS } from "./embedding-body.js";
import { ERROR_CODES, MalformedFrameError } from "./errors.js";
import { inferenceReceiptSchema } from "./inference-receipt.js";
import { inferenceRequestSchema } from "./inference-request.js";
import { MAX_CHOICES } from "./sampling-params.js";
import { finishReasonSchema, usageSchema } from "./usage.js";

/**
 * Frames of `/opengateway/infer/2.0.0`, each one length-prefixed JSON document.
 * client → provider: `request`, then optionally `cancel`.
 * provider → client: `delta` | `tool_calls` | `embedding` frames, then exactly one of `done` | `error`
 * (a `receipt` of partial work before an `error`, or after the client's `cancel`).
 */
export const requestFrameSchema = z.strictObject({ t: z.literal("request"), request: inferenceRequestSchema });
export const cancelFrameSchema = z.strictObject({ t: z.literal("cancel") });

/** Which choice (0-based) a frame belongs to. */
const choiceIndexSchema = z
  .int()
  .min(0)
  .max(MAX_CHOICES - 1);

export const deltaFrameSchema = z.strictObject({
  t: z.literal("delta"),
  /** Which choice (0-based) the text belongs to. */
  index: choiceIndexSchema,
  /** Text of one or more tokens, batched. */
  text: z.string().max(1024 * 1024),
  tokens: z.int().min(0),
});
/** A choice that ended in tool calls (the model chose to call them). */
export const toolCallsFrameSchema = z.strictObject({
  t: z.literal("tool_calls"),
  index: choiceIndexSchema,
  calls: z.array(z.strictObject({ name: z.string().max(64), arguments: z.string().max(256 * 1024) })).max(64),
});
/** One input's embedding vector. */
export const embeddingFrameSchema = z.strictObject({
  t: z.literal("embedding"),
  index: z
    .int()
    .min(0)
    .max(MAX_EMBEDDING_INPUTS - 1),
  embedding: z.array(z.number()).max(65_536),
});
export const doneFrameSchema = z.strictObject({
  t: z.literal("done"),
  /** One entry per choice, in index order (a single entry for embeddings). */
  choices: z
    .array(z.strictObject({ index: z.int().min(0), finishReason: finishReasonSchema }))
    .min(1)
    .max(MAX_CHOICES),
  usage: usageSchema,
  receipt: inferenceReceiptSchema,
});
/**
 * The receipt of partial work (finish reason `cancelled`): the completion tokens delivered before
 * the client cancelled (sent after its `cancel`) or before an `error` frame (sent just before it).
 */
export const receiptFrameSchema = z.strictObject({ t: z.literal("receipt"), receipt: inferenceReceiptSchema });
export const errorFrameSchema = z.strictObject({
  t: z.literal("error"),
  code: z.enum(ERROR_CODES),
  message: z.string().max(4096),
});

export const clientFrameSchema = z.discriminatedUnion("t", [requestFrameSchema, cancelFrameSchema]);
export const providerFrameSchema = z.discriminatedUnion("t", [
  deltaFrameSchema,
  toolCallsFrameSchema,
  embeddingFrameSchema,
  doneFrameSchema,
  receiptFrameSchema,
  errorFrameSchema,
]);

export type RequestFrame = z.infer<typeof requestFrameSchema>;
export type CancelFrame = z.infer<typeof cancelFrameSchema>;
export type DeltaFrame = z.infer<typeof deltaFrameSchema>;
export type ToolCallsFrame = z.infer<typeof toolCallsFrameSchema>;
export type EmbeddingFrame = z.infer<typeof embeddingFrameSchema>;
export type DoneFrame = z.infer<typeof doneFrameSchema>;
export type ReceiptFrame = z.infer<typeof receiptFrameSchema>;
export type ErrorFrame = z.infer<typeof errorFrameSchema>;
export type ClientFrame = z.infer<typeof clientFrameSchema>;
export type ProviderFrame = z.infer<typeof providerFrameSchema>;

export function encodeFrame(frame: ClientFrame | ProviderFrame): Uint8Array {
  return utf8Encode(JSON.stringify(frame));
}

function decodeWith<T>(schema: z.ZodType<T>, bytes: Uint8Array): T {
  let value: unknown;
  try {
    value = JSON.parse(utf8Decode(bytes));
  } catch (cause) {
    throw new MalformedFrameError("frame is not UTF-8 JSON", { cause });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join(".")}` : "";
    throw new MalformedFrameError(`frame is not valid${where}: ${issue?.message ?? "unknown"}`);
  }
  return parsed.data;
}

export function decodeClientFrame(bytes: Uint8Array): ClientFrame {
  return decodeWith(clientFrameSchema, bytes);
}

export function decodeProviderFrame(bytes: Uint8Array): ProviderFrame {
  return decodeWith(providerFrameSchema, bytes);
}
