import { statSync } from "node:fs";
import { basename, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { errorClass } from "@opengateway/protocol";
import type { ErrorRequestHandler, Express } from "express";
import express from "express";
import type { PageConfig, PageConfigJson } from "../page-config.js";

/** The contributor page this package builds (`pnpm build`: dist/contribute). */
export const CONTRIBUTE_PAGE_DIR = fileURLToPath(new URL("../contribute/", import.meta.url));

export interface ContributePageOptions {
  /** The built contributor page; the one this package builds by default. */
  pageDir?: string;
  /** Bootstrap/relay multiaddrs a tab dials over WebSockets (with /p2p/<peer id>). */
  bootstrap: () => string[];
  /** GGUF files offered to tabs, served under /contribute/models/<file name>. */
  modelFiles: string[];
  /** GGUF files hosted elsewhere (http/https URLs, e.g. a CDN), offered to tabs after the local ones. */
  modelUrls?: string[];
  iceServers?: PageConfig["iceServers"];
  region?: string | null;
  localNetwork?: boolean;
  /**
   * The ledger tabs keep, with the network's parameters: the registration difficulty, and whether
   * each account gets its own grant (`--local` devnets: many tabs in one browser) rather than one
   * per device. Null or absent: the server's network keeps no ledger (`--no-credits`), nor do tabs.
   */
  ledger?: PageConfig["ledger"];
}

/**
 * `/contribute`: the page that lets a browser tab join the network, its `config.json` (where to
 * connect, which models to load), and the model files themselves (sendFile answers HEAD with a
 * Content-Length, which the page reads before deciding a model fits). An Express app: mount it,
 * or call it as `(req, res, next)` from a plain Node server; paths it does not serve go to `next`.
 */
export function createContributePage(options: ContributePageOptions): Express {
  const models = new Map(options.modelFiles.map((path) => [basename(path), resolve(path)]));
  const remote = (options.modelUrls ?? []).map(checkedModelUrl);
  const page = express();
  page.disable("x-powered-by");
  page.use((_req, res, next) => {
    for (const [name, value] of Object.entries(PAGE_SECURITY_HEADERS)) res.setHeader(name, value);
    next();
  });
  // The page's assets are relative, so it must be loaded from /contribute/ (non-strict routing also sends that here).
  page.get("/contribute", (req, res, next) => {
    if (req.originalUrl.split("?")[0] === "/contribute") res.redirect(301, "/contribute/");
    else next();
  });
  page.get("/contribute/config.json", (_req, res) => {
    res.setHeader("cache-control", "no-store");
    res.json({
      bootstrap: options.bootstrap(),
      models: [
        ...[...models].map(([name, path]) => ({ url: `models/${encodeURIComponent(name)}`, sizeBytes: statSync(path).size })),
        // The page asks their servers for the size (HEAD) before deciding a model fits.
        ...remote.map((url) => ({ url })),
      ],
      iceServers: options.iceServers ?? [],
      region: options.region ?? null,
      localNetwork: options.localNetwork ?? false,
      ledger: options.ledger ?? null,
    } satisfies PageConfigJson);
  });
  page.get("/contribute/models/:name", (req, res, next) => {
    const path = models.get(String(req.params.name));
    if (path === undefined) {
      next();
      return;
    }
    res.sendFile(path, { headers: { "content-type": "application/octet-stream" } });
  });
  page.use("/contribute", express.static(options.pageDir ?? CONTRIBUTE_PAGE_DIR, { index: "index.html" }));
  page.use(clientErrors);
  return page;
}

/**
 * Sent with every response of the page: it may not be framed (clickjacking), types are not sniffed,
 * and no referrer leaves it. The CSP names only what the page cannot do without (it dials peers
 * over WebSockets and WebRTC, fetches model files from CDNs and compiles WebAssembly).
 */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self' ws: wss: http: https: blob:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/**
 * A client's mistake (an unsatisfiable Range: 416 with its Content-Range, a malformed path: 400) is
 * answered with its status and a short JSON error rather than Express's HTML page and stack trace.
 */
const clientErrors: ErrorRequestHandler = (error, _req, res, next) => {
  const status =
    typeof error?.status === "number" ? error.status : typeof error?.statusCode === "number" ? error.statusCode : 500;
  if (res.headersSent || status >= 500) {
    next(error);
    return;
  }
  for (const [name, value] of Object.entries((error?.headers ?? {}) as Record<string, string>)) res.setHeader(name, value);
  res.status(status).json({
    error: { message: String(error?.message ?? "bad request"), type: "invalid_request_error", param: null, code: null },
  });
};

export class InvalidModelUrlError extends errorClass(
  "InvalidModelUrlError",
  "invalid_model_url",
  (url: string) => `'${url}' is not an http(s) URL of a .gguf file`,
) {}

/** Only http(s) URLs of GGUF files reach the page's config. */
function checkedModelUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidModelUrlError(url);
  }
  if ((parsed.protocol !== "https:" && parsed.protocol !== "http:") || !parsed.pathname.endsWith(".gguf")) {
    throw new InvalidModelUrlError(url);
  }
  return parsed.toString();
}
