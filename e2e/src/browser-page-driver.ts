import type { TabLedgerStatus } from "@opengateway/browser-node";
import type { Page } from "playwright-core";

/**
 * What the tests read from a running contributor page. The page exposes its node as
 * `window.opengateway` (documented in the browser-node README); these are the parts tests use,
 * typed here because e2e is compiled without DOM types.
 */
export interface PageStatus {
  phase: string;
  detail: string;
  peerId: string;
  peers: Array<{ peerId: string; transport: string }>;
  addresses: string[];
  engine: string | null;
  engineReason: string | null;
  verdicts: Array<{ id: string; engine: string | null; reason: string }>;
  model: string | null;
  clusters: string[];
  measuredTokensPerSecond: number | null;
  activeRequests: number;
  settings: { contributing: boolean; maxConcurrentRequests: number; pauseWhenHidden: boolean };
  counters: { requestsServed: number; requestsFailed: number; tokensServed: number; creditsEarned: number; creditsSpent: number };
  /** The tab's account on its own copy of the ledger; null when the page keeps no ledger. */
  ledger: PageLedgerStatus | null;
  error: string | null;
}

/** The tab's ledger status, as the page's own type declares it (it reaches the test as plain JSON). */
export type PageLedgerStatus = TabLedgerStatus;

export interface EngineEvent {
  type: string;
  index?: number;
  text?: string;
  tokens?: number;
  choices?: Array<{ index: number; finishReason: string }>;
  usage?: { promptTokens: number; completionTokens: number };
}

interface PageGlobals {
  opengateway?: {
    status(): PageStatus;
    engine?: {
      generateCompletion(request: unknown, options?: { maxTotalTokens?: number }): AsyncIterable<EngineEvent>;
      generateChat(request: unknown, options?: { maxTotalTokens?: number }): AsyncIterable<EngineEvent>;
      readonly activeRequests: number;
    };
  };
}

export function pageStatus(page: Page): Promise<PageStatus | null> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).opengateway?.status() ?? null);
}

/** Waits until the page's node reports a status that satisfies the check (polling, as a user would watch it). */
export async function waitForStatus(
  page: Page,
  check: (status: PageStatus) => boolean,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<PageStatus> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last: PageStatus | null = null;
  while (Date.now() < deadline) {
    last = await pageStatus(page).catch(() => null);
    if (last !== null && check(last)) return last;
    if (last?.phase === "failed") throw new Error(`the page failed: ${last.detail}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${options.what ?? "a page status"}; last status: ${JSON.stringify(last)}`);
}

/**
 * Runs one generation on the tab's engine (in its Web Worker, through the page's main thread),
 * reading at most `stopAfter` events when given: leaving early must cancel in the worker.
 */
export function generateInPage(
  page: Page,
  kind: "chat" | "completion",
  request: Record<string, unknown>,
  stopAfter?: number,
  options: { maxTotalTokens?: number } = {},
): Promise<EngineEvent[]> {
  return page.evaluate(
    async ({ kind, request, stopAfter, options }) => {
      const engine = (globalThis as unknown as PageGlobals).opengateway?.engine;
      if (!engine) throw new Error("no engine is loaded");
      const events: EngineEvent[] = [];
      const stream = kind === "chat" ? engine.generateChat(request, options) : engine.generateCompletion(request, options);
      for await (const event of stream) {
        events.push(event);
        if (stopAfter !== undefined && events.length >= stopAfter) break;
      }
      return events;
    },
    { kind, request, stopAfter, options },
  );
}

export function textOf(events: EngineEvent[]): string {
  return events.map((event) => (event.type === "text" ? (event.text ?? "") : "")).join("");
}
