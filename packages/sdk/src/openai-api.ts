import type { InferenceRouter, RouteRequest, RouterEvent, ServedModelView } from "@opengateway/p2p";
import type { ChoiceEnd, Identity, InferenceKind, InferenceReceipt, Usage } from "@opengateway/protocol";
import { base64, randomId } from "@opengateway/protocol";
import { parseChatCompletionRequest } from "./chat-completion-request.js";
import { parseCompletionRequest } from "./completion-request.js";
import { parseEmbeddingRequest } from "./embedding-request.js";
import { OpenAIHttpError, toOpenAIHttpError } from "./openai-error.js";

/** The transport-neutral outcome of an OpenAI API call: the gateway writes it to HTTP, the SDK to a Response. */
export type OpenAIResult =
  | { kind: "json"; status: number; body: unknown; headers: Record<string, string> }
  | { kind: "event-stream"; events: AsyncIterable<unknown>; headers: Record<string, string> };

export interface OpenAICallContext {
  payer: Identity;
  signal?: AbortSignal;
  /** Told about every receipt a request produced (the SDK's wallet history keeps them). */
  onReceipt?: (receipt: InferenceReceipt, clientId: string) => void;
  /** Region to route in (`null` = any); absent = the router's home region. */
  region?: string | null;
}

export const DEFAULT_MAX_TOKENS = 1024;
const OWNER = "opengateway";
type Done = Extract<RouterEvent, { type: "done" }>;

/**
 * The OpenAI API surface over the P2P router. Validation, defaults, response shapes and error
 * mapping live here once, for the gateway's HTTP handlers and the SDK's in-process fetch alike.
 */
export class OpenAIApi {
  readonly #router: InferenceRouter;
  readonly #now: () => number;

  constructor(router: InferenceRouter, options: { now?: () => number } = {}) {
    this.#router = router;
    this.#now = options.now ?? Date.now;
  }

  listModels(): OpenAIResult {
    const created = this.#created();
    const data = this.#router.table.models().map((model) => ({ id: model.id, object: "model", created, owned_by: OWNER }));
    return json({ object: "list", data });
  }

