import { z } from "zod";
import { utf8Decode, utf8Encode } from "./bytes-encoding.js";
import { ERROR_CODES, MalformedFrameError } from "./errors.js";
import { inferenceReceiptSchema } from "./inference-receipt.js";
import { inferenceRequestSchema } from "./inference-request.js";
import { finishReasonSchema, usageSchema } from "./usage.js";

/**
 * Frames of `/opengateway/infer/1.0.0`, each one length-prefixed JSON document.
 * client → provider: `request`, then optionally `cancel`.
 * provider → client: `delta`* then exactly one of `done` | `error`.
 */
export const requestFrameSchema = z.strictObject({ t: z.literal("request"), request: inferenceRequestSchema });
export const cancelFrameSchema = z.strictObject({ t: z.literal("cancel") });

export const deltaFrameSchema = z.strictObject({
  t: z.literal("delta"),
  /** Text of one or more tokens, batched. */
  text: z.string().max(1024 * 1024),
  tokens: z.int().min(0),
});
export const doneFrameSchema = z.strictObject({
  t: z.literal("done"),
  finishReason: finishReasonSchema,
  usage: usageSchema,
  receipt: inferenceReceiptSchema,
});
export const errorFrameSchema = z.strictObject({
  t: z.literal("error"),
  code: z.enum(ERROR_CODES),
  message: z.string().max(4096),
});

export const clientFrameSchema = z.discriminatedUnion("t", [requestFrameSchema, cancelFrameSchema]);
export const providerFrameSchema = z.discriminatedUnion("t", [deltaFrameSchema, doneFrameSchema, errorFrameSchema]);

export type RequestFrame = z.infer<typeof requestFrameSchema>;
export type CancelFrame = z.infer<typeof cancelFrameSchema>;
export type DeltaFrame = z.infer<typeof deltaFrameSchema>;
export type DoneFrame = z.infer<typeof doneFrameSchema>;
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
