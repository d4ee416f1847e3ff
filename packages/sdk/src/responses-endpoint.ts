import type { RouterEvent } from "@opengateway/p2p";
import type { ChatMessage, ToolCallRequest, Usage } from "@opengateway/protocol";
import { randomId } from "@opengateway/protocol";
import type {
  ResponseFunctionToolCall,
  ResponseOutputMessage,
  ResponseStreamEvent,
  ResponseUsage,
} from "openai/resources/responses/responses";
import { requireServes, servedModel } from "./models-endpoint.js";
import type { OpenAICall, OpenAIResult } from "./openai-endpoint.js";
import { jsonResult } from "./openai-endpoint.js";
import type { OpenAIErrorBody } from "./openai-error.js";
import { OpenAIHttpError, toOpenAIHttpError } from "./openai-error.js";
import type { ResponseObject, ResponseOutputItem } from "./response-store.js";
import type { ValidatedResponsesRequest } from "./responses-request.js";
import { parseResponsesRequest, resolveConversation } from "./responses-request.js";
import type { RouterDone } from "./routed-stream.js";
import { RoutedStream } from "./routed-stream.js";

/** A stream event as sent: the spec's event, or a failure's `error` event (the spec's shape). */
type StreamEvent = ResponseStreamEvent;
/**
 * An event before its sequence number is given (distributed over the union, so each keeps its own
 * fields), its response object as served: without the SDK-computed `output_text`.
 */
type UnnumberedEvent = StreamEvent extends infer E
  ? E extends { response: unknown }
    ? Omit<E, "sequence_number" | "response"> & { response: ResponseObject }
    : E extends unknown
      ? Omit<E, "sequence_number">
      : never
  : never;
type FunctionCallItem = ResponseFunctionToolCall & { id: string };

/** `POST /v1/responses`, whole or streamed; a `store`d answer can be continued with `previous_response_id`. */
export async function createResponse(raw: unknown, call: OpenAICall): Promise<OpenAIResult> {
  const served = servedModel(call.router, raw);
  const request = parseResponsesRequest(raw, { contextSize: served?.contextSize ?? Number.MAX_SAFE_INTEGER });
  requireServes(call.router, served, request.model, "chat");
  const owner = call.payer.id;
  const conversation = await resolveConversation(request, {
    previousContext: async (id) => (await call.responses.get(owner, id))?.context,
    item: (id) => call.responses.item(owner, id),
  });
  const messages: ChatMessage[] = [
    ...(request.instructions ? [{ role: "system" as const, content: request.instructions }] : []),
    ...conversation,
  ];
  const id = `resp_${hexId()}`;
  const stream = await RoutedStream.start(
    call,
    [{ kind: "chat", model: request.model, body: { ...request.body, messages }, requestId: id.slice("resp_".length) }],
    id,
  );
  const answer = new ResponseBuilder(request, id, call.created);
  const keep = async (response: ResponseObject): Promise<void> => {
    if (request.store) await call.responses.put(owner, { response, context: [...conversation, ...contextOf(response)] });
  };
  if (request.stream)
    return { kind: "event-stream", named: true, headers: stream.headers, events: streamed(stream, answer, keep) };
  const done = await stream.drain((event) => answer.apply(event));
  const { response } = answer.finish(done);
  await keep(response);
  return jsonResult(response, { ...stream.headers, "x-opengateway-provider": done.providers.join(",") });
}

/** `GET /v1/responses/{id}`: a stored response of the caller's own. */
export async function retrieveResponse(id: string, query: URLSearchParams, call: OpenAICall): Promise<OpenAIResult> {
  if (query.get("stream") === "true") {
    throw new OpenAIHttpError(400, "'stream' is not supported here: a stored response is complete, so it is returned whole", {
      param: "stream",
      code: "unsupported_parameter",
    });
  }
  const stored = await call.responses.get(call.payer.id, id);
  if (stored === undefined) throw responseNotFound(id);
  return jsonResult(stored.response);
}

/** `DELETE /v1/responses/{id}`. */
export async function deleteResponse(id: string, call: OpenAICall): Promise<OpenAIResult> {
  if (!(await call.responses.delete(call.payer.id, id))) throw responseNotFound(id);
  return jsonResult({ id, object: "response", deleted: true });
}

/** What is not served below `/v1/responses/{id}/…`, refused by name. */
export function unservedResponseRoute(what: string): never {
  const reasons: Record<string, string> = {
    input_items: "input items are not kept apart from the conversation; keep your own copy of what you sent",
    cancel: "only background responses can be cancelled, and background responses are not served",
  };
  throw new OpenAIHttpError(400, `'${what}' is not supported: ${reasons[what] ?? "no such operation on a response"}`, {
    code: "unsupported_parameter",
  });
}

