import type { Identity, InferenceReceipt, Usage } from "@opengateway/protocol";
import { randomId } from "@opengateway/protocol";
import { parseChatCompletionRequest } from "./chat-completion-request.js";
import type { InferenceRouter, RouterEvent } from "./inference-router.js";
import { OpenAIHttpError, toOpenAIHttpError } from "./openai-error.js";

/** The transport-neutral outcome of an OpenAI API call: the gateway writes it to HTTP, the SDK to a Response. */
export type OpenAIResult =
  | { kind: "json"; status: number; body: unknown; headers: Record<string, string> }
  | { kind: "event-stream"; events: AsyncIterable<unknown>; headers: Record<string, string> };

export interface OpenAICallContext {
  payer: Identity;
  signal?: AbortSignal;
}

export const DEFAULT_MAX_TOKENS = 1024;
const OWNER = "opengateway";

/**
 * The OpenAI API surface over the P2P router. Validation, defaults and error mapping live
 * here once, for the gateway's HTTP handlers and the SDK's in-process fetch alike.
 */
export class OpenAIApi {
  readonly #router: InferenceRouter;
  readonly #now: () => number;

  constructor(router: InferenceRouter, options: { now?: () => number } = {}) {
    this.#router = router;
    this.#now = options.now ?? Date.now;
  }

  listModels(): OpenAIResult {
    const created = Math.floor(this.#now() / 1000);
    const data = this.#router.table.models().map((model) => ({ id: model.id, object: "model", created, owned_by: OWNER }));
    return { kind: "json", status: 200, body: { object: "list", data }, headers: {} };
  }

  getModel(id: string): OpenAIResult {
    const model = this.#router.table.models().find((candidate) => candidate.id === id);
    if (model === undefined) throw modelNotFound(id);
    return {
      kind: "json",
      status: 200,
      body: { id: model.id, object: "model", created: Math.floor(this.#now() / 1000), owned_by: OWNER },
      headers: {},
    };
  }

  async chatCompletions(raw: unknown, context: OpenAICallContext): Promise<OpenAIResult> {
    const modelId = typeof raw === "object" && raw !== null ? (raw as { model?: unknown }).model : undefined;
    const served = typeof modelId === "string" ? this.#router.table.models().find((m) => m.id === modelId) : undefined;
    const request = parseChatCompletionRequest(raw, {
      contextSize: served?.contextSize ?? Number.MAX_SAFE_INTEGER,
      defaultMaxTokens: DEFAULT_MAX_TOKENS,
    });
    if (served === undefined) throw modelNotFound(request.model);
    const id = `chatcmpl-${randomId(18)}`;
    const created = Math.floor(this.#now() / 1000);
    const events = this.#router.chat(
      context.payer,
      { model: request.model, body: request.body, requestId: id.slice(9) },
      { signal: context.signal },
    );

    // Wait for the first event before answering, so a failure to start is a proper HTTP error.
    let first: IteratorResult<RouterEvent, void>;
    try {
      first = await events.next();
    } catch (error) {
      throw toOpenAIHttpError(error);
    }
    const provider = first.done ? "" : first.value.type === "delta" ? first.value.provider : first.value.providers.join(",");
    const headers = { "x-request-id": id, "x-opengateway-provider": provider };

    if (!request.stream) {
      let content = "";
      let done: Extract<RouterEvent, { type: "done" }> | undefined;
      try {
        for (let next = first; !next.done; next = await events.next()) {
          if (next.value.type === "delta") content += next.value.text;
          else done = next.value;
        }
      } catch (error) {
        throw toOpenAIHttpError(error);
      }
      if (done === undefined)
        throw new OpenAIHttpError(502, "the provider ended without a result", { code: "protocol_violation" });
      return {
        kind: "json",
        status: 200,
        headers,
        body: {
          id,
          object: "chat.completion",
          created,
          model: request.model,
          system_fingerprint: null,
          choices: [
            {
              index: 0,
              message: { role: "assistant", content, refusal: null, annotations: [] },
              logprobs: null,
              finish_reason: done.finishReason,
            },
          ],
          usage: openAIUsage(done.usage),
          opengateway: { receipt: done.receipt, providers: done.providers },
        },
      };
    }

    const chunk = (delta: object, finishReason: string | null) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model: request.model,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(request.includeUsage ? { usage: null } : {}),
    });
    async function* stream(): AsyncGenerator<unknown, void, undefined> {
      yield chunk({ role: "assistant", content: "", refusal: null }, null);
      let receipt: InferenceReceipt | undefined;
      try {
        for (let next = first; !next.done; next = await events.next()) {
          const event = next.value;
          if (event.type === "delta") {
            if (event.text !== "") yield chunk({ content: event.text }, null);
          } else {
            receipt = event.receipt;
            yield chunk({}, event.finishReason);
            if (request.includeUsage) {
              yield {
                id,
                object: "chat.completion.chunk",
                created,
                model: request.model,
                system_fingerprint: null,
                choices: [],
                usage: openAIUsage(event.usage),
              };
            }
          }
        }
      } catch (error) {
        // Once the stream has started, a failure can only be reported in-band.
        yield toOpenAIHttpError(error).toJSON();
        return;
      } finally {
        await events.return();
      }
      if (receipt === undefined) yield new OpenAIHttpError(502, "the provider ended without a result").toJSON();
    }
    return { kind: "event-stream", events: stream(), headers };
  }
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
