import type { Server } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { ContributePageOptions } from "./contribute-page.js";
import { createContributePage } from "./contribute-page.js";

export interface ContributeServerOptions extends ContributePageOptions {
  host?: string;
  port?: number;
}

export interface ContributeServer {
  /** Where the page is: `http://host:port/contribute/`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The contributor page on its own, for a full node (`opengateway node start --contribute-port`):
 * the same routes a gateway serves at /contribute, offering the node's own model file to tabs.
 */
export async function startContributeServer(options: ContributeServerOptions): Promise<ContributeServer> {
  const app = createContributePage(options);
  app.get("/", (_req, res) => res.redirect(302, "/contribute/"));
  const server: Server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/contribute/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
