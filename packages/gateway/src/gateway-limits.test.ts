import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Gateway } from "./start-gateway.js";
import { startTestGateway } from "./test-support/test-gateway.js";

const KEY = "og-limits";
const REQUEST_TIMEOUT_MS = 2_000;
const CHECK_INTERVAL_MS = 250;
/** The documented bound on receiving a request: the request timeout plus Node's check interval. */
const RECEIVE_BOUND_MS = REQUEST_TIMEOUT_MS + CHECK_INTERVAL_MS;
/** After an answer that left a body unread, the gateway reads and discards for this long at most. */
const LINGER_TIME_MS = 500;

/** What the server sent until it closed the connection, and when it closed it. */
function exchange(gatewayUrl: string, write: (socket: Socket) => void): Promise<{ text: string; closedAfterMs: number }> {
  const url = new URL(gatewayUrl);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(url.port), url.hostname, () => write(socket));
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk.toString();
    });
    // Writes after the server closed fail; what counts is what came back and when.
    socket.on("error", () => {});
    socket.on("close", () => resolve({ text, closedAfterMs: Date.now() - started }));
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after 20 s; received: ${text.slice(0, 200)}`));
    }, 20_000).unref();
  });
}

const head = (lines: string[]) => `${lines.join("\r\n")}\r\n\r\n`;

describe("gateway HTTP bounds", { timeout: 120_000 }, () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startTestGateway(KEY, {
      corsOrigins: ["https://app.example"],
      http: {
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        headersTimeoutMs: 1_000,
        connectionsCheckIntervalMs: CHECK_INTERVAL_MS,
        lingerTimeMs: LINGER_TIME_MS,
      },
    });
  });
  after(() => gateway?.stop());

  for (const auth of [true, false]) {
    it(`cuts off a body dribbled a byte at a time ${auth ? "with" : "without"} a key within the documented bound`, async () => {
      let timer: NodeJS.Timeout | undefined;
      const { text, closedAfterMs } = await exchange(gateway.url, (socket) => {
        socket.write(
          head([
            "POST /v1/chat/completions HTTP/1.1",
            "Host: 127.0.0.1",
            "Content-Type: application/json",
            "Content-Length: 1000",
            ...(auth ? [`Authorization: Bearer ${KEY}`] : []),
          ]),
        );
        timer = setInterval(() => socket.write("{"), 400);
        socket.once("close", () => clearInterval(timer));
      });
      assert.match(text, auth ? /^HTTP\/1\.1 408/ : /^HTTP\/1\.1 401/);
      assert.ok(closedAfterMs <= RECEIVE_BOUND_MS + 1_000, `closed after ${closedAfterMs} ms`);
    });
  }

  it("answers a request without a key at once and closes, without reading its 100 MiB body", async () => {
    const { text, closedAfterMs } = await exchange(gateway.url, (socket) => {
      socket.write(head(["POST /v1/chat/completions HTTP/1.1", "Host: 127.0.0.1", `Content-Length: ${100 * 1024 * 1024}`]));
      socket.write(Buffer.alloc(64 * 1024));
    });
    assert.match(text, /^HTTP\/1\.1 401/);
    // The answer at once; the close after the linger bound, since this client neither sends its body nor closes.
    assert.ok(closedAfterMs < LINGER_TIME_MS + 1_500, `closed after ${closedAfterMs} ms`);
  });

  it("refuses an oversized Content-Length with 413 before the body is sent", async () => {
    const { text, closedAfterMs } = await exchange(gateway.url, (socket) => {
      socket.write(
        head([
          "POST /v1/chat/completions HTTP/1.1",
          "Host: 127.0.0.1",
          `Authorization: Bearer ${KEY}`,
          `Content-Length: ${100 * 1024 * 1024}`,
        ]),
      );
    });
    assert.match(text, /^HTTP\/1\.1 413/);
    assert.ok(closedAfterMs < LINGER_TIME_MS + 1_500, `closed after ${closedAfterMs} ms`);
  });

  it("lets a client that sends its whole oversized body read the 413 every time (no reset over the unread upload)", async () => {
    // Closing at once over the unread upload made the kernel reset the connection, and the client
    // sometimes lost the answer ("fetch failed"); the gateway now lingers, so every try reads it.
    const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "x".repeat(2 * 1024 * 1024) }] });
    for (let attempt = 0; attempt < 10; attempt++) {
      const response = await fetch(`${gateway.url}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body,
      });
      assert.equal(response.status, 413);
      assert.equal(((await response.json()) as { error: { type: string } }).error.type, "invalid_request_error");
    }
  });

  it("stops an endless chunked upload at the body limit", async () => {
    let sent = 0;
    const { text } = await exchange(gateway.url, (socket) => {
      socket.write(
        head([
          "POST /v1/chat/completions HTTP/1.1",
          "Host: 127.0.0.1",
          `Authorization: Bearer ${KEY}`,
          "Transfer-Encoding: chunked",
        ]),
      );
      const chunk = Buffer.concat([Buffer.from("4000\r\n"), Buffer.alloc(0x4000, 32), Buffer.from("\r\n")]);
      const pump = () => {
        while (!socket.destroyed && sent < 512 * 1024 * 1024) {
          sent += chunk.length;
          if (!socket.write(chunk)) {
            socket.once("drain", pump);
            return;
          }
        }
      };
      pump();
    });
    assert.match(text, /^HTTP\/1\.1 413/);
    assert.ok(sent < 64 * 1024 * 1024, `the client got to send ${sent} bytes`);
  });

  it("refuses a Host other than loopback on a loopback gateway (DNS rebinding)", async () => {
    const url = new URL(gateway.url);
    const response = await fetch(`${url.origin}/v1/models`, {
      headers: { authorization: `Bearer ${KEY}`, host: "evil.example" },
    });
    // fetch does not let a Host be forged; a raw request does.
    assert.equal(response.status, 200);
    const { text } = await exchange(gateway.url, (socket) => {
      socket.write(head(["GET /v1/models HTTP/1.1", "Host: evil.example", `Authorization: Bearer ${KEY}`]));
    });
    assert.match(text, /^HTTP\/1\.1 421/);
  });

  it("answers an allowed origin's preflight before authentication, and no other origin's", async () => {
    const preflight = (origin: string) =>
      fetch(`${gateway.url}/chat/completions`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization" },
      });
    const allowed = await preflight("https://app.example");
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://app.example");
    assert.match(allowed.headers.get("access-control-allow-headers") ?? "", /authorization/);
    const other = await preflight("https://evil.example");
    assert.equal(other.status, 401);
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    const call = await fetch(`${gateway.url}/models`, {
      headers: { origin: "https://app.example", authorization: `Bearer ${KEY}` },
    });
    assert.equal(call.headers.get("access-control-allow-origin"), "https://app.example");
    assert.equal(call.headers.get("x-content-type-options"), "nosniff");
    assert.equal(call.headers.get("x-frame-options"), "DENY");
  });
});