function responseNotFound(id: string): OpenAIHttpError {
  return new OpenAIHttpError(404, `Response with id '${id}' not found.`, { param: "response_id", code: "not_found" });
}

/** OpenAI's ids are a prefix and hex; so are ours. */
function hexId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The assistant turn a response adds to its conversation. */
function contextOf(response: ResponseObject): ChatMessage[] {
  const text = response.output
    .flatMap((item) =>
      item.type === "message" ? item.content.map((part) => (part.type === "output_text" ? part.text : "")) : [],
    )
    .join("");
  const toolCalls = response.output
    .filter((item): item is FunctionCallItem => item.type === "function_call")
    .map((item) => ({ id: item.call_id, name: item.name, arguments: item.arguments }));
  return [{ role: "assistant", content: text, ...(toolCalls.length > 0 ? { toolCalls } : {}) }];
}

function toResponseUsage(usage: Usage): ResponseUsage {
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}

/**
 * The response object as it grows: the text so far in one assistant message, then the function
 * calls. It yields the stream events that describe each step, so a streamed answer and a whole
 * one are the same object.
 */
class ResponseBuilder {
  readonly #request: ValidatedResponsesRequest;
  readonly #id: string;
  readonly #created: number;
  readonly #output: ResponseOutputItem[] = [];
  #message: ResponseOutputMessage | undefined;
  #sequence = 0;

  constructor(request: ValidatedResponsesRequest, id: string, created: number) {
    this.#request = request;
    this.#id = id;
    this.#created = created;
  }

  /** The object with the given status; `usage` only once known. */
  snapshot(status: ResponseObject["status"], extra: Partial<ResponseObject> = {}): ResponseObject {
    const echo = this.#request.echo;
    return {
      id: this.#id,
      object: "response",
      created_at: this.#created,
      status,
      background: false,
      error: null,
      incomplete_details: null,
      instructions: this.#request.instructions,
      max_output_tokens: echo.max_output_tokens,
      max_tool_calls: echo.max_tool_calls,
      model: this.#request.model,
      output: structuredClone(this.#output),
      parallel_tool_calls: echo.parallel_tool_calls,
      previous_response_id: this.#request.previousResponseId,
      reasoning: { effort: null, summary: null },
      service_tier: "default",
      store: this.#request.store,
      temperature: echo.temperature,
      text: echo.text,
      tool_choice: echo.tool_choice,
      tools: echo.tools,
      top_logprobs: 0,
      top_p: echo.top_p,
      truncation: "disabled",
      metadata: echo.metadata,
      ...(echo.user === undefined ? {} : { user: echo.user }),
      ...(echo.safety_identifier === undefined ? {} : { safety_identifier: echo.safety_identifier }),
      ...(echo.prompt_cache_key === undefined ? {} : { prompt_cache_key: echo.prompt_cache_key }),
      ...extra,
    };
  }

  #event(event: UnnumberedEvent): StreamEvent {
    return { ...event, sequence_number: this.#sequence++ } as unknown as StreamEvent;
  }

  start(): StreamEvent[] {
    const response = this.snapshot("in_progress");
    return [this.#event({ type: "response.created", response }), this.#event({ type: "response.in_progress", response })];
  }

  /** Takes one router event in; returns the stream events it makes. */
  apply(event: RouterEvent): StreamEvent[] {
    if (event.type === "delta") return event.text === "" ? [] : this.#text(event.text);
    if (event.type === "tool_calls")
      return [...this.#closeMessage("completed"), ...event.calls.flatMap((call) => this.#call(call))];
    return [];
  }

  #text(delta: string): StreamEvent[] {
    const events: StreamEvent[] = [];
    const message = this.#message ?? this.#openMessage(events);
    const part = message.content[0];
    if (part?.type === "output_text") part.text += delta;
    events.push(
      this.#event({
        type: "response.output_text.delta",
        item_id: message.id,
        output_index: this.#output.length - 1,
        content_index: 0,
        delta,
        logprobs: [],
      }),
    );
    return events;
  }

