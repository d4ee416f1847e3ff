import assert from "node:assert/strict";
import type { Server } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { serveWebHandler } from "./serve-web-handler.js";

describe("serveWebHandler (Node HTTP ↔ web Request/Response)", () => {
  let server: Server;
  let origin: string;
  let handler: (request: Request) => Promise<Response>;

  before(async () => {
    server = createServer((req, res) => void serveWebHandler(req, res, (request) => handler(request)));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("passes method, path, headers and body in, and status, headers and body out", async () => {
    handler = async (request) =>
      new Response(
        `${request.method} ${new URL(request.url).pathname} ${request.headers.get("x-test")} ${await request.text()}`,
        {
          status: 201,
          headers: { "x-answer": "yes" },
        },
      );
    const response = await fetch(`${origin}/v1/echo?q=1`, { method: "POST", headers: { "x-test": "t" }, body: "hello" });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get("x-answer"), "yes");
    assert.equal(response.headers.get("content-length"), String("POST /v1/echo t hello".length));
    assert.equal(await response.text(), "POST /v1/echo t hello");
  });

  it("keeps the connection usable when the handler never reads the body", async () => {
    handler = async () => new Response("no thanks", { status: 401 });
    const big = "x".repeat(1024 * 1024);
    for (let round = 0; round < 3; round++) {
      const response = await fetch(`${origin}/v1/upload`, { method: "POST", body: big });
      assert.equal(response.status, 401);
      assert.equal(await response.text(), "no thanks");
    }
  });

  it("streams an event stream as it is produced, and cancels it when the client goes away", async () => {
    let cancelled: unknown;
    let aborted = false;
    let sent = 0;
    handler = async (request) => {
      request.signal.addEventListener("abort", () => {
        aborted = true;
      });
      const chunk = new TextEncoder().encode(`data: ${"y".repeat(1000)}\n\n`);
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          sent++;
          controller.enqueue(chunk);
        },
        cancel(reason) {
          cancelled = reason ?? true;
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    };
    const controller = new AbortController();
    const response = await fetch(`${origin}/v1/stream`, { signal: controller.signal });
    const reader = response.body?.getReader();
    assert.ok(reader);
    const first = await reader.read();
    assert.match(new TextDecoder().decode(first.value), /^data: y/);
    // Not reading: backpressure stops the producer once the socket's buffers (a few MB) are full.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(sent < 50_000, `the producer ran ahead of the client: ${sent} kB`);
    controller.abort();
    const deadline = Date.now() + 5_000;
    while ((cancelled === undefined || !aborted) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(cancelled !== undefined, "the response body was cancelled");
    assert.ok(aborted, "the request's signal was aborted");
  });
});
