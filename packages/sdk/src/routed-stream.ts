import type { RouteRequest, RouterEvent } from "@opengateway/p2p";
import type { Usage } from "@opengateway/protocol";
import type { OpenAICall } from "./openai-endpoint.js";
import type { OpenAIErrorBody } from "./openai-error.js";
import { OpenAIHttpError, toOpenAIHttpError } from "./openai-error.js";

export type RouterDone = Extract<RouterEvent, { type: "done" }>;

/**
 * The requests of one call (one per prompt), routed one after another as a single event stream.
 * It is started before anything is answered, so a failure to start is a proper HTTP error rather
 * than a broken stream; after that, `drain` collects one answer and `chunks` streams one. Either
 * reports every receipt to the call's `onReceipt` as it arrives.
 */
export class RoutedStream {
  /** `x-opengateway-provider` (the first provider) and, with a client id, `x-request-id`. */
  readonly headers: Record<string, string>;
  readonly #call: OpenAICall;
  readonly #routes: number;
  readonly #clientId: string | undefined;
  readonly #first: IteratorResult<RouterEvent, void>;
  readonly #events: AsyncGenerator<RouterEvent, void, undefined>;

  private constructor(
    call: OpenAICall,
    routes: number,
    clientId: string | undefined,
    first: IteratorResult<RouterEvent, void>,
    events: AsyncGenerator<RouterEvent, void, undefined>,
    headers: Record<string, string>,
  ) {
    this.#call = call;
    this.#routes = routes;
    this.#clientId = clientId;
    this.#first = first;
    this.#events = events;
    this.headers = headers;
  }

  /** `clientId` is the id the client sees (receipts are reported under it); absent, each receipt's own id. */
  static async start(call: OpenAICall, routes: readonly RouteRequest[], clientId?: string): Promise<RoutedStream> {
    const providers: string[] = [];
    async function* all(): AsyncGenerator<RouterEvent, void, undefined> {
      for (const route of routes) {
        const routed = {
          ...route,
          ...(call.region === undefined ? {} : { region: call.region }),
          ...(call.maxPricePerToken === undefined ? {} : { maxPricePerToken: call.maxPricePerToken }),
        };
        for await (const event of call.router.route(call.payer, routed, { signal: call.signal })) {
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
    if (clientId !== undefined) headers["x-request-id"] = clientId;
    return new RoutedStream(call, routes.length, clientId, first, events, headers);
  }

  /**
   * Hands every event to `onEvent` and resolves to the routes' results together: every choice,
   * the usage summed, every receipt and provider. Nothing was sent yet, so a failure is an HTTP error.
   */
  async drain(onEvent: (event: RouterEvent) => void = () => {}): Promise<RouterDone> {
    const all: RouterDone = {
      type: "done",
      choices: [],
      usage: { promptTokens: 0, completionTokens: 0 },
      receipts: [],
      providers: [],
    };
    let finished = 0;
    try {
      for (let next = this.#first; !next.done; next = await this.#events.next()) {
        const event = next.value;
        if (event.type === "done") {
          finished++;
          this.#report(event);
          all.choices = [...all.choices, ...event.choices];
          all.usage = addUsage(all.usage, event.usage);
          all.receipts.push(...event.receipts);
          for (const provider of event.providers) if (!all.providers.includes(provider)) all.providers.push(provider);
        }
        onEvent(event);
      }
    } catch (error) {
      throw toOpenAIHttpError(error);
    }
    if (finished !== this.#routes) throw endedWithoutResult();
    return all;
  }

  /**
   * The events as stream chunks. Once the stream has started a failure can only be reported
   * in-band, as an error object; leaving early (the client went away) cancels the request on the provider.
   */
  async *chunks<T extends object>(toChunks: (event: RouterEvent) => T[]): AsyncGenerator<T | OpenAIErrorBody, void, undefined> {
    let finished = 0;
    try {
      for (let next = this.#first; !next.done; next = await this.#events.next()) {
        if (next.value.type === "done") {
          finished++;
          this.#report(next.value);
        }
        yield* toChunks(next.value);
      }
    } catch (error) {
      yield toOpenAIHttpError(error).toJSON();
      return;
    } finally {
      await this.#events.return();
    }
    if (finished !== this.#routes) yield endedWithoutResult().toJSON();
  }

  #report(done: RouterDone): void {
    for (const receipt of done.receipts) this.#call.onReceipt?.(receipt, this.#clientId ?? receipt.requestId);
  }
}

export function addUsage(a: Usage, b: Usage): Usage {
  return { promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens };
}

function endedWithoutResult(): OpenAIHttpError {
  return new OpenAIHttpError(502, "a provider ended without a result", { code: "protocol_violation" });
}
