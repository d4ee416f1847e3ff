import { z } from "zod";
import { MAX_MESSAGE_CHARS } from "./chat-body.js";
import { samplingParamsShape } from "./sampling-params.js";

/** A raw text completion: the prompt is continued as is, with no chat template. */
export const completionBodySchema = z.strictObject({
  prompt: z.string().max(MAX_MESSAGE_CHARS),
  ...samplingParamsShape,
});

export type CompletionBody = z.infer<typeof completionBodySchema>;
