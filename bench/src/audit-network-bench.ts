/**
 * Audit network simulation (issue #12): the proof system's rules at network scale, in one
 * process, in simulated seconds. 100+ providers of one model, some cheating; paid traffic from a
 * gateway routed by reputation to fake fixed-speed engines (no generation: only the token counts
 * matter); challenge probes at the audit service's rates (probeIntervalFor, each provider probed
 * about once per mean interval across the network), answered by the real model (honest and
 * inflated-usage providers) or random words, re-checked by the real InferenceAuditor; failed
 * verdicts reviewed by another honest auditor, also on the real model. Everything lands as signed
 * blocks in a real Ledger, whose reputation decides routing. Prints:
 *   - the share of cheaters below the paid-work threshold before they served 100 paid requests,
 *   - honest providers marked as fraud or pushed below the threshold, over the honest probes audited,
 *   - the audit cost (probe generation + the auditors' evaluated tokens) as a share of all inference work,
 *   - the simulated time from a cheater's first fraudulent answer to its fraud mark.
 * BENCH_SIM_SECONDS (default 600), BENCH_SIM_PROVIDERS (120), BENCH_SIM_CHEATERS (20).
 */
import type { DeliveredChoice } from "@opengateway/full-node";
import { InferenceAuditor, LlamaCppEngine, probeIntervalFor, probePayload } from "@opengateway/full-node";
import type { LedgerBlock, LedgerBlockBody } from "@opengateway/ledger";
import {
  BlockAuthor,
  Ledger,
  ledgerBlockHash,
  machineFingerprintHash,
  REPUTATION_PAID_WORK_THRESHOLD,
} from "@opengateway/ledger";
import type { Identity, InferenceReceipt, InferenceRequest } from "@opengateway/protocol";
import { createInferenceReceipt, createInferenceRequest, deliveredOutputHash, generateIdentity } from "@opengateway/protocol";
import { seededRandom } from "@opengateway/protocol/test-support/seeded-random";
import { BENCH_MODEL_PATH } from "./bench-workload.js";

const SECONDS = Number(process.env.BENCH_SIM_SECONDS ?? 600);
const PROVIDERS = Number(process.env.BENCH_SIM_PROVIDERS ?? 120);
const CHEATERS = Number(process.env.BENCH_SIM_CHEATERS ?? 20);
/** Paid requests per simulated second through the gateway, and what each costs in tokens. */
const TRAFFIC_PER_SECOND = 20;
const TRAFFIC_TOKENS = 30 + 24;
/** The audit service's default: each provider probed about once per this across the network, at 500. */
const PROBE_INTERVAL_S = 20;
const MODEL = "stories260K";
const WORDS = "the a big red cat sun ran happy mom tree ball bird sky jump blue dog".split(" ");

type Kind = "honest" | "random-text" | "inflated-usage";
interface Provider {
  identity: Identity;
  author: BlockAuthor;
  kind: Kind;
  /** Tokens per second: cheaters that skip the work look fast. */
  speed: number;
  nextProbeAt: number;
  served: number;
  /** Paid requests served before it fell below the threshold (cheaters). */
  servedBeforeDrop: number | null;
  firstFraudAt: number | null;
  fraudAt: number | null;
}

const random = seededRandom(12);
const ledger = new Ledger({ params: { registrationDifficultyBits: 0, grantCredits: 1e12, grantLockMs: 0 } });
const add = (block: LedgerBlock, now: number) => {
  const result = ledger.add(block, { now });
  if (result.status !== "applied") throw new Error(`${block.kind} not applied: ${result.error?.message}`);
};
const append = (author: BlockAuthor, body: LedgerBlockBody, now: number) => add(author.append(body, now), now);

const engine = await LlamaCppEngine.load({ modelPath: BENCH_MODEL_PATH, threads: 1, parallelRequests: 1 });
const auditor = await InferenceAuditor.load({ modelPath: BENCH_MODEL_PATH, threads: 1 });
const started = performance.now();
const T0 = Date.now();
const gateway = generateIdentity();
const gatewayAuthor = new BlockAuthor(gateway);
const open = (identity: Identity, author: BlockAuthor) =>
  append(author, { kind: "open", fingerprint: machineFingerprintHash({ bench: identity.id }), powNonce: 0 }, T0);
