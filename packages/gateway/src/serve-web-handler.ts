import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * Runs a web-standard handler for a Node request. The body streams in as the Request's (read only
 * if the handler reads it, so an unread body is discarded as Node does), the Response streams out
 * with backpressure, and a client that goes away aborts the Request's signal and cancels the
 * Response's body, which cancels the work behind it.
 */
export async function serveWebHandler(
  req: IncomingMessage,
  res: ServerResponse,
  handler: (request: Request) => Promise<Response>,
): Promise<void> {
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  let request: Request;
  try {
    request = toRequest(req, controller.signal);
  } catch {
    // A header Node accepts but the Fetch standard does not.
    res.writeHead(400).end();
    return;
  }
  await writeResponse(res, await handler(request));
}

function toRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  for (let index = 0; index + 1 < req.rawHeaders.length; index += 2) {
    headers.append(req.rawHeaders[index] ?? "", req.rawHeaders[index + 1] ?? "");
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  // The host part is a placeholder: a handler reads the path (the Host header is the client's to set).
  return new Request(`http://gateway${req.url ?? "/"}`, {
    method,
    headers,
    body: hasBody ? bodyOf(req) : null,
    signal,
    duplex: "half",
  } as RequestInit);
}

/** The request body, pulled from Node only as it is read. */
function bodyOf(req: IncomingMessage): ReadableStream<Uint8Array> {
  const chunks = req[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await chunks.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  for (const [name, value] of response.headers) res.setHeader(name, value);
  const body = response.body;
  if (body === null || res.destroyed) {
    res.end();
    return;
  }
  if (!response.headers.get("content-type")?.startsWith("text/event-stream")) {
    // A whole answer goes out in one write, with its Content-Length.
    res.end(new Uint8Array(await response.arrayBuffer()));
    return;
  }
  res.flushHeaders();
  const reader = body.getReader();
  const cancel = () => {
    reader.cancel().catch(() => {});
  };
  res.once("close", cancel);
  try {
    for (let next = await reader.read(); !next.done && !res.destroyed; next = await reader.read()) {
      if (!res.write(next.value)) await drained(res);
    }
    if (res.destroyed) await reader.cancel();
    else res.end();
  } catch {
    res.destroy();
  } finally {
    res.off("close", cancel);
  }
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
