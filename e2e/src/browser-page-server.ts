import { spawnSync } from "node:child_process";
import { createReadStream, existsSync, readdirSync, statSync } from "node:fs";
import type { Server } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const BROWSER_NODE = fileURLToPath(new URL("../../packages/browser-node/", import.meta.url));
const PAGE_DIR = join(BROWSER_NODE, "dist", "contribute");
const LIBRARY_DIR = join(BROWSER_NODE, "dist");

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".gguf": "application/octet-stream",
};

/**
 * Builds the contributor page (Vite) when it is missing or older than the compiled library it is
 * bundled from, so the browser tests never run against a stale page.
 */
export function ensureContributorPageBuilt(): void {
  const page = join(PAGE_DIR, "index.html");
  const newestLibraryFile = Math.max(
    ...readdirSync(LIBRARY_DIR, { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".js") && !file.startsWith(`contribute${sep}`))
      .map((file) => statSync(join(LIBRARY_DIR, file)).mtimeMs),
  );
  if (existsSync(page) && statSync(page).mtimeMs >= newestLibraryFile) return;
  const vite = join(BROWSER_NODE, "node_modules", "vite", "bin", "vite.js");
  const result = spawnSync(process.execPath, [vite, "build"], { cwd: BROWSER_NODE, stdio: "inherit" });
  if (result.status !== 0) throw new Error("building the contributor page failed");
}

export interface PageServer {
  /** The contributor page (ends with /contribute/). */
  pageUrl: string;
  /** The test model, as the page downloads it. */
  modelUrl: string;
  close(): Promise<void>;
}

export interface PageServerOptions {
  host: string;
  modelPath: string;
  /** Served as /contribute/config.json; a function is asked on every request. */
  config: object | (() => object);
}

/**
 * A static server like any host of the page: the built page under /contribute/, its config.json
 * beside it, and the GGUF model under /models/ (with Content-Length, which the page probes).
 */
export async function startPageServer(options: PageServerOptions): Promise<PageServer> {
  ensureContributorPageBuilt();
  const modelName = basename(options.modelPath);
  const server: Server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://page.test").pathname);
    let file: string | undefined;
    if (path === "/contribute/config.json") {
      const config = typeof options.config === "function" ? options.config() : options.config;
      response.writeHead(200, { "content-type": CONTENT_TYPES[".json"], "cache-control": "no-store" });
      response.end(JSON.stringify(config));
      return;
    }
    if (path === `/models/${modelName}`) file = options.modelPath;
    else if (path === "/contribute/") file = join(PAGE_DIR, "index.html");
    else if (path.startsWith("/contribute/")) {
      const candidate = normalize(join(PAGE_DIR, path.slice("/contribute/".length)));
      if (candidate.startsWith(PAGE_DIR + sep)) file = candidate;
    }
    if (file === undefined || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404);
      response.end();
      return;
    }
    response.writeHead(200, {
      "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream",
      "content-length": statSync(file).size,
    });
    if (request.method === "HEAD") response.end();
    else createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://${options.host}:${port}`;
  return {
    pageUrl: `${origin}/contribute/`,
    modelUrl: `${origin}/models/${modelName}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
