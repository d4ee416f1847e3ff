// Shared builders for the ledger tests.
import type { ChatBody, DeliveredChoice, Identity, InferenceReceipt, InferenceRequest } from "@opengateway/protocol";
import { createInferenceReceipt, createInferenceRequest, deliveredOutputHash, identityFromSeed } from "@opengateway/protocol";
import { sampleChatBody } from "@opengateway/protocol/test-support/sample-chat-body";
import { BlockAuthor } from "../block-author.js";
import type { EvidenceBlock, LedgerBlock } from "../ledger-block.js";
import type { LedgerParams } from "../ledger-params.js";
import { ledgerParams } from "../ledger-params.js";
import type { ChainPosition } from "../ledger-state.js";
import { machineFingerprintHash } from "../machine-fingerprint.js";
import { verifyRegistrationPow } from "../registration-pow.js";

export const T0 = 1_700_000_000_000;
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const TEST_DIFFICULTY_BITS = 6;
/** A month after T0: every time lock the fixtures create has passed. */
export const NOW = T0 + 30 * DAY;

export function testParams(overrides: Partial<LedgerParams> = {}): LedgerParams {
  // The SHA-256 puzzle keeps the hundreds of opens the tests sign fast (registration-pow.test covers Argon2id).
  return ledgerParams({ registrationDifficultyBits: TEST_DIFFICULTY_BITS, registrationMemoryKiB: 0, ...overrides });
}

const identities = new Map<number, Identity>();

/** The same identity for the same number, in every test file. */
export function testIdentity(n: number): Identity {
  let identity = identities.get(n);
  if (identity === undefined) {
    const seed = new Uint8Array(32);
    seed[0] = n & 0xff;
    seed[1] = (n >>> 8) & 0xff;
    seed[31] = 0x5a;
    identity = identityFromSeed(seed);
    identities.set(n, identity);
  }
  return identity;
}

export function testFingerprint(label: string | number): string {
  return machineFingerprintHash({ machine: String(label) });
}

const nonces = new Map<string, number>();

/** Smallest valid nonce, found synchronously (test difficulties take a few dozen hashes). */
export function powNonce(identity: Identity, fingerprint: string, difficultyBits = TEST_DIFFICULTY_BITS): number {
  const key = `${identity.id}/${fingerprint}/${difficultyBits}`;
  let nonce = nonces.get(key);
  if (nonce === undefined) {
    nonce = 0;
    while (!verifyRegistrationPow({ publicKey: identity.publicKey, fingerprintHash: fingerprint, difficultyBits, nonce }))
      nonce++;
    nonces.set(key, nonce);
  }
  return nonce;
}

/** The first nonce that does not solve the puzzle. */
export function badPowNonce(identity: Identity, fingerprint: string, difficultyBits = TEST_DIFFICULTY_BITS): number {
  let nonce = 0;
  while (verifyRegistrationPow({ publicKey: identity.publicKey, fingerprintHash: fingerprint, difficultyBits, nonce })) nonce++;
  return nonce;
}

/** One account's wallet in tests: signs its chain's blocks in order. */
export class TestAccount {
  readonly identity: Identity;
  author: BlockAuthor;

  constructor(identity: Identity, position?: ChainPosition) {
    this.identity = identity;
    this.author = new BlockAuthor(identity, position);
  }

  get id(): string {
    return this.identity.id;
  }

  open(fingerprint: string, timestamp = T0, difficultyBits = TEST_DIFFICULTY_BITS): LedgerBlock {
    return this.author.append(
      { kind: "open", fingerprint, powNonce: powNonce(this.identity, fingerprint, difficultyBits) },
      timestamp,
    );
  }

  send(to: string, amount: number, timestamp = T0): LedgerBlock {
    return this.author.append({ kind: "send", to, amount }, timestamp);
  }

  receive(source: string, timestamp = T0): LedgerBlock {
    return this.author.append({ kind: "receive", source }, timestamp);
  }

  settle(receipt: InferenceReceipt, timestamp = T0): LedgerBlock {
    return this.author.append({ kind: "settle", receipt }, timestamp);
  }

  earn(source: string, timestamp = T0): LedgerBlock {
    return this.author.append({ kind: "earn", source }, timestamp);
  }

  claim(request: InferenceRequest, receipt: InferenceReceipt, timestamp = T0): LedgerBlock {
    return this.author.append({ kind: "claim", request, receipt }, timestamp);
  }