open(gateway, gatewayAuthor);
const providers: Provider[] = Array.from({ length: PROVIDERS }, (_, i) => {
  const identity = generateIdentity();
  const kind: Kind = i < CHEATERS ? (i % 2 === 0 ? "random-text" : "inflated-usage") : "honest";
  const author = new BlockAuthor(identity);
  open(identity, author);
  return {
    identity,
    author,
    kind,
    speed: kind === "random-text" ? 5_000 : 200 + Math.floor(random() * 200),
    nextProbeAt: Math.floor(random() * PROBE_INTERVAL_S),
    served: 0,
    servedBeforeDrop: null,
    firstFraudAt: null,
    fraudAt: null,
  };
});
const honest = providers.filter((p) => p.kind === "honest");

let trafficTokens = 0;
let probeTokens = 0;
let auditTokens = 0;
let honestAudits = 0;
let cheaterAudits = 0;
let reviews = 0;

/** Serves a probe as the provider would: the real model, with the cheat applied. */
async function answer(
  provider: Provider,
  request: InferenceRequest,
): Promise<{ receipt: InferenceReceipt; delivered: DeliveredChoice[] }> {
  if (request.kind !== "chat") throw new Error("probes are chat requests");
  const body = request.body;
  let delivered: DeliveredChoice[];
  let usage: { promptTokens: number; completionTokens: number };
  if (provider.kind === "random-text") {
    const text = Array.from({ length: body.maxTokens }, () => ` ${WORDS[Math.floor(random() * WORDS.length)]}`).join("");
    delivered = [{ index: 0, text, finishReason: "length" }];
    usage = { promptTokens: 20, completionTokens: body.maxTokens };
  } else {
    let text = "";
    let done:
      | { choices: readonly { index: number; finishReason: "stop" | "length" | "tool_calls" }[]; usage: typeof usage }
      | undefined;
    for await (const event of engine.generateChat({ model: MODEL, ...body })) {
      if (event.type === "text") text += event.text;
      else if (event.type === "done") done = event;
    }
    if (!done) throw new Error("no answer");
    delivered = [{ index: 0, text, finishReason: done.choices[0]?.finishReason ?? "stop" }];
    usage =
      provider.kind === "inflated-usage"
        ? { promptTokens: done.usage.promptTokens + 20, completionTokens: body.maxTokens }
        : done.usage;
  }
  probeTokens += usage.promptTokens + usage.completionTokens;
  const credits = usage.promptTokens + usage.completionTokens;
  const receipt = createInferenceReceipt(
    { request, usage, credits, finishReason: delivered[0]?.finishReason ?? "stop", output: deliveredOutputHash(delivered) },
    provider.identity,
  );
  return { receipt, delivered };
}

