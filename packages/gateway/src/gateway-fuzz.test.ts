import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import type { Gateway } from "./start-gateway.js";
import type { StubContributorPage } from "./test-support/test-gateway.js";
import { startTestGateway, stubContributorPage } from "./test-support/test-gateway.js";

const KEY = "og-fuzz";
/** Inputs per surface: 10,000 in CI with a fixed seed; OPENGATEWAY_FUZZ_RUNS / _SEED for long runs. */
const RUNS = Number(process.env.OPENGATEWAY_FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.OPENGATEWAY_FUZZ_SEED ?? 14);

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
}
interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

const PROTOTYPE_KEYS = ["constructor", "__proto__", "toString", "valueOf", "hasOwnProperty", "prototype", "__defineGetter__"];
const PATHS = [
  "/v1/models",
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/embeddings",
  "/v1/opengateway/wallet",
  "/v1/opengateway/network",
  "/healthz",
  "/contribute",
  "/contribute/",
  "/contribute/config.json",
  "/contribute/models/tiny.gguf",
  "/v1",
  "/",
];

const token = fc.stringMatching(/^[A-Za-z]{1,10}$/);
const method = fc.oneof(fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"), token);
const pathPiece = fc.oneof(
  fc.constantFrom(...PROTOTYPE_KEYS, "%", "%E0%A4%A", "%zz", "%00", "..", ".", "//", "?a=%", "#x", ";", "%2F"),
  fc.stringMatching(/^[A-Za-z0-9._~%-]{0,12}$/),
);
const path = fc.oneof(
  fc.constantFrom(...PATHS),
  fc
    .tuple(fc.constantFrom(...PATHS, "/v1/models/", "/contribute/models/"), fc.array(pathPiece, { maxLength: 3 }))
    .map(([base, pieces]) => `${base}${pieces.join("/")}`),
);
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);
const headers = fc.record(
  {
    authorization: fc.oneof(fc.constant(`Bearer ${KEY}`), fc.constant("Bearer wrong"), headerValue),
    "content-type": fc.oneof(fc.constantFrom("application/json", "text/plain", "multipart/form-data"), headerValue),
    "content-encoding": fc.oneof(fc.constantFrom("gzip", "deflate", "br", "identity", "GZIP", "gzip, gzip"), headerValue),
    "x-opengateway-region": fc.oneof(fc.constantFrom("any", "europe", "", ...PROTOTYPE_KEYS), headerValue),
    range: fc.oneof(fc.constantFrom("bytes=0-1", "bytes=5000-6000", "bytes=-1", "bytes=1-0", "bytes=a"), headerValue),
    origin: fc.constantFrom("https://app.example", "null", "http://evil.example"),
    accept: headerValue,
  },
  { requiredKeys: [] },
);

