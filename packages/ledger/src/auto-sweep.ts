import type { Identity, Logger } from "@opengateway/protocol";
import { errorClass, isIdentityId, silentLogger } from "@opengateway/protocol";
import type { ChainWriter } from "./chain-writer.js";
import { DEFAULT_SWEEP_INTERVAL_MS } from "./constants.js";
import type { LedgerBlock } from "./ledger-block.js";

/** Keep `above` credits; move whatever this account can transfer beyond that to `to`. */
export interface SweepRule {
  /** The identity that receives the sweeps (any region or cluster: the ledger is one). */
  to: string;
  /** Credits the account keeps. */
  above: number;
  /** Smallest amount worth a block (default 1). */
  minAmount?: number;
}

export interface AutoSweepOptions {
  intervalMs?: number;
  /** Where a sweep that could not be written is reported (the rule tries again on its next check). */
  logger?: Logger;
  /** Every `send` block the rule wrote. */
  onSweep?: (block: Extract<LedgerBlock, { kind: "send" }>) => void;
}

export class InvalidSweepRuleError extends errorClass(
  "InvalidSweepRuleError",
  "invalid_sweep_rule",
  (message: string) => message,
) {}

/** Checks a rule from a command line or a config file before anything is signed with it. */
export function validateSweepRule(rule: SweepRule, owner: string): SweepRule {
  if (!isIdentityId(rule.to)) throw new InvalidSweepRuleError(`sweep target '${rule.to}' is not an identity id`);
  if (rule.to === owner) throw new InvalidSweepRuleError("an account cannot sweep to itself");
  if (!Number.isSafeInteger(rule.above) || rule.above < 0) {
    throw new InvalidSweepRuleError(`sweep threshold must be a whole number of credits ≥ 0, not ${rule.above}`);
  }
  const minAmount = rule.minAmount ?? 1;
  if (!Number.isSafeInteger(minAmount) || minAmount < 1) {
    throw new InvalidSweepRuleError(`sweep minimum must be a whole number of credits ≥ 1, not ${minAmount}`);
  }
  return { to: rule.to, above: rule.above, minAmount };
}

/**
 * An automatic transfer rule: whenever the account holds more than `above` credits it may
 * transfer, it sends the excess to `to` (e.g. a node's earnings swept to its owner's wallet,
 * which collects them with `wallet receive`). The amount is decided inside the chain writer's
 * turn, so it never races the account's other blocks.
 */
export class AutoSweep {
  readonly rule: SweepRule;
  readonly #writer: ChainWriter;
  readonly #identity: Identity;
  readonly #options: AutoSweepOptions;
  readonly #logger: Logger;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;
  #swept = 0;
  #stopped = false;

  constructor(writer: ChainWriter, identity: Identity, rule: SweepRule, options: AutoSweepOptions = {}) {
    this.rule = validateSweepRule(rule, identity.id);
    this.#writer = writer;
    this.#identity = identity;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Credits sent by this rule so far. */
  get swept(): number {
    return this.#swept;
  }

  start(): void {
    this.#timer = setInterval(() => void this.sweep(), this.#options.intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One check; sends at most one block; none once stopped. */
  sweep(): Promise<void> {
    if (this.#stopped) return this.#running ?? Promise.resolve();
    this.#running ??= this.#sweepOnce().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #sweepOnce(): Promise<void> {
    const { to, above, minAmount = 1 } = this.rule;
    try {
      const block = await this.#writer.append(this.#identity, (ledger) => {
        const account = ledger.account(this.#identity.id);
        if (!account.opened) return null;
        // Ids carry no checksum: credits sent to an account nobody opened could never be received.
        if (!ledger.account(to).opened) {
          const err = new InvalidSweepRuleError(`sweep target ${to} has no account on the ledger yet: not sweeping`);
          this.#logger.warn({ err }, "not sweeping");
          return null;
        }
        const amount = Math.min(account.transferable, account.balance - above);
        return amount >= minAmount ? { kind: "send", to, amount } : null;
      });
      if (block?.kind !== "send") return;
      this.#swept += block.amount;
      this.#options.onSweep?.(block);
    } catch (error) {
      this.#logger.warn({ err: error }, "sweep failed");
    }
  }
}