  getModel(id: string): OpenAIResult {
    const model = this.#router.table.models().find((candidate) => candidate.id === id);
    if (model === undefined) throw modelNotFound(id);
    return json({ id: model.id, object: "model", created: this.#created(), owned_by: OWNER });
  }

  async chatCompletions(raw: unknown, context: OpenAICallContext): Promise<OpenAIResult> {
    const served = this.#served(raw);
    const request = parseChatCompletionRequest(raw, {
      contextSize: served?.contextSize ?? Number.MAX_SAFE_INTEGER,
      defaultMaxTokens: DEFAULT_MAX_TOKENS,
    });
    this.#checkServes(served, request.model, "chat");
    const id = `chatcmpl-${randomId(18)}`;
    const created = this.#created();
    const model = request.model;
    const { first, events, headers } = await this.#start(
      context,
      [{ kind: "chat", model, body: request.body, requestId: id.slice(9) }],
      id,
    );

    if (!request.stream) {
      const content: string[] = [];
      const toolCalls: Array<Array<ReturnType<typeof toOpenAIToolCall>>> = [];
      let done: Done | undefined;
      await drain(first, events, (event) => {
        if (event.type === "delta") content[event.index] = (content[event.index] ?? "") + event.text;
        else if (event.type === "tool_calls") toolCalls[event.index] = event.calls.map(toOpenAIToolCall);
        else if (event.type === "done") done = event;
      });
      const finished = requireDone(done);
      for (const receipt of finished.receipts) context.onReceipt?.(receipt, id);
      return json(
        {
          id,
          object: "chat.completion",
          created,
          model,
          system_fingerprint: null,
          choices: finished.choices.map((choice) => {
            const calls = toolCalls[choice.index];
            const text = content[choice.index] ?? "";
            return {
              index: choice.index,
              message: {
                role: "assistant",
                content: calls && text === "" ? null : text,
                refusal: null,
                annotations: [],
                ...(calls ? { tool_calls: calls } : {}),
              },
              logprobs: null,
              finish_reason: choice.finishReason,
            };
          }),
          usage: openAIUsage(finished.usage),
          opengateway: { receipts: finished.receipts, providers: finished.providers },
        },
        { ...headers, "x-opengateway-provider": finished.providers.join(",") },
      );
    }

    const chunk = (index: number, delta: object, finishReason: string | null) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      system_fingerprint: null,
      choices: [{ index, delta, logprobs: null, finish_reason: finishReason }],
      ...(request.includeUsage ? { usage: null } : {}),
    });
    const opened = new Set<number>();
    const open = (index: number) => {
      if (opened.has(index)) return [];
      opened.add(index);
      return [chunk(index, { role: "assistant", content: "", refusal: null }, null)];
    };
    return {
      kind: "event-stream",
      headers,
      events: inBandErrors(first, events, context, id, (event) => {
        if (event.type === "delta")
          return [...open(event.index), ...(event.text === "" ? [] : [chunk(event.index, { content: event.text }, null)])];
        if (event.type === "tool_calls") {
          return [
            ...open(event.index),
            chunk(
              event.index,
              { tool_calls: event.calls.map((call, position) => ({ index: position, ...toOpenAIToolCall(call) })) },
              null,
            ),
          ];
        }
        if (event.type !== "done") return [];
        return [
          ...event.choices.flatMap((choice) => [
            ...open(choice.index),
            // Headers left before a failover could happen: the last chunk names every provider.
            { ...chunk(choice.index, {}, choice.finishReason), opengateway: { providers: event.providers } },
          ]),
          ...(request.includeUsage
            ? [
                {
                  id,
                  object: "chat.completion.chunk",
                  created,
                  model,
                  system_fingerprint: null,
                  choices: [],
                  usage: openAIUsage(event.usage),
                },
              ]
            : []),
        ];
      }),
    };
  }

  async completions(raw: unknown, context: OpenAICallContext): Promise<OpenAIResult> {
    const served = this.#served(raw);
    const request = parseCompletionRequest(raw, { contextSize: served?.contextSize ?? Number.MAX_SAFE_INTEGER });
    this.#checkServes(served, request.model, "completion");
    const id = `cmpl-${randomId(18)}`;
    const created = this.#created();
    const model = request.model;
    const perPrompt = request.choicesPerPrompt;
    const routes: RouteRequest[] = request.bodies.map((body, prompt) => ({
      kind: "completion",
      model,
      body,
      requestId: `${id.slice(5)}${request.bodies.length > 1 ? `-${prompt}` : ""}`,
    }));
    const { first, events, headers } = await this.#start(context, routes, id);
    const echo = (prompt: number) => (request.echo ? (request.bodies[prompt]?.prompt ?? "") : "");

    if (!request.stream) {
      const texts: string[] = [];
      const choices: Array<ChoiceEnd & { prompt: number }> = [];
      const usage: Usage = { promptTokens: 0, completionTokens: 0 };
      const receipts: InferenceReceipt[] = [];
      let prompt = 0;
      await drain(first, events, (event) => {
        if (event.type === "delta") {
          const index = prompt * perPrompt + event.index;
          texts[index] = (texts[index] ?? echo(prompt)) + event.text;
        } else if (event.type === "done") {
          for (const choice of event.choices) choices.push({ ...choice, prompt });
          usage.promptTokens += event.usage.promptTokens;
          usage.completionTokens += event.usage.completionTokens;
          receipts.push(...event.receipts);
          prompt++;
        }
      });
      if (prompt !== routes.length)
        throw new OpenAIHttpError(502, "a provider ended without a result", { code: "protocol_violation" });
      for (const receipt of receipts) context.onReceipt?.(receipt, id);
      return json(
        {
          id,
          object: "text_completion",
          created,
          model,
          system_fingerprint: null,
          choices: choices.map((choice) => {
            const index = choice.prompt * perPrompt + choice.index;
            return { index, text: texts[index] ?? echo(choice.prompt), logprobs: null, finish_reason: choice.finishReason };
          }),
          usage: openAIUsage(usage),
          opengateway: { receipts },
        },
        headers,
      );
    }

    const chunk = (index: number, text: string, finishReason: string | null) => ({
      id,
      object: "text_completion",
      created,
      model,
      system_fingerprint: null,
      choices: [{ index, text, logprobs: null, finish_reason: finishReason }],
      ...(request.includeUsage ? { usage: null } : {}),
    });
    const total: Usage = { promptTokens: 0, completionTokens: 0 };
    const echoed = new Set<number>();
    let prompt = 0;
    return {
      kind: "event-stream",
      headers,
      events: inBandErrors(first, events, context, id, (event) => {
        if (event.type === "delta") {
          const index = prompt * perPrompt + event.index;
          const prefix = echoed.has(index) ? "" : echo(prompt);
          echoed.add(index);
          return [chunk(index, prefix + event.text, null)];
        }
        if (event.type !== "done") return [];
        total.promptTokens += event.usage.promptTokens;
        total.completionTokens += event.usage.completionTokens;
        const out: unknown[] = event.choices.map((choice) => chunk(prompt * perPrompt + choice.index, "", choice.finishReason));
        prompt++;
        if (prompt === routes.length && request.includeUsage) {
          out.push({
            id,
            object: "text_completion",
            created,
            model,
            system_fingerprint: null,
            choices: [],
            usage: openAIUsage(total),
          });
        }
        return out;
      }),
    };
  }

  async embeddings(raw: unknown, context: OpenAICallContext): Promise<OpenAIResult> {
    const served = this.#served(raw);
    const request = parseEmbeddingRequest(raw);
    this.#checkServes(served, request.model, "embedding");
    const { first, events, headers } = await this.#start(
      context,
      [{ kind: "embedding", model: request.model, body: request.body }],
      "",
    );
    const vectors: Array<readonly number[]> = [];
    let done: Done | undefined;
    await drain(first, events, (event) => {
      if (event.type === "embedding") vectors[event.index] = event.embedding;
      else if (event.type === "done") done = event;
    });
    const finished = requireDone(done);
    if (vectors.length !== request.body.input.length || vectors.some((vector) => vector === undefined)) {
      throw new OpenAIHttpError(502, "the provider returned an incomplete set of embeddings", { code: "protocol_violation" });
    }
    for (const receipt of finished.receipts) context.onReceipt?.(receipt, receipt.requestId);
    return json(
      {
        object: "list",
        data: vectors.map((vector, index) => ({
          object: "embedding",
          index,
          embedding: request.encoding === "base64" ? base64.encode(new Uint8Array(Float32Array.from(vector).buffer)) : vector,
        })),
        model: request.model,
        usage: { prompt_tokens: finished.usage.promptTokens, total_tokens: finished.usage.promptTokens },
        opengateway: { receipts: finished.receipts, providers: finished.providers },
      },
      headers,
    );
  }

  #created(): number {
    return Math.floor(this.#now() / 1000);
  }

  #served(raw: unknown): ServedModelView | undefined {
    const model = typeof raw === "object" && raw !== null ? (raw as { model?: unknown }).model : undefined;
    return typeof model === "string" ? this.#router.table.models().find((candidate) => candidate.id === model) : undefined;
  }

  #checkServes(served: ServedModelView | undefined, model: string, kind: InferenceKind): void {
    // With no provider reachable at all, nobody can say the model does not exist: that is a 503.
    if (served === undefined && this.#router.table.size === 0) {
      throw new OpenAIHttpError(503, "No provider is reachable right now; try again shortly", {
        code: "no_provider",
        headers: { "retry-after": "1" },
      });
    }
    if (served === undefined) throw modelNotFound(model);
    if (!served.kinds.includes(kind)) {
      throw new OpenAIHttpError(400, `The model '${model}' does not support ${kind} requests on this network`, {
        param: "model",
        code: "model_not_supported",
      });
    }
  }

  /**
   * Routes the requests one after another as a single event stream, and waits for its first
   * event before answering: a failure to start is a proper HTTP error, not a broken stream.
   */
  async #start(context: OpenAICallContext, routes: RouteRequest[], id: string) {
    const router = this.#router;
    const providers: string[] = [];
    async function* all(): AsyncGenerator<RouterEvent, void, undefined> {
      for (const route of routes) {
        const routed = context.region === undefined ? route : { ...route, region: context.region };
        for await (const event of router.route(context.payer, routed, { signal: context.signal })) {
          const provider = event.type === "done" ? event.providers.join(",") : event.provider;
          if (!providers.includes(provider)) providers.push(provider);
          yield event;
        }
      }
    }
    const events = all();
    let first: IteratorResult<RouterEvent, void>;
    try {
      first = await events.next();
    } catch (error) {
      throw toOpenAIHttpError(error);
    }
    const headers: Record<string, string> = { "x-opengateway-provider": providers.join(",") };
    if (id) headers["x-request-id"] = id;
    return { first, events, headers };
  }
}