for (let second = 0; second < SECONDS; second++) {
  const now = T0 + second * 1000;
  const scores = new Map(providers.map((p) => [p.identity.id, ledger.reputation(p.identity.id)]));
  // Paid traffic: eligible providers, weighted by speed (a fast cheater is what routers prefer).
  const eligible = providers.filter((p) => (scores.get(p.identity.id)?.score ?? 0) >= REPUTATION_PAID_WORK_THRESHOLD);
  const totalSpeed = eligible.reduce((sum, p) => sum + p.speed, 0);
  for (let r = 0; r < TRAFFIC_PER_SECOND && eligible.length > 0; r++) {
    let pick = random() * totalSpeed;
    const provider =
      eligible.find((p) => {
        pick -= p.speed;
        return pick < 0;
      }) ?? (eligible[0] as Provider);
    provider.served++;
    trafficTokens += TRAFFIC_TOKENS;
    const request = createInferenceRequest(
      {
        kind: "chat",
        model: MODEL,
        body: {
          messages: [{ role: "user", content: "Once upon a time" }],
          maxTokens: 24,
          temperature: 1,
          topP: 1,
          seed: 1,
          stop: [],
        },
        provider: provider.identity.id,
        pricePerToken: 1,
        maxCredits: 1_000,
        now,
      },
      gateway,
    );
    const receipt = createInferenceReceipt(
      { request, usage: { promptTokens: 30, completionTokens: 24 }, credits: TRAFFIC_TOKENS, finishReason: "length", now },
      provider.identity,
    );
    append(gatewayAuthor, { kind: "settle", receipt }, now);
  }
  for (const p of providers) {
    if (p.kind !== "honest" && p.servedBeforeDrop === null && !(scores.get(p.identity.id)?.eligible ?? true)) {
      p.servedBeforeDrop = p.served;
    }
  }
  // Probes due this second: a random honest auditor (not the provider) sends each.
  for (const provider of providers) {
    if (provider.nextProbeAt > second || scores.get(provider.identity.id)?.audits.fraud) continue;
    const interval = probeIntervalFor(scores.get(provider.identity.id)?.score ?? 500, PROBE_INTERVAL_S * 1000) / 1000;
    provider.nextProbeAt = second + Math.max(1, Math.round(interval * (0.5 + random())));
    const auditors = honest.filter((a) => a !== provider);
    const prober = auditors[Math.floor(random() * auditors.length)] as Provider;
    const request = createInferenceRequest(
      { ...probePayload(random), model: MODEL, provider: provider.identity.id, pricePerToken: 1, maxCredits: 5_000, now },
      prober.identity,
    );
    const { receipt, delivered } = await answer(provider, request);
    append(prober.author, { kind: "settle", receipt }, now);
    const verdict = await auditor.audit({ request, delivered: { choices: delivered }, receipt, pricePerToken: 1 });
    auditTokens += verdict.cost.evaluatedTokens;
    if (provider.kind === "honest") honestAudits++;
    else {
      cheaterAudits++;
      provider.firstFraudAt ??= second;
    }
    if (verdict.outcome === "unauditable") continue;
    const reasons = [...new Set(verdict.reasons.map((reason) => reason.code as string))];
    const outcome = verdict.outcome;
    const audit = prober.author.append(
      { kind: "audit", outcome, reasons: outcome === "pass" ? [] : reasons, request, receipt, delivered },
      now,
    );
    add(audit, now);
    // Every fail is re-checked by another honest node on its own copy (here: the same auditor code).
    if (outcome === "fail") {
      const reviewers = auditors.filter((a) => a !== prober);
      const reviewer = reviewers[Math.floor(random() * reviewers.length)] as Provider;
      const again = await auditor.audit({ request, delivered: { choices: delivered }, receipt, pricePerToken: 1 });
      auditTokens += again.cost.evaluatedTokens;
      reviews++;
      append(reviewer.author, { kind: "review", audit: ledgerBlockHash(audit), agrees: again.outcome === "fail" }, now);
    }
  }
  for (const p of providers) {
    if (p.fraudAt === null && ledger.reputation(p.identity.id).audits.fraud) p.fraudAt = second;
  }
}

const cheaters = providers.filter((p) => p.kind !== "honest");
const caught = cheaters.filter((p) => p.servedBeforeDrop !== null && p.servedBeforeDrop <= 100).length;
const honestMarked = honest.filter((p) => ledger.reputation(p.identity.id).audits.fraud).length;
const honestBelow = honest.filter((p) => !ledger.reputation(p.identity.id).eligible).length;
const toSlash = cheaters.flatMap((p) => (p.fraudAt !== null && p.firstFraudAt !== null ? [p.fraudAt - p.firstFraudAt] : []));
toSlash.sort((a, b) => a - b);
const totals = ledger.totals();
const capacity = providers.reduce((sum, p) => sum + (p.kind === "random-text" ? 300 : p.speed), 0);
console.log(
  JSON.stringify(
    {
      simulatedSeconds: SECONDS,
      providers: PROVIDERS,
      cheaters: CHEATERS,
      trafficRequests: SECONDS * TRAFFIC_PER_SECOND,
      cheatersCaughtWithin100Requests: `${caught}/${cheaters.length}`,
      requestsServedByCheatersBeforeDrop: cheaters.map((p) => p.servedBeforeDrop),
      cheatersMarkedFraud: cheaters.filter((p) => p.fraudAt !== null).length,
      honestAuditedRequests: honestAudits,
      cheaterAuditedRequests: cheaterAudits,
      reviews,
      honestMarkedFraud: honestMarked,
      honestBelowThreshold: honestBelow,
      // Against the simulated traffic (light: about 20 requests a second for the whole network), and
      // against what the providers could serve at their fixed speeds in the same time.
      auditCostShareOfTraffic: Number(((probeTokens + auditTokens) / (trafficTokens + probeTokens + auditTokens)).toFixed(4)),
      auditCostShareOfCapacity: Number(((probeTokens + auditTokens) / (capacity * SECONDS)).toFixed(4)),
      simulatedSecondsFirstFraudToMark: { median: toSlash[Math.floor(toSlash.length / 2)] ?? null, max: toSlash.at(-1) ?? null },
      conservation: totals.minted === totals.balances + totals.inFlight + totals.burned,
      wallSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    },
    null,
    2,
  ),
);
await auditor.close();
await engine.close();
