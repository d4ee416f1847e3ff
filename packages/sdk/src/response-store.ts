import type { ChatMessage } from "@opengateway/protocol";
import type { Response, ResponseFunctionToolCall, ResponseOutputMessage } from "openai/resources/responses/responses";

/**
 * A Responses API `response` object as served: the spec's fields (the SDKs compute `output_text`
 * themselves) and the request's echoes that the spec has but the client's types lack.
 */
export type ResponseObject = Omit<Response, "output_text" | "output"> & {
  output: ResponseOutputItem[];
  store: boolean;
  max_tool_calls: number | null;
  top_logprobs: number;
};
/** The output items the network's models produce: assistant messages and function calls. */
export type ResponseOutputItem = ResponseOutputMessage | (ResponseFunctionToolCall & { id: string });

/** A stored response: the object as answered and the conversation it ended, for `previous_response_id`. */
export interface StoredResponse {
  response: ResponseObject;
  /** Every message of the conversation (not the request's `instructions`), its own output last. */
  context: ChatMessage[];
}

/**
 * Where `store: true` responses are kept, per owner (the paying account: one per API key on the
 * gateway, the client's identity in the SDK). An owner sees only its own responses and items, and
 * each owner keeps a bounded number and size: storing one more forgets its oldest as needed.
 */
export interface ResponseStore {
  get(owner: string, id: string): Promise<StoredResponse | undefined>;
  /** An output item (`msg_…`, `fc_…`) of one of the owner's stored responses: an `item_reference`. */
  item(owner: string, id: string): Promise<ResponseOutputItem | undefined>;
  put(owner: string, stored: StoredResponse): Promise<void>;
  /** Whether there was such a response. */
  delete(owner: string, id: string): Promise<boolean>;
}

/** How many responses one owner keeps by default; the oldest is forgotten first. */
export const DEFAULT_STORED_RESPONSES_PER_OWNER = 1000;
/** How many bytes (of JSON) one owner's stored responses take at most by default; the oldest are forgotten first. */
export const DEFAULT_STORED_BYTES_PER_OWNER = 64 * 1024 * 1024;

export interface ResponseStoreLimits {
  maxPerOwner?: number;
  maxBytesPerOwner?: number;
}

/** A `ResponseStore` in memory (the SDK's default): lost when the process ends. */
export class MemoryResponseStore implements ResponseStore {
  readonly #maxPerOwner: number;
  readonly #maxBytesPerOwner: number;
  /** Per owner, in the order stored (a Map keeps insertion order: the first is the oldest), with its size. */
  readonly #owners = new Map<string, Map<string, StoredResponse>>();
  readonly #sizes = new Map<StoredResponse, number>();
  readonly #bytes = new Map<string, number>();
  readonly #items = new Map<string, Map<string, { response: string; item: ResponseOutputItem }>>();

  constructor(options: ResponseStoreLimits = {}) {
    this.#maxPerOwner = options.maxPerOwner ?? DEFAULT_STORED_RESPONSES_PER_OWNER;
    this.#maxBytesPerOwner = options.maxBytesPerOwner ?? DEFAULT_STORED_BYTES_PER_OWNER;
  }

  async get(owner: string, id: string): Promise<StoredResponse | undefined> {
    return this.#owners.get(owner)?.get(id);
  }

  async item(owner: string, id: string): Promise<ResponseOutputItem | undefined> {
    return this.#items.get(owner)?.get(id)?.item;
  }

  async put(owner: string, stored: StoredResponse): Promise<void> {
    const responses = this.#owners.get(owner) ?? new Map<string, StoredResponse>();
    const items = this.#items.get(owner) ?? new Map<string, { response: string; item: ResponseOutputItem }>();
    this.#owners.set(owner, responses);
    this.#items.set(owner, items);
    await this.delete(owner, stored.response.id);
    // Its own copy: what the caller changes later is not what was stored.
    const kept = structuredClone(stored);
    const size = JSON.stringify(kept).length;
    responses.set(kept.response.id, kept);
    this.#sizes.set(kept, size);
    this.#bytes.set(owner, (this.#bytes.get(owner) ?? 0) + size);
    for (const item of kept.response.output) items.set(item.id, { response: kept.response.id, item });
    for (const oldest of responses.keys()) {
      if (responses.size <= this.#maxPerOwner && (this.#bytes.get(owner) ?? 0) <= this.#maxBytesPerOwner) break;
      await this.delete(owner, oldest);
    }
  }

  async delete(owner: string, id: string): Promise<boolean> {
    const stored = this.#owners.get(owner)?.get(id);
    if (stored === undefined) return false;
    this.#owners.get(owner)?.delete(id);
    this.#bytes.set(owner, (this.#bytes.get(owner) ?? 0) - (this.#sizes.get(stored) ?? 0));
    this.#sizes.delete(stored);
    for (const item of stored.response.output) this.#items.get(owner)?.delete(item.id);
    return true;
  }
}
