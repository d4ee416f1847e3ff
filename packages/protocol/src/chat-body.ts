import { z } from "zod";
import { MAX_MESSAGES } from "./constants.js";
import { jsonDepth, jsonValueSchema } from "./json-value.js";
import { samplingParamsShape } from "./sampling-params.js";

/** Upper bound on one message's text: bounds memory before the model's own context limit applies. */
export const MAX_MESSAGE_CHARS = 256 * 1024;
export const MAX_TOOLS = 64;
/** How deep a JSON schema or tool parameters may nest. */
export const MAX_SCHEMA_DEPTH = 32;

const toolNameSchema = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "tool names are 1-64 letters, digits, _ or -");
const boundedSchema = jsonValueSchema.refine(
  (value) => jsonDepth(value, MAX_SCHEMA_DEPTH) <= MAX_SCHEMA_DEPTH,
  "schema nests too deeply",
);

export const toolCallSchema = z.strictObject({
  id: z.string().min(1).max(128),
  name: toolNameSchema,
  /** The arguments as the model wrote them: a JSON text. */
  arguments: z.string().max(256 * 1024),
});

export const chatMessageSchema = z.strictObject({
  role: z.enum(["system", "user", "assistant", "tool"]),
  content: z.string().max(MAX_MESSAGE_CHARS),
  /** An assistant turn that called tools. */
  toolCalls: z.array(toolCallSchema).max(MAX_TOOLS).optional(),
  /** A tool turn: which call this is the result of. */
  toolCallId: z.string().min(1).max(128).optional(),
});

export const toolDefinitionSchema = z.strictObject({
  name: toolNameSchema,
  description: z.string().max(8192).optional(),
  /** JSON Schema of the arguments object. */
  parameters: boundedSchema.optional(),
});

export const responseFormatSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({ type: z.literal("json_schema"), name: z.string().max(64), schema: boundedSchema }),
]);

export const toolChoiceSchema = z.union([z.enum(["none", "auto", "required"]), z.strictObject({ name: toolNameSchema })]);

/**
 * The engine-level chat request a provider executes. OpenAI's wider request shape is
 * validated and mapped into this by the SDK's router; this is what gets signed.
 */
export const chatBodySchema = z.strictObject({
  messages: z.array(chatMessageSchema).min(1).max(MAX_MESSAGES),
  ...samplingParamsShape,
  responseFormat: responseFormatSchema.optional(),
  tools: z.array(toolDefinitionSchema).max(MAX_TOOLS).optional(),
  toolChoice: toolChoiceSchema.optional(),
  /**
   * The last message is an assistant turn to continue rather than answer: how a stream resumes
   * on another provider after its first one died mid-way.
   */
  continueFinal: z.boolean().optional(),
});

export type ToolCall = z.infer<typeof toolCallSchema>;
export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type ToolDefinition = z.infer<typeof toolDefinitionSchema>;
export type ResponseFormat = z.infer<typeof responseFormatSchema>;
export type ToolChoice = z.infer<typeof toolChoiceSchema>;
export type ChatBody = z.infer<typeof chatBodySchema>;

/** A tool choice as OpenAI's API spells it (`tool_choice`), which every OpenAI-shaped backend takes. */
export function openAIToolChoice(
  choice: ToolChoice,
): "none" | "auto" | "required" | { type: "function"; function: { name: string } } {
  return typeof choice === "string" ? choice : { type: "function", function: { name: choice.name } };
}
