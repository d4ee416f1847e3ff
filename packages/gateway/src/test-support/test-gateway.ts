import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { Gateway, StartGatewayOptions } from "../start-gateway.js";
import { startGateway } from "../start-gateway.js";

/** A real gateway (HTTP server and libp2p peer) on a free port, quiet, with a 64 KiB body limit and one API key. */
export function startTestGateway(apiKey: string, options: Partial<StartGatewayOptions> = {}): Promise<Gateway> {
  return startGateway({ port: 0, apiKeys: [apiKey], logger: pino({ level: "silent" }), maxBodyBytes: 64 * 1024, ...options });
}

/** A stand-in contributor page in a temporary folder: an index.html and a 1234-byte model file. */
export interface StubContributorPage {
  pageDir: string;
  modelFile: string;
  remove(): void;
}

export function stubContributorPage(): StubContributorPage {
  const pageDir = mkdtempSync(join(tmpdir(), "opengateway-page-"));
  const modelFile = join(pageDir, "tiny.gguf");
  writeFileSync(join(pageDir, "index.html"), "<!doctype html><title>Contribute</title>");
  writeFileSync(modelFile, Buffer.alloc(1234));
  return { pageDir, modelFile, remove: () => rmSync(pageDir, { recursive: true, force: true }) };
}
