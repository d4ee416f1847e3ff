import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { LocalNetwork } from "@opengateway/cli";
import { startLocalNetwork } from "@opengateway/cli";
import { build } from "vite";
import type { LaunchedBrowser } from "./browser-launch.js";
import { launchBrowser } from "./browser-launch.js";
import { testModelPath } from "./test-model.js";

const PAGE_SOURCE = fileURLToPath(new URL("../sdk-page/", import.meta.url));
const EXAMPLE_SOURCE = fileURLToPath(new URL("../../examples/sdk-in-browser/", import.meta.url));
const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript" };

interface SdkRun {
  models: string[];
  content: string;
  usage: { completion_tokens: number; prompt_tokens: number; total_tokens: number };
  streamed: string;
  payer: string;
  balance: { identity: string; registered: boolean; balance: number; reserved: number } | null;
  receipts: number;
  transports: string[];
}

/**
 * The SDK's browser build, bundled by Vite and run in real Chromium: it dials a full node over
 * WebSockets and serves the official openai client with no gateway and no Node APIs.
 */
describe("SDK in a browser (real Chromium)", { timeout: 240_000 }, () => {
  let network: LocalNetwork;
  let home: string;
  let pageDir: string;
  let browser: LaunchedBrowser;
  const server = createServer((req, res) => {
    const path = normalize(new URL(req.url ?? "/", "http://x").pathname).replace(/^\/+/, "") || "index.html";
    try {
      const body = readFileSync(join(pageDir, path));
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });

  before(async () => {
    home = mkdtempSync(join(tmpdir(), "opengateway-sdk-browser-"));
    pageDir = join(home, "page");
    await build({ root: PAGE_SOURCE, logLevel: "error", build: { outDir: pageDir, emptyOutDir: true, target: "es2022" } });
    // The example app, built as its README says, served beside the test page.
    await build({
      root: EXAMPLE_SOURCE,
      base: "./",
      logLevel: "error",
      build: { outDir: join(pageDir, "example"), emptyOutDir: true, target: "es2022" },
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    network = await startLocalNetwork({
      model: testModelPath(),
      host: "127.0.0.1",
      port: 0,
      apiKey: "og-unused",
      home,
      nodeArgs: ["--gpu", "off"],
      onOutput: () => {},
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await network?.stop();
    server.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("streams and non-streams chat completions over WebSockets, paid by the page's own identity", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/index.html`);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    const ws = network.nodeAddresses.find((address) => address.includes("/ws/"));
    assert.ok(ws, "the full node listens on WebSockets");
    const result = (await page.evaluate((peer) => window.runSdk(peer), ws)) as SdkRun;
    assert.deepEqual(result.models, ["stories260K"]);
    assert.ok(result.content.length > 0);
    assert.equal(result.usage.completion_tokens, 12);
    assert.equal(result.usage.total_tokens, result.usage.prompt_tokens + 12);
    assert.ok(result.streamed.length > 0);
    assert.match(result.payer, /^12D3KooW/);
    assert.equal(result.receipts, 2);
    // The page's own identity registered itself and paid for both answers from its grant.
    assert.equal(result.balance?.identity, result.payer);
    assert.equal(result.balance?.registered, true);
    assert.ok(result.balance.balance < 100_000, `paid from the grant: ${result.balance.balance}`);
    assert.equal(result.balance.reserved, 0);
    assert.ok(
      result.transports.some((address) => address.includes("/ws")),
      `dialled over ${result.transports.join(", ")}`,
    );
    assert.deepEqual(errors, []);
  });

  it("runs the Vite example app: its form joins through the node's /ws address and streams an answer", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/example/index.html`);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    const ws = network.nodeAddresses.find((address) => address.includes("/ws/"));
    assert.ok(ws);
    await page.fill("#address", ws);
    await page.check("#local");
    await page.click("#send");
    await page.waitForFunction(() => ["done", "failed"].includes(document.getElementById("status")?.textContent ?? ""), null, {
      timeout: 120_000,
    });
    const shown = await page.evaluate(() => ({
      status: document.getElementById("status")?.textContent,
      output: document.getElementById("output")?.textContent ?? "",
      error: document.getElementById("error")?.textContent,
      wallet: document.getElementById("wallet")?.textContent ?? "",
    }));
    assert.equal(shown.status, "done", shown.error ?? "");
    assert.ok(shown.output.length > 0);
    assert.match(shown.wallet, /^Paid by 12D3KooW\w+; 1 signed receipt/);
    assert.deepEqual(errors, []);
  });
});

declare global {
  interface Window {
    runSdk(peer: string): Promise<unknown>;
  }
}
