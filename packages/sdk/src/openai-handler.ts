import type { InferenceRouter } from "@opengateway/p2p";
import { chatCompletionsEndpoint } from "./chat-completions-endpoint.js";
import { completionsEndpoint } from "./completions-endpoint.js";
import { embeddingsEndpoint } from "./embeddings-endpoint.js";
import { listModels, retrieveModel } from "./models-endpoint.js";
import type { OpenAICall, OpenAICallContext, OpenAIResult } from "./openai-endpoint.js";
import { OpenAIHttpError, toOpenAIHttpError } from "./openai-error.js";
import type { ResponseStore } from "./response-store.js";
import { MemoryResponseStore } from "./response-store.js";
import { createResponse, deleteResponse, retrieveResponse, unservedResponseRoute } from "./responses-endpoint.js";

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface OpenAIHandlerOptions {
  router: InferenceRouter;
  /** Largest request body accepted, after any content-encoding is undone. */
  maxBodyBytes?: number;
  now?: () => number;
  /** Told about every failure answered with a 5xx (the gateway logs them). */
  onError?: (error: unknown, request: Request) => void;
  /** Where stored Responses API answers are kept, per payer; default: in memory (`MemoryResponseStore`). */
  responses?: ResponseStore;
}

/** The OpenAI API below `/v1`, web-standard: the gateway serves it over HTTP, the SDK as its `fetch`. */
export type OpenAIHandler = (request: Request, context: OpenAICallContext) => Promise<Response>;

type Endpoint = (call: OpenAICall, body: unknown, path: string, query: URLSearchParams) => OpenAIResult | Promise<OpenAIResult>;

/** `METHOD /path` below `/v1`. */
const ENDPOINTS: Readonly<Record<string, Endpoint>> = {
  "GET /models": (call) => listModels(call),
  "POST /chat/completions": (call, body) => chatCompletionsEndpoint(body, call),
  "POST /completions": (call, body) => completionsEndpoint(body, call),
  "POST /embeddings": (call, body) => embeddingsEndpoint(body, call),
  "POST /responses": (call, body) => createResponse(body, call),
};
const MODEL_PREFIX = "/models/";
const retrieve: Endpoint = (call, _body, path) => retrieveModel(decodedModelId(path.slice(MODEL_PREFIX.length)), call);
const RESPONSE_PREFIX = "/responses/";

/** `GET` / `DELETE /responses/{id}`; what else is below a response is refused by name. */
function responseRoute(method: string, path: string): Endpoint | undefined {
  if (!path.startsWith(RESPONSE_PREFIX)) return undefined;
  const [id = "", what, ...rest] = path.slice(RESPONSE_PREFIX.length).split("/");
  if (id === "" || rest.length > 0) return undefined;
  const responseId = decodedModelId(id);
  if (what !== undefined) return () => unservedResponseRoute(what);
  if (method === "GET") return (call, _body, _path, query) => retrieveResponse(responseId, query, call);
  if (method === "DELETE") return (call) => deleteResponse(responseId, call);
  return undefined;
}
/** A model id as sent; one with malformed percent-encoding names no model (404), as it would at OpenAI. */
function decodedModelId(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

/**
 * Validation, defaults, routing, response shapes and error mapping, once for every transport. The
 * answer is always a Response: a failure is an OpenAI error object with its status. A stream is
 * pull-based: the router is asked for the next event only when the body is read, and cancelling
 * the body (or aborting the request's signal) cancels the request on the provider.
 */
export function createOpenAIHandler(options: OpenAIHandlerOptions): OpenAIHandler {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const now = options.now ?? Date.now;
  const responses = options.responses ?? new MemoryResponseStore();
  return async (request, context) => {
    try {
      const url = new URL(request.url);
      const method = request.method === "HEAD" ? "GET" : request.method;
      // Whatever the base URL, the path below /v1 names the endpoint.
      const path = url.pathname.replace(/\/+$/, "").replace(/^.*?\/v1(?=\/)/, "");
      const body = method === "POST" ? await readJsonBody(request, maxBodyBytes) : undefined;
      const route = `${method} ${path}`;
      const endpoint =
        (Object.hasOwn(ENDPOINTS, route) ? ENDPOINTS[route] : undefined) ??
        (method === "GET" && path.startsWith(MODEL_PREFIX) ? retrieve : undefined) ??
        responseRoute(method, path);
      if (endpoint === undefined) throw unknownUrl(request);
      const call: OpenAICall = {
        ...context,
        ...priceCap(body, context.maxPricePerToken),
        router: options.router,
        signal: request.signal,
        created: Math.floor(now() / 1000),
        responses,
      };
      return toResponse(await endpoint(call, body, path, url.searchParams));
    } catch (error) {
      const httpError = toOpenAIHttpError(error);
      if (httpError.status >= 500) options.onError?.(error, request);
      return openAIErrorResponse(httpError);
    }
  };
}

export function unknownUrl(request: Request): OpenAIHttpError {
  const url = new URL(request.url);
  return new OpenAIHttpError(404, `Unknown request URL: ${request.method} ${url.pathname}${url.search}`, {
    code: "unknown_url",
  });
}

export function jsonResponse(body: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return new Response(JSON.stringify(body), {
    status: init.status ?? 200,
    headers: { "content-type": "application/json; charset=utf-8", ...init.headers },
  });
}

/** Any failure as the OpenAI error a client expects: its status, `{"error": {…}}` and headers such as retry-after. */
export function openAIErrorResponse(error: unknown): Response {
  const httpError = toOpenAIHttpError(error);
  return jsonResponse(httpError.toJSON(), { status: httpError.status, headers: httpError.headers });
}

function toResponse(result: OpenAIResult): Response {
  if (result.kind === "json") return jsonResponse(result.body, { headers: result.headers });
  return new Response(serverSentEvents(result.events, result.named === true), {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      // Proxies such as nginx would otherwise hold tokens back.
      "x-accel-buffering": "no",
      ...result.headers,
    },
  });
}

