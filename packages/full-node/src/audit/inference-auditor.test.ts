import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { ChatBody, InferencePayload, InferenceReceipt, InferenceRequest, Usage } from "@opengateway/protocol";
import { createInferenceRequest, generateIdentity } from "@opengateway/protocol";
import { LlamaCppEngine } from "../llama-cpp-engine.js";
import type { AuditVerdict } from "./audit-verdict.js";
import type { DeliveredChoice } from "./inference-auditor.js";
import { InferenceAuditor } from "./inference-auditor.js";

const MODEL_PATH =
  process.env.OPENGATEWAY_TEST_MODEL ?? fileURLToPath(new URL("../../../../../shared/models/stories260K.gguf", import.meta.url));
const MODEL = "stories260K";
const payer = generateIdentity();

const chat = (content: string, overrides: Partial<ChatBody> = {}): InferencePayload => ({
  kind: "chat",
  body: { messages: [{ role: "user", content }], maxTokens: 48, temperature: 1, topP: 1, seed: 1, stop: [], ...overrides },
});

interface Served {
  request: InferenceRequest;
  choices: DeliveredChoice[];
  usage: Usage;
}

describe("InferenceAuditor on the real test model", () => {
  let engine: LlamaCppEngine;
  let auditor: InferenceAuditor;

  before(async () => {
    assert.ok(existsSync(MODEL_PATH), `test model missing at ${MODEL_PATH}; set OPENGATEWAY_TEST_MODEL`);
    // Served on two threads, audited on one with small batches: the arithmetic differs as on other hardware.
    engine = await LlamaCppEngine.load({ modelPath: MODEL_PATH, threads: 2, parallelRequests: 1 });
    auditor = await InferenceAuditor.load({ modelPath: MODEL_PATH, threads: 1, batchSize: 7 });
  });
  after(async () => {
    await auditor?.close();
    await engine?.close();
  });

  async function serve(payload: InferencePayload, generated: InferencePayload = payload): Promise<Served> {
    const request = createInferenceRequest(
      { ...payload, model: MODEL, maxCredits: 1_000_000, provider: payer.id, pricePerToken: 1 },
      payer,
    );
    const texts: string[] = [];
    const events =
      generated.kind === "chat"
        ? engine.generateChat({ model: MODEL, ...generated.body })
        : engine.generateCompletion({
            model: MODEL,
            ...(generated.body as Extract<InferencePayload, { kind: "completion" }>["body"]),
          });
    for await (const event of events) {
      if (event.type === "text") texts[event.index] = (texts[event.index] ?? "") + event.text;
      else if (event.type === "done") {
        return {
          request,
          usage: event.usage,
          choices: event.choices.map((choice) => ({ ...choice, text: texts[choice.index] ?? "" })),
        };
      }
    }
    throw new Error("no done event");
  }

  const receipt = (served: Served, usage = served.usage): InferenceReceipt => ({
    v: 1,
    requestId: served.request.id,
    requestHash: "",
    payer: served.request.payer,
    provider: served.request.payer,
    model: MODEL,
    usage,
    credits: 0,
    finishReason: served.choices[0]?.finishReason ?? "stop",
    issuedAt: 0,
    sig: "",
  });

  const audit = (served: Served, choices = served.choices, usage = served.usage): Promise<AuditVerdict> =>
    auditor.audit({ request: served.request, delivered: { choices }, receipt: receipt(served, usage) });

  const failedWith = (verdict: AuditVerdict, code: string) => {
    assert.equal(verdict.outcome, "fail", JSON.stringify(verdict.choices));
    assert.ok(
      verdict.reasons.some((reason) => reason.code === code),
      `expected ${code}, got ${JSON.stringify(verdict.reasons)}`,
    );
  };

  it("passes honest answers: greedy, sampled over seeds, top-p, stop strings, n = 2, raw completions", async () => {
    const payloads: InferencePayload[] = [
      chat("Once upon a time", { temperature: 0 }),
      ...[1, 2, 3, 4, 5, 6].map((seed) => chat("The little dog", { seed, maxTokens: 96 })),
      chat("Lily and Tom went to the park", { temperature: 0.7, topP: 0.9, stop: ["."] }),
      chat("One day, a big bird", { temperature: 1.2, n: 2 }),
      {
        kind: "completion",
        body: { prompt: "Tim had a red ball.", maxTokens: 64, temperature: 0.8, topP: 0.95, seed: 9, stop: [] },
      },
    ];
    for (const payload of payloads) {
      const served = await serve(payload);
      const verdict = await audit(served);
      assert.equal(verdict.outcome, "pass", `${JSON.stringify(payload.body)}: ${JSON.stringify(verdict.reasons)}`);
      assert.equal(verdict.choices.length, (payload.body as ChatBody).n ?? 1);
      assert.ok(verdict.cost.evaluatedTokens > 0);
    }
  });

  it("fails random text, a replayed answer to another prompt and an answer padded with foreign text", async () => {
    const served = await serve(chat("The little dog", { seed: 3, maxTokens: 96 }));
    const other = await serve(chat("Tim had a red ball.", { seed: 4, maxTokens: 96 }));
    const words = "tree sky red jump the car blue said fish happy a house ran".split(" ");
    const random = Array.from({ length: 40 }, (_, i) => words[(i * 7) % words.length]).join(" ");
    const asText = (text: string) => served.choices.map((choice) => ({ ...choice, text }));
    failedWith(await audit(served, asText(random)), "token-outside-sampling-set");
    const replayed = await audit(served, other.choices, other.usage);
    assert.equal(replayed.outcome, "fail", JSON.stringify(replayed.choices));
    const padded = await audit(served, asText(`${served.choices[0]?.text} ${other.choices[0]?.text}`));
    failedWith(padded, "exceeds-max-tokens");
  });

  it("fails text sampled hotter than requested, or claimed greedy when it was sampled", async () => {
    const claimed = chat("The little dog", { seed: 5, maxTokens: 128, temperature: 0.5 });
    const hotter = await serve(claimed, chat("The little dog", { seed: 5, maxTokens: 128, temperature: 1.6 }));
    const verdict = await audit(hotter);
    assert.equal(verdict.outcome, "fail", JSON.stringify(verdict.choices));
    const greedy = await serve(
      chat("Once upon a time", { temperature: 0 }),
      chat("Once upon a time", { temperature: 1, seed: 2 }),
    );
    failedWith(await audit(greedy), "token-outside-sampling-set");
  });

  it("fails an answer cut short and claimed to have stopped", async () => {
    const served = await serve(chat("Once upon a time", { temperature: 0, maxTokens: 64 }));
    const text = served.choices[0]?.text ?? "";
    const cut = text.slice(0, text.indexOf(" ", text.length / 2));
    failedWith(await audit(served, [{ index: 0, text: cut, finishReason: "stop" }]), "implausible-stop");
  });

  it("fails a receipt that inflates usage", async () => {
    const served = await serve(chat("The little dog", { seed: 8 }));
    failedWith(
      await audit(served, served.choices, { ...served.usage, completionTokens: served.usage.completionTokens + 20 }),
      "completion-usage-mismatch",
    );
    failedWith(await audit(served, served.choices, { ...served.usage, completionTokens: 1240 }), "completion-usage-mismatch");
    failedWith(
      await audit(served, served.choices, { ...served.usage, promptTokens: served.usage.promptTokens + 5 }),
      "prompt-usage-mismatch",
    );
  });

  it("says what it cannot audit instead of judging it", async () => {
    const served = await serve(chat("The little dog", { logitBias: { "100": 5 } }));
    const verdict = await audit(served);
    assert.equal(verdict.outcome, "unauditable");
    assert.equal(verdict.reasons[0]?.code, "unsupported-request");
    const foreign = createInferenceRequest(
      { ...chat("Hi"), model: "another-model", maxCredits: 10, provider: payer.id, pricePerToken: 1 },
      payer,
    );
    const mismatch = await auditor.audit({ request: foreign, delivered: { choices: [] } });
    assert.equal(mismatch.outcome, "unauditable");
    await assert.rejects(auditor.audit({ ...served, delivered: { choices: served.choices } }, { signal: AbortSignal.abort() }));
  });
});
