import type { AbortOptions, ComponentLogger, Libp2p, PeerId, Startable, Stream } from "@libp2p/interface";
import { serviceDependencies } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import type { AuditBlock, LedgerBlock } from "@opengateway/ledger";
import { ledgerBlockHash, REPUTATION_START } from "@opengateway/ledger";
import type { LedgerReplica, LedgerReplicaComponents } from "@opengateway/p2p";
import { ADVERT_TOPIC, componentLogger, requestInference } from "@opengateway/p2p";
import type { DeliveredChoice, Identity, InferenceReceipt, InferenceRequest, Logger } from "@opengateway/protocol";
import {
  capabilityAdvertSchema,
  createInferenceRequest,
  deliveredOutputHash,
  utf8Decode,
  verifyCapabilityAdvert,
} from "@opengateway/protocol";
import type { AuditVerdict } from "./audit-verdict.js";
import {
  DEFAULT_AUDIT_TICK_MS,
  DEFAULT_MAX_PROBE_PRICE_PER_TOKEN,
  DEFAULT_PROBE_INTERVAL_MS,
  MAX_QUEUED_REVIEWS,
  PROBE_TIMEOUT_MS,
  REVIEW_PASS_SHARE,
} from "./constants.js";
import type { InferenceAuditor } from "./inference-auditor.js";
import { probePayload } from "./probe-prompts.js";

export interface AuditServiceInit {
  identity: Identity;
  /** Opens the auditor on the node's own model file (loaded after the node started, in the background). */
  openAuditor: (options: { signal: AbortSignal }) => Promise<InferenceAuditor>;
  /** Mean interval between probes to one provider at reputation 500 (see DEFAULT_PROBE_INTERVAL_MS). */
  probeIntervalMs?: number;
  tickMs?: number;
  maxProbePricePerToken?: number;
  /** Share of others' passed audits re-checked here. */
  reviewPassShare?: number;
  /** Numbers in [0, 1): Math.random unless a test seeds it. */
  random?: () => number;
  /** Each verdict this node wrote or review it made (for logs and tests). */
  onVerdict?: (event: AuditEvent) => void;
  logger?: Logger;
}

export type AuditEvent =
  | { readonly type: "probe"; readonly provider: string; readonly outcome: AuditVerdict["outcome"]; readonly reasons: string[] }
  | { readonly type: "probe-failed"; readonly provider: string; readonly error: string }
  | { readonly type: "review"; readonly audit: string; readonly provider: string; readonly agrees: boolean };

export interface AuditServiceComponents {
  ledger: LedgerReplica;
  pubsub: LedgerReplicaComponents["pubsub"];
  peerId: PeerId;
  logger: ComponentLogger;
  peerStore: { merge(peer: PeerId, data: { multiaddrs: ReturnType<typeof multiaddr>[] }): Promise<unknown> };
  connectionManager: { openStream(peer: PeerId, protocol: string, options?: AbortOptions): Promise<Stream> };
}

interface KnownProvider {
  pricePerToken: number;
  expiresAt: number;
  nextProbeAt: number;
}

/** Where a probe's interval lands for a reputation: (score + 100) / 600 of the mean, so low scores are probed more. */
export function probeIntervalFor(score: number, meanMs: number): number {
  return Math.floor((meanMs * (Math.max(0, score) + 100)) / (REPUTATION_START + 100));
}

/**
 * The network's checks of the work, run by every full node that holds a model, on the other
 * providers of that model (docs/proof-system.md):
 * - challenge probes: ordinary-looking signed, paid requests from this node's own account, more
 *   often the lower a provider's reputation, each re-checked with the `InferenceAuditor` and its
 *   verdict written to the ledger with the evidence (request, receipt, delivered output);
 * - reviews: every failed audit others write on this model (and a share of the passed ones) is
 *   re-checked on this node's own copy, and the node writes whether it agrees.
 * Probes are paid like any request (a provider must not tell them apart by an unpaid receipt);
 * a claim for a probe that was never delivered is disputed.
 */