const encoder = new TextEncoder();

/**
 * `data: <json>` per event and `data: [DONE]` at the end (named: `event: <type>` before each and no
 * `[DONE]`); read on demand, and cancelling it ends the events.
 */
function serverSentEvents(events: AsyncIterable<object>, named: boolean): ReadableStream<Uint8Array> {
  const iterator = events[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) {
        if (!named) controller.enqueue(encoder.encode("data: [DONE]\n\n"));
        controller.close();
      } else {
        const name = named ? `event: ${(next.value as { type?: string }).type}\n` : "";
        controller.enqueue(encoder.encode(`${name}data: ${JSON.stringify(next.value)}\n\n`));
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}

/**
 * The body as JSON. One over the limit (by its Content-Length or by the running count) is refused
 * with a 413 without reading the rest: the HTTP server closes such a connection after answering.
 */
async function readJsonBody(request: Request, maxBodyBytes: number): Promise<unknown> {
  const bytes = await readBody(request, maxBodyBytes);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new OpenAIHttpError(
      400,
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
      { code: "invalid_json" },
    );
  }
}

async function readBody(request: Request, maxBodyBytes: number): Promise<Uint8Array> {
  const encoding = (request.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding !== "identity" && encoding !== "gzip" && encoding !== "deflate") {
    throw new OpenAIHttpError(415, "Unsupported content encoding.", { code: "unsupported_encoding" });
  }
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  if (encoding === "identity" && declared > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    // Some browsers give a Request no body stream; the whole body is taken at once there.
    let stream = request.body ?? new Response(await request.arrayBuffer()).body;
    if (stream && encoding !== "identity") stream = stream.pipeThrough(new DecompressionStream(encoding));
    const reader = stream?.getReader();
    for (let next = await reader?.read(); next && !next.done; next = await reader?.read()) {
      size += next.value.byteLength;
      if (size > maxBodyBytes) {
        await reader?.cancel().catch(() => {});
        break;
      }
      parts.push(next.value);
    }
  } catch {
    throw new OpenAIHttpError(400, "The request body could not be read.", { code: "invalid_body" });
  }
  if (size > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  return bytes;
}

function bodyTooLarge(maxBodyBytes: number): OpenAIHttpError {
  return new OpenAIHttpError(413, `The request body is larger than ${maxBodyBytes} bytes.`, { code: "request_too_large" });
}

/**
 * `max_price_per_token` (an OpenGateway extension of the request body, sent with `extra_body` by
 * OpenAI clients): the most credits per token the caller accepts; it can only lower the context's cap.
 */
function priceCap(body: unknown, contextCap: number | undefined): { maxPricePerToken?: number } {
  const value = typeof body === "object" && body !== null ? (body as Record<string, unknown>).max_price_per_token : undefined;
  if (value === undefined || value === null) return contextCap === undefined ? {} : { maxPricePerToken: contextCap };
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new OpenAIHttpError(400, "max_price_per_token must be a non-negative number of credits per token.", {
      param: "max_price_per_token",
      code: "invalid_value",
    });
  }
  return { maxPricePerToken: Math.min(value, contextCap ?? Number.POSITIVE_INFINITY) };
}
