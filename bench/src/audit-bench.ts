/**
 * Audit benchmark (issue #12). Serves honest requests with the node-llama-cpp engine, forges the
 * cheats a provider could deliver instead, and audits every answer with an InferenceAuditor on
 * the same model. Prints, side by side in one run:
 *   - false positives over N honest requests (served on 1 and 2 threads, audited with batch
 *     sizes 512 and 7, so the auditor's arithmetic never matches the server's exactly),
 *   - the detection rate per cheat kind,
 *   - the audit's cost per request relative to generating it, and the network share at the
 *     stated sample rate,
 *   - the extremes of the statistics the thresholds in packages/full-node/src/audit/constants.ts
 *     were chosen from.
 * The two cores are shared: serving and auditing run one after the other, never at once.
 */
import type { AuditVerdict, DeliveredChoice } from "@opengateway/full-node";
import { InferenceAuditor, LlamaCppEngine } from "@opengateway/full-node";
import type {
  ChatBody,
  CompletionBody,
  InferencePayload,
  InferenceReceipt,
  InferenceRequest,
  Usage,
} from "@opengateway/protocol";
import { createInferenceRequest, generateIdentity } from "@opengateway/protocol";
import { seededRandom } from "@opengateway/protocol/test-support/seeded-random";
import { BENCH_MODEL_PATH } from "./bench-workload.js";

const modelPath = BENCH_MODEL_PATH;
const HONEST_REQUESTS = Number(process.env.BENCH_AUDIT_REQUESTS ?? 100);
/** The share of served requests the network re-checks: the cost figure is stated at this rate. */
const SAMPLE_RATE = Number(process.env.BENCH_AUDIT_SAMPLE_RATE ?? 0.05);
const MODEL = "stories260K";
const PROMPTS = [
  "Once upon a time",
  "The little dog",
  "Lily and Tom went to the park",
  "One day, a big bird",
  "Tim had a red ball.",
  "The sun was hot and the cat",
];
const WORDS = "the a big red cat sun ran happy mom tree ball bird sky jump blue dog house car fish play said went saw".split(" ");

type Cheat = "random" | "other-model" | "hotter" | "truncated" | "padded" | "replayed" | "inflated-usage";
const CHEATS: Cheat[] = ["random", "other-model", "hotter", "truncated", "padded", "replayed", "inflated-usage"];

interface Served {
  payload: InferencePayload;
  choices: DeliveredChoice[];
  usage: Usage;
  ms: number;
}

async function serve(engine: LlamaCppEngine, payload: InferencePayload): Promise<Served> {
  const start = performance.now();
  const texts: string[] = [];
  const events =
    payload.kind === "chat"
      ? engine.generateChat({ model: MODEL, ...payload.body })
      : engine.generateCompletion({ model: MODEL, ...(payload.body as CompletionBody) });
  for await (const event of events) {
    if (event.type === "text") texts[event.index] = (texts[event.index] ?? "") + event.text;
    else if (event.type === "done") {
      const choices = event.choices.map((choice) => ({ ...choice, text: texts[choice.index] ?? "" }));
      return { payload, choices, usage: event.usage, ms: performance.now() - start };
    }
  }
  throw new Error("the engine ended without a done event");
}

function honestPayload(i: number, rand: () => number): InferencePayload {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(rand() * values.length)] as T;
  const sampling = {
    maxTokens: pick([16, 48, 128]),
    temperature: pick([0, 0.5, 0.8, 1, 1.3]),
    topP: pick([1, 1, 0.95, 0.9, 0.5]),
    seed: 10_000 + i,
    stop: rand() < 0.2 ? ["."] : [],
    n: rand() < 0.1 ? 2 : undefined,
  };
  const prompt = pick(PROMPTS);
  return rand() < 0.3
    ? { kind: "completion", body: { prompt, ...sampling } }
    : { kind: "chat", body: { messages: [{ role: "user", content: prompt }], ...sampling } };
}

function receiptFor(request: InferenceRequest, served: Served, usage = served.usage): InferenceReceipt {
  return {
    v: 1,
    requestId: request.id,
    requestHash: "",
    payer: request.payer,
    provider: request.payer,
    model: MODEL,
    usage,
    credits: 0,
    finishReason: served.choices[0]?.finishReason ?? "stop",
    issuedAt: Date.now(),
    sig: "",
  };
}