/** JSON nested `depth` deep: objects and arrays, as schemas and parameters are. */
const deep = fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.boolean()).map(([depth, arrays]) => {
  const open = arrays ? "[" : '{"type":"object","properties":{"a":';
  const close = arrays ? "]" : "}}";
  return `${open.repeat(depth)}1${close.repeat(depth)}`;
});
const anyKey = fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS), fc.string({ maxLength: 8 }));
const message = fc.record({
  role: fc.oneof(fc.constantFrom("system", "user", "assistant", "tool", "developer"), fc.string({ maxLength: 6 })),
  content: fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.constant(null),
    fc.array(fc.record({ type: fc.string(), text: fc.string() })),
  ),
});
/** Bodies near the real shapes, with values and keys from anywhere. */
const requestBody = fc
  .record(
    {
      model: fc.oneof(fc.constantFrom("stories260K", "", ...PROTOTYPE_KEYS), fc.string({ maxLength: 10 }), fc.integer()),
      messages: fc.oneof(fc.array(message, { maxLength: 3 }), fc.jsonValue({ maxDepth: 2 })),
      prompt: fc.oneof(
        fc.string({ maxLength: 10 }),
        fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      input: fc.oneof(fc.string({ maxLength: 10 }), fc.array(fc.integer(), { maxLength: 3 }), fc.jsonValue({ maxDepth: 2 })),
      max_tokens: fc.oneof(fc.integer(), fc.double(), fc.constant(null), fc.string({ maxLength: 3 })),
      temperature: fc.oneof(fc.double(), fc.constant(null)),
      seed: fc.oneof(fc.integer(), fc.bigInt().map(Number)),
      stream: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
      stop: fc.jsonValue({ maxDepth: 2 }),
      logit_bias: fc.dictionary(anyKey, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
      tools: fc.array(
        fc.record({
          type: fc.constant("function"),
          function: fc.record({ name: fc.string({ maxLength: 5 }), parameters: fc.jsonValue({ maxDepth: 3 }) }),
        }),
        { maxLength: 2 },
      ),
      response_format: fc.jsonValue({ maxDepth: 3 }),
    },
    { requiredKeys: [] },
  )
  .chain((body) => fc.dictionary(anyKey, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }).map((extra) => ({ ...extra, ...body })))
  .map((body) => JSON.stringify(body));
const bodyText = fc.oneof(
  requestBody,
  fc.json({ maxDepth: 3 }),
  deep.map(
    (schema) =>
      `{"model":"stories260K","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":${schema}}}}`,
  ),
  deep.map(
    (schema) =>
      `{"model":"stories260K","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":${schema}}}]}`,
  ),
  fc.constantFrom('{"__proto__":{"a":1}}', '{"constructor":{"prototype":1}}', "{", "", "null", "[]", '"x"', "\u0000"),
  fc.string({ maxLength: 40 }),
);
const body = fc.oneof(
  bodyText,
  bodyText.map((text) => gzipSync(text)),
  fc.uint8Array({ maxLength: 64 }),
);

describe("HTTP fuzzing a real gateway with no providers", { timeout: 900_000 }, () => {
  let gateway: Gateway;
  let page: StubContributorPage;
  let origin: URL;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });

  const send = (input: Sent): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: origin.hostname, port: origin.port, method: input.method, path: input.path, headers: input.headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }),
          );
          res.on("error", reject);
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error(`no answer in 10 s to ${input.method} ${input.path}`)));
      req.on("error", reject);
      req.end(input.body);
    });

  /** No 5xx but the honest ones (no provider reachable), every /v1 error OpenAI-shaped, security headers on every answer. */
  const check = (input: Sent, answer: Answer) => {
    const context = `${input.method} ${input.path} → ${answer.status} ${answer.text.slice(0, 200)}`;
    if (answer.status >= 500) {
      const noProvider = answer.status === 503 && (/"no_provider"/.test(answer.text) || /"no_providers"/.test(answer.text));
      assert.ok(noProvider, context);
    }
    // Node's parser answers a request it cannot parse with a bare 400 of its own, before any handler.
    if (answer.text !== "") {
      assert.equal(answer.headers["x-content-type-options"], "nosniff", context);
      assert.ok(answer.headers["x-frame-options"], context);
    }
    if (input.path.startsWith("/v1") && answer.status >= 400 && answer.text !== "") {
      const error = (JSON.parse(answer.text) as { error: Record<string, unknown> }).error;
      assert.equal(typeof error.message, "string", context);
    }
  };

  before(async () => {
    page = stubContributorPage();
    gateway = await startTestGateway(KEY, {
      corsOrigins: ["https://app.example"],
      contribute: { pageDir: page.pageDir, bootstrap: () => [], modelFiles: [page.modelFile] },
    });
    origin = new URL(gateway.url);
  });
  after(async () => {
    agent.destroy();
    await gateway?.stop();
    page?.remove();
  });

  const property = (arbitrary: fc.Arbitrary<Sent>) =>
    fc.assert(
      fc.asyncProperty(arbitrary, async (input) => check(input, await send(input))),
      { numRuns: RUNS, seed: SEED, endOnFailure: true, includeErrorInReport: true },
    );

  it(`answers ${RUNS} requests over every endpoint, method and header deliberately`, async () => {
    await property(
      fc.record({ method, path, headers }).map((input) => ({ ...input, body: input.method === "GET" ? undefined : "{}" })),
    );
  });

  it(`answers ${RUNS} bodies on the POST endpoints deliberately`, async () => {
    await property(
      fc
        .record({
          path: fc.constantFrom("/v1/chat/completions", "/v1/completions", "/v1/embeddings"),
          headers,
          body,
        })
        .map(({ path, headers, body }) => {
          // The body is what it is: the content-encoding header only claims it.
          return { method: "POST", path, headers: { authorization: `Bearer ${KEY}`, ...headers }, body };
        }),
    );
  });

  it(`answers ${RUNS} model ids and page paths deliberately`, async () => {
    await property(
      fc
        .record({
          base: fc.constantFrom("/v1/models/", "/contribute/models/", "/contribute/"),
          id: fc.oneof(
            fc.string({ maxLength: 20 }).map(encodeURIComponent),
            fc.array(pathPiece, { maxLength: 4 }).map((p) => p.join("")),
          ),
          range: headers,
          method: fc.constantFrom("GET", "HEAD"),
        })
        .map(({ base, id, range, method }) => ({
          method,
          path: `${base}${id}`,
          headers: { ...range, authorization: `Bearer ${KEY}` },
        })),
    );
  });
});
