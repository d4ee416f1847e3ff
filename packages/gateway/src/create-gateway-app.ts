import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { ContributePageOptions } from "@opengateway/browser-node/server";
import { createContributePage } from "@opengateway/browser-node/server";
import type { Identity, InferenceReceipt } from "@opengateway/protocol";
import { isRegion, REGIONS } from "@opengateway/protocol";
import type { InferenceRouter } from "@opengateway/sdk";
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
}

export const REGION_HEADER = "x-opengateway-region";

/**
 * The gateway's HTTP surface: `/healthz`, the contributor page, and below `/v1` the OpenAI API
 * (the SDK's handler, for the account behind the caller's API key) with the wallet and network
 * views. Every failure leaves as an OpenAI error object.
 */
export function createGatewayApp(options: GatewayAppOptions): RequestListener {
  const logFailure = (error: unknown, request: Request) =>
    options.logger.warn({ err: error, url: new URL(request.url).pathname }, "request failed");
  const openAI = createOpenAIHandler({ router: options.router, maxBodyBytes: options.maxBodyBytes, onError: logFailure });

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
      options.logger.warn({ err: error, url: req.url }, "response failed");
      res.destroy();
    });
  };
  const page = options.contribute ? createContributePage(options.contribute) : undefined;
  // What the page does not serve (an unknown model file) is a JSON 404 like any other.
  page?.use((req: IncomingMessage, res: ServerResponse) => serve(req, res));
  return (req, res) => {
    if (page && /^\/contribute(?:[/?]|$)/.test(req.url ?? "")) page(req, res);
    else serve(req, res);
  };
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