  dispute(claim: string, timestamp = T0): LedgerBlock {
    return this.author.append({ kind: "dispute", claim }, timestamp);
  }

  slash(evidence: [EvidenceBlock, EvidenceBlock], timestamp = T0): LedgerBlock {
    return this.author.append({ kind: "slash", evidence }, timestamp);
  }

  /** A time witness's statement; entries are sorted by open hash here. */
  witness(opens: ReadonlyArray<{ open: string; seenAt: number }>, timestamp = T0): LedgerBlock {
    const sorted = [...opens].sort((a, b) => (a.open < b.open ? -1 : 1));
    return this.author.append({ kind: "witness", opens: sorted }, timestamp);
  }

  /** A verdict on `request` (paid by this account) and the provider's receipt; `delivered` defaults to one stopped choice. */
  audit(
    request: InferenceRequest,
    receipt: InferenceReceipt,
    verdict: { outcome: "pass" | "fail"; reasons?: string[]; delivered?: DeliveredChoice[] },
    timestamp = T0,
  ): LedgerBlock {
    const delivered = verdict.delivered ?? TEST_DELIVERED;
    return this.author.append(
      { kind: "audit", outcome: verdict.outcome, reasons: verdict.reasons ?? [], request, receipt, delivered },
      timestamp,
    );
  }

  review(audit: string, agrees: boolean, timestamp = T0): LedgerBlock {
    return this.author.append({ kind: "review", audit, agrees }, timestamp);
  }

  /** A second author at the current position: its blocks compete with this account's next ones. */
  fork(): TestAccount {
    const twin = new TestAccount(this.identity);
    twin.author = this.author.fork();
    return twin;
  }
}

/** A fresh wallet for `testIdentity(n)`, at the start of its chain unless a position is given. */
export function testAccount(n: number, position?: ChainPosition): TestAccount {
  return new TestAccount(testIdentity(n), position);
}

// Room for any test's charge as completion tokens at 1 credit each (receipts in claims must be honest).
const BODY: ChatBody = { ...sampleChatBody, maxTokens: 131_072 };

export function testRequest(
  payer: Identity,
  options: { id?: string; maxCredits?: number; now?: number; ttlMs?: number; provider?: Identity } = {},
): InferenceRequest {
  return createInferenceRequest(
    {
      kind: "chat",
      model: "stories260K",
      body: BODY,
      // Requests are bound to one provider; a claim by anyone else is refused.
      provider: (options.provider ?? testIdentity(9_999)).id,
      pricePerToken: 1,
      maxCredits: options.maxCredits ?? 5_000,
      id: options.id,
      now: options.now ?? T0,
      ttlMs: options.ttlMs,
    },
    payer,
  );
}

/** The output audit fixtures deliver unless told otherwise. */
export const TEST_DELIVERED: DeliveredChoice[] = [{ index: 0, text: "Once upon a time", finishReason: "stop" }];

/** A receipt charging `credits` as completion tokens at the request's price of 1: honest while credits ≤ maxCredits. */
export function testReceipt(
  request: InferenceRequest,
  provider: Identity,
  credits: number,
  now = T0,
  finishReason: InferenceReceipt["finishReason"] = "stop",
  output?: readonly DeliveredChoice[],
): InferenceReceipt {
  return createInferenceReceipt(
    {
      request,
      usage: { promptTokens: 0, completionTokens: Math.min(credits, 10_000_000) },
      credits,
      finishReason,
      now,
      output: output === undefined ? undefined : deliveredOutputHash(output),
    },
    provider,
  );
}

/** A request from `payer` and `provider`'s receipt for `credits`, both signed at `options.now` (T0 by default). */
export function testSettlement(
  payer: Identity,
  provider: Identity,
  credits: number,
  options: { id?: string; maxCredits?: number; now?: number; ttlMs?: number; receiptAt?: number } = {},
): { request: InferenceRequest; receipt: InferenceReceipt } {
  const request = testRequest(payer, { ...options, provider });
  return { request, receipt: testReceipt(request, provider, credits, options.receiptAt ?? options.now ?? T0) };
}

/** Asserts the ledger invariants that must hold after any sequence of blocks. */
export function conservationHolds(totals: { minted: number; balances: number; inFlight: number; burned: number }): boolean {
  return totals.minted === totals.balances + totals.inFlight + totals.burned;
}