async function drain(
  first: IteratorResult<RouterEvent, void>,
  events: AsyncGenerator<RouterEvent, void, undefined>,
  onEvent: (event: RouterEvent) => void,
): Promise<void> {
  try {
    for (let next = first; !next.done; next = await events.next()) onEvent(next.value);
  } catch (error) {
    throw toOpenAIHttpError(error);
  }
}

/** Turns router events into stream chunks; once the stream has started, a failure can only be reported in-band. */
async function* inBandErrors(
  first: IteratorResult<RouterEvent, void>,
  events: AsyncGenerator<RouterEvent, void, undefined>,
  context: OpenAICallContext,
  clientId: string,
  toChunks: (event: RouterEvent) => unknown[],
): AsyncGenerator<unknown, void, undefined> {
  let finished = false;
  try {
    for (let next = first; !next.done; next = await events.next()) {
      if (next.value.type === "done") {
        finished = true;
        for (const receipt of next.value.receipts) context.onReceipt?.(receipt, clientId);
      }
      yield* toChunks(next.value);
    }
  } catch (error) {
    yield toOpenAIHttpError(error).toJSON();
    return;
  } finally {
    // Leaving early (the client went away) cancels the request on the provider.
    await events.return();
  }
  if (!finished) yield new OpenAIHttpError(502, "the provider ended without a result", { code: "protocol_violation" }).toJSON();
}

function requireDone(done: Done | undefined): Done {
  if (done === undefined) throw new OpenAIHttpError(502, "the provider ended without a result", { code: "protocol_violation" });
  return done;
}

function json(body: unknown, headers: Record<string, string> = {}): OpenAIResult {
  return { kind: "json", status: 200, body, headers };
}

function toOpenAIToolCall(call: { name: string; arguments: string }) {
  return { id: `call_${randomId(12)}`, type: "function" as const, function: { name: call.name, arguments: call.arguments } };
}

function modelNotFound(id: string): OpenAIHttpError {
  return new OpenAIHttpError(404, `The model '${id}' does not exist or is not served by the network right now`, {
    param: "model",
    code: "model_not_found",
  });
}

function openAIUsage(usage: Usage) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}