const randomWords = (count: number, rand: () => number) =>
  Array.from({ length: count }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(" ");

/** Forges what a cheating provider would deliver for `served` instead of the honest answer. */
async function forge(
  cheat: Cheat,
  served: Served,
  other: Served,
  engine: LlamaCppEngine,
  rand: () => number,
): Promise<{ choices: DeliveredChoice[]; usage: Usage } | undefined> {
  const body = served.payload.body as ChatBody | CompletionBody;
  const withText = (text: (choice: DeliveredChoice) => string, finishReason?: "stop" | "length") =>
    served.choices.map((choice) => ({ ...choice, text: text(choice), finishReason: finishReason ?? choice.finishReason }));
  switch (cheat) {
    case "random":
      return { choices: withText((choice) => randomWords(Math.max(3, choice.text.length / 5), rand)), usage: served.usage };
    case "other-model": {
      // Same vocabulary, another distribution: the model with a random bias on 300 tokens, as a
      // cheaper or different model would sample (a second GGUF is not available).
      const logitBias: Record<string, number> = {};
      for (let k = 0; k < 300; k++) logitBias[String(Math.floor(rand() * 512))] = (rand() - 0.5) * 6;
      const forged = await serve(engine, { ...served.payload, body: { ...body, logitBias } } as InferencePayload);
      return { choices: forged.choices, usage: forged.usage };
    }
    case "hotter": {
      const forged = await serve(engine, {
        ...served.payload,
        body: { ...body, temperature: body.temperature * 1.5 + 0.6, topP: 1 },
      } as InferencePayload);
      return { choices: forged.choices, usage: forged.usage };
    }
    case "truncated": {
      if (served.choices.every((choice) => choice.text.length < 8)) return undefined;
      return {
        choices: withText(
          (choice) => choice.text.slice(0, Math.max(1, Math.floor(choice.text.length * (0.3 + rand() * 0.4)))),
          "stop",
        ),
        usage: served.usage,
      };
    }
    case "padded":
      return { choices: withText((choice) => `${choice.text} ${other.choices[0]?.text ?? ""}`), usage: served.usage };
    case "replayed": {
      if (other.choices.length !== served.choices.length) return undefined;
      return { choices: other.choices, usage: other.usage };
    }
    case "inflated-usage":
      return {
        choices: served.choices,
        usage: { ...served.usage, completionTokens: served.usage.completionTokens + Math.max(8, served.usage.completionTokens) },
      };
  }
}

async function main(): Promise<void> {
  const payer = generateIdentity();
  const engines = [
    await LlamaCppEngine.load({ modelPath, threads: 1, parallelRequests: 1 }),
    await LlamaCppEngine.load({ modelPath, threads: 2, parallelRequests: 1 }),
  ];
  const auditors = [
    await InferenceAuditor.load({ modelPath, threads: 1, batchSize: 512 }),
    await InferenceAuditor.load({ modelPath, threads: 1, batchSize: 7 }),
  ];
  const rand = seededRandom(12);
  const honest: Array<{ served: Served; request: InferenceRequest; verdict: AuditVerdict }> = [];
  let generationMs = 0;
  let auditMs = 0;
  let generatedTokens = 0;
  let evaluatedTokens = 0;
  for (let i = 0; i < HONEST_REQUESTS; i++) {
    const payload = honestPayload(i, rand);
    const served = await serve(engines[i % 2] as LlamaCppEngine, payload);
    const request = createInferenceRequest(
      { ...payload, model: MODEL, maxCredits: 1_000_000, provider: payer.id, pricePerToken: 1 },
      payer,
    );
    const verdict = await (auditors[(i >> 1) % 2] as InferenceAuditor).audit({
      request,
      delivered: { choices: served.choices },
      receipt: receiptFor(request, served),
    });
    generationMs += served.ms;
    auditMs += verdict.cost.ms;
    generatedTokens += served.usage.promptTokens + served.usage.completionTokens;
    evaluatedTokens += verdict.cost.evaluatedTokens;
    honest.push({ served, request, verdict });
    if (verdict.outcome !== "pass")
      console.log(`false positive on request ${i}:`, JSON.stringify(verdict.reasons), JSON.stringify(payload));
  }
  // Tallied apart for short answers (under 32 tokens), where a few tokens carry little evidence.
  const detected = new Map(CHEATS.map((cheat) => [cheat, { caught: 0, tried: 0, shortCaught: 0, shortTried: 0 }]));
  for (const [i, { served, request }] of honest.entries()) {
    // Another request's answer, to a different prompt, stands in for a cached or foreign answer.
    const other = honest.find((candidate, j) => j > i && promptOf(candidate.served) !== promptOf(served)) ?? honest[0];
    if (other === undefined) continue;
    for (const cheat of CHEATS) {
      const forged = await forge(cheat, served, other.served, engines[0] as LlamaCppEngine, rand);
      // A forgery that delivers the honest answer is no cheat (a greedy answer the bias did not move).
      if (forged === undefined || (cheat !== "inflated-usage" && sameTexts(forged.choices, served.choices))) continue;
      const verdict = await (auditors[i % 2] as InferenceAuditor).audit({
        request,
        delivered: { choices: forged.choices },
        receipt: receiptFor(request, served, forged.usage),
      });
      const tally = detected.get(cheat) as { caught: number; tried: number; shortCaught: number; shortTried: number };
      const caught = verdict.outcome === "fail" ? 1 : 0;
      if (served.usage.completionTokens < 32) {
        tally.shortTried++;
        tally.shortCaught += caught;
      } else {
        tally.tried++;
        tally.caught += caught;
      }
    }
  }
  const figures = honest.flatMap(({ verdict, served }) =>
    verdict.choices.map((choice) => ({ choice, temperature: (served.payload.body as ChatBody).temperature })),
  );
  const sampled = figures.filter(({ choice, temperature }) => temperature > 0 && choice.tokens >= 8);
  const greedy = figures.filter(({ temperature }) => temperature === 0);
  const falsePositives = honest.filter(({ verdict }) => verdict.outcome !== "pass").length;
  const costRatio = auditMs / generationMs;
  console.log(`\nAudit benchmark on ${modelPath}`);
  console.log(`honest requests: ${honest.length}, false positives: ${falsePositives}`);
  console.log(
    `  smallest log-prob bound: ${Math.min(...sampled.map(({ choice }) => choice.logProbBound)).toExponential(1)}, smallest rank bound: ${Math.min(...sampled.map(({ choice }) => choice.rankBound)).toExponential(1)}, smallest tail bound: ${Math.min(...sampled.map(({ choice }) => choice.tailBound)).toExponential(1)} (fail below 1e-6); largest greedy gap: ${Math.max(0, ...greedy.map(({ choice }) => choice.maxArgmaxGap)).toExponential(2)}`,
  );
  console.log(
    `  choices re-split: ${figures.filter(({ choice }) => choice.resplits > 0).length} of ${figures.length}; misfit tokens left: ${figures.reduce((total, { choice }) => total + choice.misfits, 0)}`,
  );
  console.log("detection per cheat kind (answers of 32+ tokens | shorter ones):");
  const rate = (caught: number, tried: number) => `${caught}/${tried} (${((100 * caught) / Math.max(1, tried)).toFixed(1)}%)`;
  for (const [cheat, { caught, tried, shortCaught, shortTried }] of detected) {
    console.log(`  ${cheat.padEnd(15)} ${rate(caught, tried).padEnd(16)} | ${rate(shortCaught, shortTried)}`);
  }
  console.log(
    `cost: audit ${auditMs.toFixed(0)} ms vs generation ${generationMs.toFixed(0)} ms = ${(100 * costRatio).toFixed(1)}% of a request's inference time; tokens evaluated ${evaluatedTokens} vs ${generatedTokens} metered`,
  );
  console.log(
    `at a sample rate of ${(100 * SAMPLE_RATE).toFixed(0)}%, re-checking costs ${(100 * SAMPLE_RATE * costRatio).toFixed(2)}% of the network's inference work (goal ≤ 5%)`,
  );
  for (const auditor of auditors) await auditor.close();
  for (const engine of engines) await engine.close();
}

const sameTexts = (a: readonly DeliveredChoice[], b: readonly DeliveredChoice[]) =>
  a.length === b.length && a.every((choice, i) => choice.text === b[i]?.text);

function promptOf(served: Served): string {
  return served.payload.kind === "chat"
    ? JSON.stringify((served.payload.body as ChatBody).messages)
    : (served.payload.body as CompletionBody).prompt;
}

await main();
