import type { Identity, InferenceReceipt } from "@opengateway/protocol";
import type { OpenAIApi, OpenAIResult } from "./openai-api.js";
import { OpenAIHttpError, toOpenAIHttpError } from "./openai-error.js";

export interface P2PFetchOptions {
  api: OpenAIApi;
  payer: Identity;
  onReceipt?: (receipt: InferenceReceipt, clientId: string) => void;
  /** Largest request body accepted, as the gateway does. */
  maxBodyBytes?: number;
}

const encoder = new TextEncoder();

/**
 * A `fetch` for the official openai client that never touches HTTP: it hands the request to the
 * same OpenAIApi the gateway serves (validation, routing over libp2p, signing with the payer's
 * identity) and turns the result back into the Response the client expects, SSE included.
 * Streams are pull-based: the response body asks the router for the next chunk only when read,
 * and cancelling the body (the client's loop breaking, an abort) cancels the request upstream.
 */
export function createP2PFetch(
  options: P2PFetchOptions,
): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  return async (input, init = {}) => {
    const request = input instanceof Request ? input : undefined;
    const url = new URL(request?.url ?? String(input));
    const method = (init.method ?? request?.method ?? "GET").toUpperCase();
    const signal = init.signal ?? request?.signal ?? undefined;
    try {
      const path = url.pathname.replace(/\/+$/, "").replace(/^.*?\/v1(?=\/)/, "");
      const context = { payer: options.payer, signal: signal ?? undefined, onReceipt: options.onReceipt };
      if (method === "GET" && path === "/models") return toResponse(options.api.listModels());
      if (method === "GET" && path.startsWith("/models/"))
        return toResponse(options.api.getModel(decodeURIComponent(path.slice(8))));
      if (method === "POST") {
        const body = await readJsonBody(init.body ?? (request ? await request.text() : null), maxBodyBytes);
        if (path === "/chat/completions") return toResponse(await options.api.chatCompletions(body, context));
        if (path === "/completions") return toResponse(await options.api.completions(body, context));
        if (path === "/embeddings") return toResponse(await options.api.embeddings(body, context));
      }
      throw new OpenAIHttpError(404, `Unknown request URL: ${method} ${url.pathname}`, { code: "unknown_url" });
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error;
      const httpError = toOpenAIHttpError(error);
      return new Response(JSON.stringify(httpError.toJSON()), {
        status: httpError.status,
        headers: { "content-type": "application/json", ...httpError.headers },
      });
    }
  };
}

async function readJsonBody(body: RequestInit["body"], maxBodyBytes: number): Promise<unknown> {
  let text: string;
  if (body === null || body === undefined) text = "";
  else if (typeof body === "string") text = body;
  else if (body instanceof Uint8Array || body instanceof ArrayBuffer) text = new TextDecoder().decode(body);
  else text = await new Response(body).text();
  if (encoder.encode(text).length > maxBodyBytes) {
    throw new OpenAIHttpError(413, "The request body is larger than this client accepts.", { code: "request_too_large" });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new OpenAIHttpError(400, "We could not parse the JSON body of your request.", { code: "invalid_json" });
  }
}

function toResponse(result: OpenAIResult): Response {
  if (result.kind === "json") {
    return new Response(JSON.stringify(result.body), {
      status: result.status,
      headers: { "content-type": "application/json", ...result.headers },
    });
  }
  const iterator = result.events[Symbol.asyncIterator]();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) {
        controller.enqueue(encoder.encode("data: [DONE]\n\n"));
        controller.close();
      } else {
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(next.value)}\n\n`));
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  });
  return new Response(stream, { status: 200, headers: { "content-type": "text/event-stream", ...result.headers } });
}