  #openMessage(events: StreamEvent[]): ResponseOutputMessage {
    const message: ResponseOutputMessage = {
      id: `msg_${hexId()}`,
      type: "message",
      status: "in_progress",
      role: "assistant",
      content: [],
    };
    this.#message = message;
    this.#output.push(message);
    const outputIndex = this.#output.length - 1;
    events.push(this.#event({ type: "response.output_item.added", output_index: outputIndex, item: structuredClone(message) }));
    message.content.push({ type: "output_text", text: "", annotations: [], logprobs: [] });
    events.push(
      this.#event({
        type: "response.content_part.added",
        item_id: message.id,
        output_index: outputIndex,
        content_index: 0,
        part: { type: "output_text", text: "", annotations: [], logprobs: [] },
      }),
    );
    return message;
  }

  #closeMessage(status: "completed" | "incomplete"): StreamEvent[] {
    const message = this.#message;
    if (message === undefined) return [];
    this.#message = undefined;
    message.status = status;
    const outputIndex = this.#output.indexOf(message);
    const part = message.content[0];
    const text = part?.type === "output_text" ? part.text : "";
    return [
      this.#event({
        type: "response.output_text.done",
        item_id: message.id,
        output_index: outputIndex,
        content_index: 0,
        text,
        logprobs: [],
      }),
      this.#event({
        type: "response.content_part.done",
        item_id: message.id,
        output_index: outputIndex,
        content_index: 0,
        part: structuredClone(part ?? { type: "output_text", text, annotations: [], logprobs: [] }),
      }),
      this.#event({ type: "response.output_item.done", output_index: outputIndex, item: structuredClone(message) }),
    ];
  }

  #call(call: ToolCallRequest): StreamEvent[] {
    const item: FunctionCallItem = {
      id: `fc_${hexId()}`,
      type: "function_call",
      status: "in_progress",
      call_id: `call_${randomId(12)}`,
      name: call.name,
      arguments: "",
    };
    this.#output.push(item);
    const outputIndex = this.#output.length - 1;
    const events: StreamEvent[] = [
      this.#event({ type: "response.output_item.added", output_index: outputIndex, item: structuredClone(item) }),
      this.#event({
        type: "response.function_call_arguments.delta",
        item_id: item.id,
        output_index: outputIndex,
        delta: call.arguments,
      }),
    ];
    item.arguments = call.arguments;
    item.status = "completed";
    events.push(
      this.#event({
        type: "response.function_call_arguments.done",
        item_id: item.id,
        output_index: outputIndex,
        name: item.name,
        arguments: item.arguments,
      }),
      this.#event({ type: "response.output_item.done", output_index: outputIndex, item: structuredClone(item) }),
    );
    return events;
  }

  /** The finished object (`incomplete` when the token limit cut it) and the stream events that end it. */
  finish(done: RouterDone): { response: ResponseObject; events: StreamEvent[] } {
    const cut = done.choices.some((choice) => choice.finishReason === "length");
    const events = this.#closeMessage(cut ? "incomplete" : "completed");
    for (const item of this.#output) if (item.type === "function_call" && cut) item.status = "incomplete";
    const response = this.snapshot(cut ? "incomplete" : "completed", {
      ...(cut ? { incomplete_details: { reason: "max_output_tokens" } } : { completed_at: Math.floor(Date.now() / 1000) }),
      usage: toResponseUsage(done.usage),
    });
    events.push(this.#event({ type: cut ? "response.incomplete" : "response.completed", response }));
    return { response, events };
  }

  /** A failure once the stream has started: an `error` event, then `response.failed`. */
  fail(error: OpenAIErrorBody["error"]): StreamEvent[] {
    return [
      this.#event({ type: "error", code: error.code ?? null, message: error.message, param: error.param ?? null }),
      this.#event({
        type: "response.failed",
        response: this.snapshot("failed", { error: { code: "server_error", message: error.message } }),
      }),
    ];
  }
}

async function* streamed(
  stream: RoutedStream,
  answer: ResponseBuilder,
  keep: (response: ResponseObject) => Promise<void>,
): AsyncGenerator<StreamEvent, void, undefined> {
  let done: RouterDone | undefined;
  let started = false;
  // The opening events go out inside the routed stream, so a client that leaves after them cancels the request.
  for await (const event of stream.chunks((routed): Array<StreamEvent | RouterDone> => {
    const opening = started ? [] : answer.start();
    started = true;
    return [...opening, ...(routed.type === "done" ? [routed] : answer.apply(routed))];
  })) {
    if ("error" in event) {
      yield* answer.fail(event.error);
      return;
    }
    if (event.type === "done") done = event;
    else yield event;
  }
  if (done === undefined) return;
  const { response, events } = answer.finish(done);
  try {
    // Stored before `response.completed` is sent: a follow-up made on seeing it finds it.
    await keep(response);
  } catch (error) {
    yield* answer.fail(toOpenAIHttpError(error).toJSON().error);
    return;
  }
  yield* events;
}
