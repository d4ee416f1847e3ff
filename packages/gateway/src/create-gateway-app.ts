import type { ServerResponse } from "node:http";
import type { Identity, InferenceReceipt } from "@opengateway/protocol";
import { isRegion, REGIONS } from "@opengateway/protocol";
import type { OpenAIApi, OpenAICallContext, OpenAIResult } from "@opengateway/sdk";
import { OpenAIHttpError, toOpenAIHttpError } from "@opengateway/sdk";
import type { ErrorRequestHandler, Express, Request, RequestHandler, Response } from "express";
import express from "express";
import type { Logger } from "pino";
import type { ApiKeyAccounts } from "./api-key-accounts.js";
import type { ContributePageOptions } from "./contribute-routes.js";
import { mountContributePage } from "./contribute-routes.js";

export interface GatewayAppOptions {
  api: OpenAIApi;
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

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The OpenAI-compatible HTTP surface. Every failure leaves as an OpenAI error object. */
export function createGatewayApp(options: GatewayAppOptions): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.get("/healthz", (_req, res) => {
    const health = options.health();
    res.status(health.providers > 0 ? 200 : 503).json({ status: health.providers > 0 ? "ok" : "no_providers", ...health });
  });

  if (options.contribute) mountContributePage(app, options.contribute);

  const v1 = express.Router();
  v1.use(authenticate(options.accounts));
  v1.use(express.json({ limit: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, type: () => true }));

  v1.get("/models", (_req, res) => send(res, options.api.listModels()));
  v1.get("/models/:id", (req, res) => send(res, options.api.getModel(String(req.params.id))));
  const generation = (
    call: (api: OpenAIApi, body: unknown, context: OpenAICallContext) => Promise<OpenAIResult>,
  ): RequestHandler => {
    return async (req, res) => {
      const controller = new AbortController();
      // A client that disconnects before the response is complete cancels the work on the provider.
      res.on("close", () => {
        if (!res.writableFinished) controller.abort();
      });
      const payer = accountOf(res);
      const context: OpenAICallContext = {
        payer,
        signal: controller.signal,
        onReceipt: (receipt, clientId) => options.onReceipt(payer.id, receipt, clientId),
      };
      const region = regionOf(req);
      if (region !== undefined) context.region = region;
      await send(res, await call(options.api, req.body, context));
    };
  };
  v1.post(
    "/chat/completions",
    generation((api, body, context) => api.chatCompletions(body, context)),
  );
  v1.post(
    "/completions",
    generation((api, body, context) => api.completions(body, context)),
  );
  v1.post(
    "/embeddings",
    generation((api, body, context) => api.embeddings(body, context)),
  );
  v1.get("/opengateway/wallet", async (_req, res) => {
    res.json(await options.wallet(accountOf(res)));
  });
  v1.get("/opengateway/network", (_req, res) => {
    res.json(options.network());
  });
  v1.use((req, _res, next) =>
    next(new OpenAIHttpError(404, `Unknown request URL: ${req.method} ${req.originalUrl}`, { code: "unknown_url" })),
  );

  app.use("/v1", v1);
  app.use((req, _res, next) =>
    next(new OpenAIHttpError(404, `Unknown request URL: ${req.method} ${req.originalUrl}`, { code: "unknown_url" })),
  );
  app.use(errorHandler(options.logger));
  return app;
}

function authenticate(accounts: ApiKeyAccounts): RequestHandler {
  return (req, res, next) => {
    res.locals.payer = accounts.authenticate(req.headers.authorization);
    next();
  };
}

/** `x-opengateway-region: europe` routes in that region; `any` allows every region. */
function regionOf(req: Request): string | null | undefined {
  const header = req.get(REGION_HEADER);
  if (header === undefined || header.trim() === "") return undefined;
  const value = header.trim().toLowerCase();
  if (value === "any") return null;
  if (!isRegion(value)) {
    throw new OpenAIHttpError(400, `${REGION_HEADER} must be one of ${REGIONS.join(", ")} or 'any'`, {
      param: REGION_HEADER,
      code: "invalid_value",
    });
  }
  return value;
}

function accountOf(res: Response): Identity {
  return res.locals.payer as Identity;
}

async function send(res: Response, result: OpenAIResult): Promise<void> {
  for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value);
  if (result.kind === "json") {
    res.status(result.status).json(result.body);
    return;
  }
  res.status(200);
  res.setHeader("content-type", "text/event-stream; charset=utf-8");
  res.setHeader("cache-control", "no-cache");
  res.setHeader("connection", "keep-alive");
  res.setHeader("x-accel-buffering", "no");
  res.flushHeaders();
  for await (const event of result.events) {
    if (res.destroyed) return;
    if (!res.write(`data: ${JSON.stringify(event)}\n\n`)) await drained(res);
  }
  if (!res.destroyed) res.end("data: [DONE]\n\n");
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req: Request, res: Response, _next) => {
    const httpError = fromExpressError(error);
    if (httpError.status >= 500) logger.warn({ err: error, url: req.originalUrl }, "request failed");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [name, value] of Object.entries(httpError.headers)) res.setHeader(name, value);
    res.status(httpError.status).json(httpError.toJSON());
  };
}

/** body-parser reports its failures with a `type`; map them to OpenAI's wording and statuses. */
function fromExpressError(error: unknown): OpenAIHttpError {
  const type = (error as { type?: unknown } | null)?.type;
  if (type === "entity.parse.failed") {
    return new OpenAIHttpError(
      400,
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
      {
        code: "invalid_json",
      },
    );
  }
  if (type === "entity.too.large") {
    return new OpenAIHttpError(413, "The request body is larger than this gateway accepts.", { code: "request_too_large" });
  }
  if (type === "encoding.unsupported" || type === "charset.unsupported") {
    return new OpenAIHttpError(415, "Unsupported content encoding.", { code: "unsupported_encoding" });
  }
  if (typeof type === "string" && type.startsWith("request.")) {
    return new OpenAIHttpError(400, "The request body could not be read.", { code: "invalid_body" });
  }
  return toOpenAIHttpError(error);
}
