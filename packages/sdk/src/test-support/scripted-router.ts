import type { InferenceRouter, RouteRequest, RouterEvent } from "@opengateway/p2p";
import { ProviderTable } from "@opengateway/p2p";
import type { ChatBody, NodeCapabilities } from "@opengateway/protocol";

/** One provider, `p1`, serving model `m` for chat and completions. */
export const testCapabilities: NodeCapabilities = {
  v: 1,
  agent: "test",
  engine: "test",
  region: "europe",
  clusters: ["A"],
  models: [{ id: "m", contextSize: 2048, pricePerToken: 1, kinds: ["chat", "completion"] }],
  activeRequests: 0,
  maxConcurrentRequests: 1,
  queuedRequests: 0,
  tokensPerSecond: null,
};

export function tableWithProvider(): ProviderTable {
  const table = new ProviderTable();
  table.upsert("p1", testCapabilities, { expiresAt: Date.now() + 60_000 });
  return table;
}

/**
 * A router that answers each request with the next script (the last one again once they run out;
 * an Error in a script is thrown there), keeps the chat bodies it was asked for, and records
 * whether the first request ran to its end (`done`) or was left early (`cancelled`).
 */
export function scriptedRouter(...scripts: Array<Array<RouterEvent | Error>>) {
  const ended: string[] = [];
  const bodies: ChatBody[] = [];
  const router = {
    table: tableWithProvider(),
    async *route(_payer: unknown, route: RouteRequest) {
      bodies.push((route as { body: ChatBody }).body);
      try {
        for (const event of scripts[Math.min(bodies.length, scripts.length) - 1] ?? []) {
          await new Promise((resolve) => setImmediate(resolve));
          if (event instanceof Error) throw event;
          yield event;
        }
        ended.push("done");
      } finally {
        if (ended.length === 0) ended.push("cancelled");
      }
    },
  } as unknown as InferenceRouter;
  return { router, bodies, ended };
}
