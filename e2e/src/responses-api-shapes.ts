import { z } from "zod";

/**
 * The Responses API objects a served answer may contain, with the fields OpenAI's spec requires,
 * transcribed from the official `openai` package's types (generated from the OpenAPI spec): every
 * field those types mark required is required here, with its type; extra fields pass. A served
 * object that lacks one, or gives `null` where the spec has none, fails the check.
 */
const outputText = z.object({
  type: z.literal("output_text"),
  text: z.string(),
  annotations: z.array(z.unknown()),
  logprobs: z.array(z.unknown()).optional(),
});
const outputMessage = z.object({
  id: z.string().regex(/^msg_/),
  type: z.literal("message"),
  role: z.literal("assistant"),
  status: z.enum(["in_progress", "completed", "incomplete"]),
  content: z.array(outputText),
});
const functionCall = z.object({
  type: z.literal("function_call"),
  id: z.string().regex(/^fc_/),
  call_id: z.string().min(1),
  name: z.string(),
  arguments: z.string(),
  status: z.enum(["in_progress", "completed", "incomplete"]).optional(),
});
const outputItem = z.discriminatedUnion("type", [outputMessage, functionCall]);
const usage = z.object({
  input_tokens: z.int().min(0),
  input_tokens_details: z.object({ cached_tokens: z.int().min(0) }),
  output_tokens: z.int().min(0),
  output_tokens_details: z.object({ reasoning_tokens: z.int().min(0) }),
  total_tokens: z.int().min(0),
});
const functionTool = z.object({
  type: z.literal("function"),
  name: z.string(),
  parameters: z.record(z.string(), z.unknown()).nullable(),
  strict: z.boolean().nullable(),
  description: z.string().nullable().optional(),
});

export const responseObject = z
  .object({
    id: z.string().regex(/^resp_/),
    object: z.literal("response"),
    created_at: z.number(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    incomplete_details: z.object({ reason: z.enum(["max_output_tokens", "content_filter"]).optional() }).nullable(),
    instructions: z.union([z.string(), z.array(z.unknown())]).nullable(),
    metadata: z.record(z.string(), z.string()).nullable(),
    model: z.string(),
    output: z.array(outputItem),
    parallel_tool_calls: z.boolean(),
    temperature: z.number().nullable(),
    tool_choice: z.union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), name: z.string() })]),
    tools: z.array(functionTool),
    top_p: z.number().nullable(),
    status: z.enum(["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"]).optional(),
    max_output_tokens: z.int().nullable().optional(),
    completed_at: z.number().nullable().optional(),
    previous_response_id: z.string().nullable().optional(),
    text: z
      .object({
        format: z.union([
          z.object({ type: z.literal("text") }),
          z.object({ type: z.literal("json_object") }),
          z.object({
            type: z.literal("json_schema"),
            name: z.string(),
            schema: z.record(z.string(), z.unknown()),
            strict: z.boolean().nullable().optional(),
          }),
        ]),
      })
      .optional(),
    truncation: z.enum(["auto", "disabled"]).nullable().optional(),
    usage: usage.optional(),
  })
  .check((context) => {
    const { status, completed_at: completedAt } = context.value as { status?: string; completed_at?: unknown };
    if (status === "completed" && typeof completedAt !== "number") {
      context.issues.push({ code: "custom", input: completedAt, message: "completed_at is present when completed" });
    }
  });

const numbered = { sequence_number: z.int().min(0) };
const withResponse = (type: string) => z.object({ type: z.literal(type), response: responseObject, ...numbered });
const inItem = { item_id: z.string(), output_index: z.int().min(0), ...numbered };

export const streamEvent = z.discriminatedUnion("type", [
  withResponse("response.created"),
  withResponse("response.in_progress"),
  withResponse("response.completed"),
  withResponse("response.incomplete"),
  withResponse("response.failed"),
  z.object({ type: z.literal("response.output_item.added"), output_index: z.int().min(0), item: outputItem, ...numbered }),
  z.object({ type: z.literal("response.output_item.done"), output_index: z.int().min(0), item: outputItem, ...numbered }),
  z.object({ type: z.literal("response.content_part.added"), content_index: z.int().min(0), part: outputText, ...inItem }),
  z.object({ type: z.literal("response.content_part.done"), content_index: z.int().min(0), part: outputText, ...inItem }),
  z.object({
    type: z.literal("response.output_text.delta"),
    content_index: z.int().min(0),
    delta: z.string(),
    logprobs: z.array(z.unknown()),
    ...inItem,
  }),
  z.object({
    type: z.literal("response.output_text.done"),
    content_index: z.int().min(0),
    text: z.string(),
    logprobs: z.array(z.unknown()),
    ...inItem,
  }),
  z.object({ type: z.literal("response.function_call_arguments.delta"), delta: z.string(), ...inItem }),
  z.object({
    type: z.literal("response.function_call_arguments.done"),
    arguments: z.string(),
    name: z.string(),
    ...inItem,
  }),
  z.object({
    type: z.literal("error"),
    code: z.string().nullable(),
    message: z.string(),
    param: z.string().nullable(),
    ...numbered,
  }),
]);

/** Parses with the schema, failing with every issue and the value when it does not fit. */
export function assertShape<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new Error(`${what} does not fit the spec: ${z.prettifyError(parsed.error)}\n${JSON.stringify(value)}`);
  return parsed.data;
}
