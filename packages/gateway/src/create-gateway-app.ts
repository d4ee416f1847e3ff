import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ContributePageOptions } from "@opengateway/browser-node/server";
import { createContributePage } from "@opengateway/browser-node/server";
import type { Identity, InferenceReceipt } from "@opengateway/protocol";
import { isRegion, REGIONS } from "@opengateway/protocol";
import type { InferenceRouter, ResponseStore } from "@opengateway/sdk";
import {
  createOpenAIHandler,
  jsonResponse,
  OpenAIHttpError,
  openAIErrorResponse,
  toOpenAIHttpError,
  unknownUrl,
} from "@opengateway/sdk";
import type { Logger } from "pino";
import type { ApiKeyAccounts } from "./api-key-accounts.js";
import { LINGER_EVENT, LINGER_MAX_BYTES, LINGER_TIME_MS, MAX_LINGERING_SOCKETS } from "./constants.js";
import { serveWebHandler } from "./serve-web-handler.js";

export interface GatewayAppOptions {
  router: InferenceRouter;
  accounts: ApiKeyAccounts;
  logger: Logger;
  /** Largest accepted request body. */
  maxBodyBytes?: number;
  /** Reports readiness: how many providers the gateway can reach. */
  health: () => { providers: number; peers: number };
  /** What `GET /v1/opengateway/network` shows: known peers with region, clusters, models and load. */
  network: () => unknown;
  /** What `GET /v1/opengateway/wallet` shows for the calling key's account. */
  wallet: (payer: Identity) => unknown | Promise<unknown>;
  onReceipt: (payer: string, receipt: InferenceReceipt, clientId: string) => void;
  /** Serve the browser contributor page at /contribute. */
  contribute?: ContributePageOptions;
  /** Browser origins allowed to call the API (CORS); absent or empty = none (no CORS headers at all). */
  corsOrigins?: readonly string[];
  /**
   * Host names a request's `Host` header may name; absent = any. A gateway listening on loopback
   * only accepts loopback names, so a page on another site cannot reach it by DNS rebinding.
   */
  allowedHostnames?: ReadonlySet<string>;
  /** Where stored Responses API answers are kept, per API key's account (default: in memory). */
  responses?: ResponseStore;
  /** How long and how much to read and discard after an answer that left a body unread (constants.ts). */
  linger?: LingerLimits;
}

export interface LingerLimits {
  timeMs: number;
  maxBytes: number;
  /** Sockets lingering at once, over all clients. */
  maxSockets: number;
}

/** Every API answer: nothing in it is meant to be rendered, framed or sniffed. */
const API_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};
const CORS_ALLOWED_HEADERS = "authorization, content-type, content-encoding, x-opengateway-region";

export const REGION_HEADER = "x-opengateway-region";

/**
 * The gateway's HTTP surface: `/healthz`, the contributor page, and below `/v1` the OpenAI API
 * (the SDK's handler, for the account behind the caller's API key) with the wallet and network
 * views. Every failure leaves as an OpenAI error object.
 */
export function createGatewayApp(options: GatewayAppOptions): RequestListener {
  const linger = new Lingering(
    options.linger ?? { timeMs: LINGER_TIME_MS, maxBytes: LINGER_MAX_BYTES, maxSockets: MAX_LINGERING_SOCKETS },
  );
  // The path only: a query string may carry a key a careless client put there.
  const logFailure = (error: unknown, request: Request) =>
    options.logger.warn({ err: error, url: new URL(request.url).pathname }, "request failed");
  const corsOrigins = new Set(options.corsOrigins ?? []);
  const openAI = createOpenAIHandler({
    router: options.router,
    maxBodyBytes: options.maxBodyBytes,
    onError: logFailure,
    responses: options.responses,
  });

  const v1 = async (request: Request, path: string): Promise<Response> => {
    const payer = options.accounts.authenticate(request.headers.get("authorization") ?? undefined);
    const route = `${request.method} ${path.replace(/\/+$/, "")}`;
    if (route === "GET /opengateway/wallet") return jsonResponse(await options.wallet(payer));
    if (route === "GET /opengateway/network") return jsonResponse(options.network());
    return openAI(request, {
      payer,
      region: regionOf(request.headers),
      onReceipt: (receipt, clientId) => options.onReceipt(payer.id, receipt, clientId),
    });
  };

  const handle = async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    try {
      if (pathname === "/healthz") {
        const health = options.health();
        const ok = health.providers > 0;
        return jsonResponse({ status: ok ? "ok" : "no_providers", ...health }, { status: ok ? 200 : 503 });
      }
      if (pathname === "/v1" || pathname.startsWith("/v1/")) return await v1(request, pathname.slice("/v1".length));
      throw unknownUrl(request);
    } catch (error) {
      const httpError = toOpenAIHttpError(error);
      if (httpError.status >= 500) logFailure(error, request);
      return openAIErrorResponse(httpError);
    }
  };

  const serve: RequestListener = (req, res) => {
    serveWebHandler(req, res, handle).catch((error: unknown) => {
      options.logger.warn({ err: error, url: (req.url ?? "").split("?")[0] }, "response failed");
      res.destroy();
    });
  };
  const page = options.contribute ? createContributePage(options.contribute) : undefined;
  // What the page does not serve (an unknown model file) is a JSON 404 like any other.
  page?.use((req: IncomingMessage, res: ServerResponse) => serve(req, res));
  return (req, res) => {
    // A body the answer did not need (a 401, a 413) is not read to its end: the connection closes after the answer.
    closeUnreadBodies(req, res, linger);
    if (options.allowedHostnames && !options.allowedHostnames.has(hostnameOf(req.headers.host))) {
      res.setHeader("connection", "close");
      writeError(res, new OpenAIHttpError(421, "This gateway does not answer for that Host", { code: "misdirected_request" }));
      return;
    }
    const isPage = page !== undefined && /^\/contribute(?:[/?]|$)/.test(req.url ?? "");
    if (!isPage) {
      for (const [name, value] of Object.entries(API_SECURITY_HEADERS)) res.setHeader(name, value);
      const origin = req.headers.origin;
      if (origin !== undefined && corsOrigins.has(origin)) {
        res.setHeader("access-control-allow-origin", origin);
        res.setHeader("access-control-expose-headers", "retry-after, x-request-id");
        res.setHeader("vary", "origin");
        // A preflight is answered before authentication: it carries no credentials by design.
        if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
          res.setHeader("access-control-allow-methods", "GET, POST, DELETE, OPTIONS");
          res.setHeader("access-control-allow-headers", CORS_ALLOWED_HEADERS);
          res.setHeader("access-control-max-age", "600");
          res.writeHead(204).end();
          return;
        }
      }
    }
    if (isPage) page(req, res);
    else serve(req, res);
  };
}