export class AuditService implements Startable {
  readonly #components: AuditServiceComponents;
  readonly #init: AuditServiceInit;
  readonly #logger: Logger;
  readonly #providers = new Map<string, KnownProvider>();
  readonly #reviews: AuditBlock[] = [];
  /** Requests this node probed and paid: a claim for any other of its requests is disputed. */
  readonly #settled = new Set<string>();
  #controller = new AbortController();
  #auditor: InferenceAuditor | undefined;
  #loop: Promise<void> = Promise.resolve();
  #unsubscribe: (() => void) | undefined;
  #probes = 0;
  #reviewsDone = 0;

  constructor(components: AuditServiceComponents, init: AuditServiceInit) {
    this.#components = components;
    this.#init = init;
    this.#logger = init.logger ?? componentLogger(components.logger, "opengateway:audits");
  }

  readonly [Symbol.toStringTag] = "@opengateway/audits";
  readonly [serviceDependencies] = ["@opengateway/ledger-replica"];

  /** Probes sent and reviews written since the node started. */
  get counts(): { probes: number; reviews: number } {
    return { probes: this.#probes, reviews: this.#reviewsDone };
  }

  async start(): Promise<void> {}

  async afterStart(): Promise<void> {
    const controller = new AbortController();
    this.#controller = controller;
    this.#components.pubsub.subscribe(ADVERT_TOPIC);
    this.#components.pubsub.addEventListener("message", this.#onMessage);
    const ledger = this.#components.ledger.ledger;
    this.#unsubscribe = ledger.onApplied((block) => this.#onBlock(block));
    this.#loop = this.#run(controller.signal).catch((error: unknown) => {
      if (!controller.signal.aborted) this.#logger.warn({ err: error }, "audits stopped");
    });
  }

  async beforeStop(): Promise<void> {
    this.#controller.abort();
    this.#components.pubsub.removeEventListener("message", this.#onMessage);
    this.#unsubscribe?.();
    await this.#loop;
    await this.#auditor?.close();
    this.#auditor = undefined;
  }

  async stop(): Promise<void> {}

  readonly #onMessage = (event: CustomEvent<{ topic: string; data: Uint8Array }>): void => {
    if (event.detail.topic !== ADVERT_TOPIC || this.#auditor === undefined) return;
    try {
      const advert = capabilityAdvertSchema.parse(JSON.parse(utf8Decode(event.detail.data)));
      verifyCapabilityAdvert(advert);
      if (advert.peer === this.#init.identity.id) return;
      const model = advert.capabilities.models.find((candidate) => candidate.id === this.#auditor?.modelId);
      if (model === undefined || !model.kinds.includes("chat")) return;
      const known = this.#providers.get(advert.peer);
      const first = Date.now() + this.#jitter(this.#intervalFor(advert.peer));
      this.#providers.set(advert.peer, {
        pricePerToken: model.pricePerToken,
        expiresAt: advert.expiresAt,
        nextProbeAt: known?.nextProbeAt ?? first,
      });
      const multiaddrs = advert.addresses.flatMap((address) => {
        try {
          return [multiaddr(address)];
        } catch {
          return [];
        }
      });
      void this.#components.peerStore.merge(peerIdFromString(advert.peer), { multiaddrs }).catch(() => {});
    } catch (error) {
      this.#logger.debug({ err: error }, "advert ignored by audits");
    }
  };

  #onBlock(block: LedgerBlock): void {
    const me = this.#init.identity.id;
    if (block.kind === "claim" && block.receipt.payer === me && !this.#settled.has(block.receipt.requestId)) {
      // A claim for a probe this node never received (it failed): dispute it, or the debt locks the account out.
      void this.#components.ledger.writer
        .append(this.#init.identity, (ledger) =>
          ledger.settlement(me, block.receipt.requestId, block.account) === undefined
            ? { kind: "dispute", claim: ledgerBlockHash(block) }
            : null,
        )
        .catch((error: unknown) => this.#logger.debug({ err: error }, "could not dispute a probe's claim"));
      return;
    }
    if (block.kind !== "audit" || block.account === me || block.request.provider === me) return;
    if (block.request.model !== this.#auditor?.modelId) return;
    if (block.outcome === "pass" && this.#random() >= (this.#init.reviewPassShare ?? REVIEW_PASS_SHARE)) return;
    if (this.#reviews.length >= MAX_QUEUED_REVIEWS) this.#reviews.shift();
    this.#reviews.push(block);
  }

  async #run(signal: AbortSignal): Promise<void> {
    this.#auditor = await this.#init.openAuditor({ signal });
    if (signal.aborted) return;
    const tick = this.#init.tickMs ?? DEFAULT_AUDIT_TICK_MS;
    await this.#components.ledger.writer.ready;
    while (!signal.aborted) {
      // Reviews first: a report waiting for confirmation decides whether fraud is marked.
      const review = this.#reviews.shift();
      if (review !== undefined) {
        await this.#review(review, signal).catch((error: unknown) => {
          if (!signal.aborted) this.#logger.debug({ err: error }, "review failed");
        });
        continue;
      }
      const due = this.#dueProvider();
      if (due !== undefined) {
        await this.#probe(due, signal).catch((error: unknown) => {
          if (!signal.aborted) this.#logger.debug({ err: error }, "probe failed");
        });
        continue;
      }
      await sleep(tick, signal);
    }
  }

  #dueProvider(): string | undefined {
    const now = Date.now();
    for (const [peer, known] of this.#providers) {
      if (known.expiresAt < now) {
        this.#providers.delete(peer);
        continue;
      }
      if (known.nextProbeAt <= now) {
        known.nextProbeAt = now + this.#jitter(this.#intervalFor(peer));
        if (known.pricePerToken <= (this.#init.maxProbePricePerToken ?? DEFAULT_MAX_PROBE_PRICE_PER_TOKEN)) return peer;
      }
    }
    return undefined;
  }

  /**
   * Every node holding the model probes each of its providers, so each one spreads its probes over
   * the providers it knows: across the network a provider is probed about once per mean interval
   * (at 500), however many auditors there are.
   */
  #intervalFor(peer: string): number {
    const score = this.#components.ledger.ledger.reputation(peer).score;
    const mean = (this.#init.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS) * Math.max(1, this.#providers.size);
    return probeIntervalFor(score, mean);
  }

  /** Between half and one and a half times the interval: probes come at no predictable time. */
  #jitter(intervalMs: number): number {
    return Math.floor(intervalMs / 2 + this.#random() * intervalMs);
  }

  #random(): number {
    return (this.#init.random ?? Math.random)();
  }

  async #probe(provider: string, signal: AbortSignal): Promise<void> {
    const auditor = this.#auditor;
    const known = this.#providers.get(provider);
    if (auditor === undefined || known === undefined) return;
    const { identity } = this.#init;
    const ledger = this.#components.ledger.ledger;
    // A probe needs what any request needs: a registered, solvent account.
    if (!ledger.account(identity.id).opened || ledger.account(identity.id).spendable < ledger.params.minRequestCredits) return;
    const payload = probePayload(() => this.#random());
    const maxTokens = payload.body.maxTokens;
    const request = createInferenceRequest(
      {
        ...payload,
        model: auditor.modelId,
        provider,
        pricePerToken: known.pricePerToken,
        // Room for the prompt and the answer at the advertised price, as a client's router allows.
        maxCredits: Math.ceil((maxTokens + auditor.contextSize) * known.pricePerToken),
      },
      identity,
    );
    this.#probes++;
    const texts = new Map<number, string>();
    let receipt: InferenceReceipt | undefined;
    let delivered: DeliveredChoice[] = [];
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]);
    const node = {
      dialProtocol: (peer: PeerId, protocol: string, options?: AbortOptions) =>
        this.#components.connectionManager.openStream(peer, protocol, options),
    } as unknown as Pick<Libp2p, "dialProtocol">;
    try {
      for await (const frame of requestInference(node, peerIdFromString(provider), request, {
        signal: timeout,
        onPartialReceipt: (partial) => void this.#settle(partial),
      })) {
        if (frame.t === "delta") texts.set(frame.index, (texts.get(frame.index) ?? "") + frame.text);
        else if (frame.t === "done") {
          receipt = frame.receipt;
          delivered = frame.choices.map((choice) => ({
            index: choice.index,
            text: texts.get(choice.index) ?? "",
            finishReason: choice.finishReason,
          }));
        }
      }
    } catch (error) {
      // Failed service (an error, a receipt the payer refuses) is routing's business, not an audit verdict.
      this.#init.onVerdict?.({ type: "probe-failed", provider, error: error instanceof Error ? error.message : String(error) });
      return;
    }
    if (receipt === undefined) return;
    // Paid like any request: an unpaid receipt would tell the provider which requests were probes.
    await this.#settle(receipt);
    const verdict = await auditor.audit(
      { request, delivered: { choices: delivered }, receipt, pricePerToken: known.pricePerToken },
      { signal },
    );
    const reasons = [...new Set(verdict.reasons.map((reason) => reason.code as string))];
    if (receipt.output === undefined) reasons.push("uncommitted-output");
    const outcome = reasons.length === 0 ? "pass" : verdict.outcome === "unauditable" ? "unauditable" : "fail";
    this.#init.onVerdict?.({ type: "probe", provider, outcome, reasons });
    if (outcome === "unauditable") return;
    if (receipt.output !== undefined && receipt.output !== deliveredOutputHash(delivered)) {
      // The provider signed other text than it sent: no verdict the ledger would accept (it checks the commitment).
      this.#logger.warn({ provider }, "a provider's receipt commits to other text than it delivered");
      return;
    }
    await this.#write(request, receipt, delivered, outcome, reasons, signal);
  }

  async #write(
    request: InferenceRequest,
    receipt: InferenceReceipt,
    delivered: DeliveredChoice[],
    outcome: "pass" | "fail",
    reasons: string[],
    signal: AbortSignal,
  ): Promise<void> {
    await this.#components.ledger.writer.append(
      this.#init.identity,
      { kind: "audit", outcome, reasons: outcome === "pass" ? [] : reasons.slice(0, 16), request, receipt, delivered },
      { signal },
    );
  }

  async #settle(receipt: InferenceReceipt): Promise<void> {
    this.#settled.add(receipt.requestId);
    await this.#components.ledger.writer
      .append(this.#init.identity, (ledger) =>
        ledger.settlement(receipt.payer, receipt.requestId, receipt.provider) === undefined ? { kind: "settle", receipt } : null,
      )
      .catch((error: unknown) => this.#logger.debug({ err: error }, "could not settle a probe"));
  }

  /** Re-checks another auditor's verdict on this node's own copy of the model, and says whether it agrees. */
  async #review(audit: AuditBlock, signal: AbortSignal): Promise<void> {
    const auditor = this.#auditor;
    if (auditor === undefined) return;
    const hash = ledgerBlockHash(audit);
    const me = this.#init.identity.id;
    if (this.#components.ledger.ledger.state.audits.reviews.has(`${hash}\n${me}`)) return;
    const verdict = await auditor.audit(
      {
        request: audit.request,
        delivered: { choices: audit.delivered },
        receipt: audit.receipt,
        pricePerToken: audit.request.pricePerToken,
      },
      { signal },
    );
    if (verdict.outcome === "unauditable") return;
    // Agreement is on the outcome; on a fail the reasons may differ in detail (one proof is enough).
    const mine = verdict.outcome === "pass" && audit.receipt.output !== undefined ? "pass" : "fail";
    const agrees = mine === audit.outcome;
    await this.#components.ledger.writer.append(this.#init.identity, { kind: "review", audit: hash, agrees }, { signal });
    this.#reviewsDone++;
    this.#init.onVerdict?.({ type: "review", audit: hash, provider: audit.request.provider, agrees });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The audit service as a libp2p service factory (after the ledger replica, which it reads and writes). */
export function auditService(init: AuditServiceInit): (components: AuditServiceComponents) => AuditService {
  return (components) => new AuditService(components, init);
}
