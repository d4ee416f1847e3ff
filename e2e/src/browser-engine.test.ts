import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import type { LaunchedBrowser } from "./browser-launch.js";
import { launchBrowser } from "./browser-launch.js";
import { generateInPage, pageStatus, textOf, waitForStatus } from "./browser-page-driver.js";
import type { PageServer } from "./browser-page-server.js";
import { startPageServer } from "./browser-page-server.js";
import { testModelPath } from "./test-model.js";

const MODEL = "stories260K";
const sampling = { temperature: 0, topP: 1, seed: 7, stop: [] as string[] };

/**
 * The contributor page in real headless Chromium, on loopback (no WebRTC needed here): which
 * engine the tab picks, and wllama generating from the test model in the tab's Web Worker with
 * OpenAI's semantics (max_tokens, stop, seed, usage). Serving over the network is in
 * browser-webrtc.test.ts.
 */
describe("browser node: engine choice and wllama in Chromium", { timeout: 180_000 }, () => {
  let server: PageServer;
  let browser: LaunchedBrowser;
  let page: Page;

  before(async () => {
    server = await startPageServer({
      host: "127.0.0.1",
      modelPath: testModelPath(),
      config: () => ({ bootstrap: [], models: [{ url: server.modelUrl }], iceServers: [] }),
    });
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.goto(server.pageUrl);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it("waits for the contributor to press Start, then picks wllama on the SwiftShader fallback adapter and says why", async () => {
    const idle = await waitForStatus(page, (candidate) => candidate.phase === "idle", { what: "the idle page" });
    assert.equal(idle.engine, null, "nothing is downloaded before the contributor agrees");
    const start = page.getByRole("button", { name: "Start contributing" });
    assert.equal(await start.getAttribute("aria-pressed"), "false");
    await start.click();
    const status = await waitForStatus(page, (candidate) => candidate.phase === "serving", {
      what: "the tab to serve",
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${browser.log.join("\n")}`);
    });
    const adapter = await page.evaluate(async () => {
      const gpu = (
        globalThis as unknown as {
          navigator: {
            gpu?: { requestAdapter(): Promise<{ info: { isFallbackAdapter: boolean }; features: Set<string> } | null> };
          };
        }
      ).navigator.gpu;
      const found = await gpu?.requestAdapter();
      return found ? { fallback: found.info.isFallbackAdapter, f16: found.features.has("shader-f16") } : null;
    });
    assert.deepEqual(adapter, { fallback: true, f16: false }, "this machine's Chromium offers only a software WebGPU adapter");
    assert.equal(status.engine, "wllama");
    assert.equal(status.model, MODEL);
    assert.match(status.engineReason ?? "", /wllama/);
    assert.match(status.engineReason ?? "", /no WebLLM artifacts configured/);
    assert.deepEqual(status.clusters.includes("A"), true, "a 1 MB model is cluster A");
    assert.ok((status.measuredTokensPerSecond ?? 0) > 0, "the warm-up measured a speed");
    const shown = await page.locator("#engine").textContent();
    assert.match(shown ?? "", /^wllama · [\d,]+ tokens\/s measured$/);
    assert.equal(await page.getByRole("button", { name: "Pause contribution" }).getAttribute("aria-pressed"), "true");
  });

  it("generates from the test model honouring max_tokens and counting usage from tokens", async () => {
    const events = await generateInPage(page, "completion", {
      model: MODEL,
      prompt: "Once upon a time",
      maxTokens: 20,
      ...sampling,
    });
    const done = events.at(-1);
    assert.equal(done?.type, "done");
    assert.deepEqual(done?.choices, [{ index: 0, finishReason: "length" }]);
    assert.equal(done?.usage?.completionTokens, 20);
    assert.ok((done?.usage?.promptTokens ?? 0) > 0);
    const streamedTokens = events.reduce((sum, event) => sum + (event.type === "text" ? (event.tokens ?? 0) : 0), 0);
    assert.equal(streamedTokens, 20, "the tokens on text events add up to the usage");
    assert.ok(textOf(events).length > 20);
  });

  it("stops at the payer's reserve: prompt plus completion tokens never pass maxTotalTokens, across the worker", async () => {
    const request = { model: MODEL, prompt: "Once upon a time", maxTokens: 40, ...sampling, temperature: 0 };
    const free = await generateInPage(page, "completion", request);
    const prompt = free.at(-1)?.usage?.promptTokens ?? 0;
    assert.ok(prompt > 0);
    const capped = await generateInPage(page, "completion", request, undefined, { maxTotalTokens: prompt + 12 });
    const done = capped.at(-1);
    assert.deepEqual(done?.choices, [{ index: 0, finishReason: "length" }]);
    assert.equal(done?.usage?.promptTokens, prompt);
    assert.ok((done?.usage?.completionTokens ?? 99) <= 12, `${done?.usage?.completionTokens} completion tokens`);
    assert.ok((done?.usage?.completionTokens ?? 0) >= 10);
    assert.ok(textOf(free).startsWith(textOf(capped)), "the same generation, cut where the reserve ends");
  });

  it("stops at a stop string without leaking it, and repeats itself with the same seed", async () => {
    const free = textOf(
      await generateInPage(page, "completion", { model: MODEL, prompt: "Once upon a time", maxTokens: 60, ...sampling }),
    );
    const word = free.trim().split(/\s+/)[3];
    assert.ok(word, `expected several words, got '${free}'`);
    const stopped = await generateInPage(page, "completion", {
      model: MODEL,
      prompt: "Once upon a time",
      maxTokens: 60,
      ...sampling,
      stop: [word],
    });
    assert.deepEqual(stopped.at(-1)?.choices, [{ index: 0, finishReason: "stop" }]);
    const stoppedText = textOf(stopped);
    assert.ok(!stoppedText.includes(word), `'${stoppedText}' leaks the stop string '${word}'`);
    assert.ok(free.startsWith(stoppedText));
    const warm = { model: MODEL, prompt: "Lily", maxTokens: 30, temperature: 0.9, topP: 1, stop: [] };
    const first = textOf(await generateInPage(page, "completion", { ...warm, seed: 1234 }));
    const again = textOf(await generateInPage(page, "completion", { ...warm, seed: 1234 }));
    const other = textOf(await generateInPage(page, "completion", { ...warm, seed: 4321 }));
    assert.equal(again, first, "same seed, same text");
    assert.notEqual(other, first, "another seed, other text");
  });

  it("serves chat (n choices, one usage) and cancels in the worker when the consumer leaves early", async () => {
    const chat = await generateInPage(page, "chat", {
      model: MODEL,
      messages: [{ role: "user", content: "Tell me a story" }],
      maxTokens: 12,
      n: 2,
      temperature: 1,
      topP: 1,
      seed: 5,
      stop: [],
    });
    const done = chat.at(-1);
    assert.deepEqual(
      done?.choices?.map((choice) => choice.index),
      [0, 1],
    );
    assert.equal(done?.usage?.completionTokens, 24);
    assert.ok(chat.some((event) => event.type === "text" && event.index === 1));

    const partial = await generateInPage(page, "completion", { model: MODEL, prompt: "Once", maxTokens: 1500, ...sampling }, 3);
    assert.equal(partial.length, 3);
    // The slot is free again at once: the throttle allows one request, and the next one is served.
    const next = await generateInPage(page, "completion", { model: MODEL, prompt: "Once", maxTokens: 5, ...sampling });
    assert.equal(next.at(-1)?.usage?.completionTokens, 5);
    const active = await page.evaluate(
      () =>
        (globalThis as unknown as { opengateway?: { engine?: { activeRequests: number } } }).opengateway?.engine?.activeRequests,
    );
    assert.equal(active, 0);
  });

  it("pauses while the tab is hidden when the contributor asks, refusing work as overloaded", async () => {
    await page.getByLabel("Pause while this tab is hidden").check();
    const setVisibility = (state: string) =>
      page.evaluate((value) => {
        const doc = (globalThis as unknown as { document: { dispatchEvent(event: unknown): void } }).document;
        Object.defineProperty(doc, "visibilityState", { value, configurable: true });
        doc.dispatchEvent(new (globalThis as unknown as { Event: new (type: string) => unknown }).Event("visibilitychange"));
      }, state);
    await setVisibility("hidden");
    const paused = await waitForStatus(page, (status) => status.phase === "paused", { what: "the hidden tab to pause" });
    assert.equal(paused.detail, "the tab is hidden");
    await assert.rejects(
      generateInPage(page, "completion", { model: MODEL, prompt: "Once", maxTokens: 5, ...sampling }),
      /not taking requests: the tab is hidden/,
    );
    await setVisibility("visible");
    await waitForStatus(page, (status) => status.phase === "serving", { what: "the visible tab to serve again" });
    await page.getByLabel("Pause while this tab is hidden").uncheck();
  });

  it("protects the identity with a passphrase the contributor sets, asked for after a reload", async () => {
    const before = await waitForStatus(page, (status) => status.phase === "serving");
    await page.getByLabel("New passphrase", { exact: false }).fill("correct horse battery");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("Protected by your passphrase").waitFor();
    await page.reload();
    await page.getByRole("button", { name: "Unlock" }).waitFor();
    assert.equal(await pageStatus(page), null, "nothing runs before the identity is unlocked");
    await page.getByLabel("Passphrase", { exact: true }).fill("wrong horse");
    await page.getByRole("button", { name: "Unlock" }).click();
    await page.getByText("Wrong passphrase — try again").waitFor();
    await page.getByLabel("Passphrase", { exact: true }).fill("correct horse battery");
    await page.getByRole("button", { name: "Unlock" }).click();
    const after = await waitForStatus(page, (status) => status.phase === "serving", { what: "the unlocked tab to serve" });
    assert.equal(after.peerId, before.peerId, "the same identity comes back");
    assert.equal(await page.getByRole("button", { name: "Unlock" }).isVisible(), false);
  });
});