/**
 * A body the answer did not need (a 401, a 413, a 415) is not read to its end: the answer says
 * `Connection: close` (so a keep-alive client does not reuse the socket), and once it is out the
 * socket lingers (see LINGER_TIME_MS) instead of closing over the unread upload.
 */
function closeUnreadBodies(req: IncomingMessage, res: ServerResponse, linger: Lingering): void {
  // Taken now: a request whose body reader was cancelled no longer names its socket.
  const socket = req.socket;
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (!req.complete) {
      this.setHeader("connection", "close");
      linger.onClose(socket);
    }
    return (writeHead as (...rest: unknown[]) => ServerResponse).apply(this, args);
  } as typeof res.writeHead;
}

/**
 * Node's server ends a `Connection: close` exchange with `socket.destroySoon()`, which closes the
 * descriptor as soon as the answer is written; with the client's upload still unread, the kernel
 * answers with a reset that may discard the answer on the client's side. Instead: send FIN after the
 * answer, keep reading (the request is dumped, so the bytes are discarded) until the client closes,
 * or the time or byte bound is reached, then destroy.
 */
class Lingering {
  readonly #limits: LingerLimits;
  #sockets = 0;

  constructor(limits: LingerLimits) {
    this.#limits = limits;
  }

  onClose(socket: Socket): void {
    const limits = this.#limits;
    const lingering = this;
    socket.destroySoon = function (this: Socket) {
      if (lingering.#sockets >= limits.maxSockets) {
        // Too many already: close as Node does (end, then destroy once the answer is out).
        this.end();
        if (this.writableFinished) this.destroy();
        else this.once("finish", () => this.destroy());
        return;
      }
      lingering.#sockets++;
      this.emit(LINGER_EVENT);
      if (this.writable) this.end();
      const timer = setTimeout(() => this.destroy(), limits.timeMs).unref();
      let discarded = 0;
      this.on("data", (chunk: Buffer) => {
        discarded += chunk.length;
        if (discarded > limits.maxBytes) this.destroy();
      });
      this.once("end", () => this.destroy());
      this.once("close", () => {
        clearTimeout(timer);
        lingering.#sockets--;
      });
      this.resume();
    };
  }
}

function writeError(res: ServerResponse, error: OpenAIHttpError): void {
  res.writeHead(error.status, { "content-type": "application/json; charset=utf-8" }).end(JSON.stringify(error.toJSON()));
}

/** `Host: example.com:8080` → `example.com`; `[::1]:8080` → `[::1]`. */
function hostnameOf(host: string | undefined): string {
  if (host === undefined) return "";
  const match = /^(\[[^\]]*\]|[^:]*)(?::\d*)?$/.exec(host.trim().toLowerCase());
  return match?.[1] ?? "";
}

/** `x-opengateway-region: europe` routes in that region; `any` allows every region. */
function regionOf(headers: Headers): string | null | undefined {
  const header = headers.get(REGION_HEADER)?.trim().toLowerCase();
  if (header === undefined || header === "") return undefined;
  if (header === "any") return null;
  if (!isRegion(header)) {
    throw new OpenAIHttpError(400, `${REGION_HEADER} must be one of ${REGIONS.join(", ")} or 'any'`, {
      param: REGION_HEADER,
      code: "invalid_value",
    });
  }
  return header;
}
