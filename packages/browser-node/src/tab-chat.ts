import type { Libp2p } from "@libp2p/interface";
import type { NetworkServices, PaymentHooks, ProviderEntry } from "@opengateway/p2p";
import { InferenceRouter, NetworkWatcher, ProviderTable } from "@opengateway/p2p";
import type { ChatMessage, Identity, InferenceReceipt, Usage } from "@opengateway/protocol";
import { CancelledError, errorMessage, NoProviderError } from "@opengateway/protocol";
import type { TabLedger } from "./tab-ledger.js";

/** The most one chat-box message may cost, whatever price a provider advertises. */
const CHAT_MAX_CREDITS = 20_000;
/** Providers a tab keeps a direct connection to: a browser's connections are few and dear. */
const MAX_DIRECT_PROVIDERS = 8;

/** What the chat box needs of the tab's ledger to pay (a `TabLedger`). */
export type ChatPayer = Pick<TabLedger, "assertCanPay" | "reserve" | "settle" | "release">;

export interface ChatParams {
  messages: ChatMessage[];
  /** A model to ask for; defaults to any model a known provider serves for chat. */
  model?: string;
  maxTokens?: number;
  temperature?: number;
  signal?: AbortSignal;
}

export interface ChatResult {
  /** The provider that finished the answer. */
  provider: string;
  /** Every provider that served part of it, in order (several after a failover mid-stream). */
  providers: string[];
  model: string;
  text: string;
  usage: Usage;
  /** One receipt per provider that served a part. */
  receipts: InferenceReceipt[];
  /** What the receipts charge, in all. */
  credits: number;
  /** The receipts were settled on the tab's chain (false without a ledger, or when settling failed). */
  paid: boolean;
  /** Why settling failed; the provider will claim the receipt, a debt until the tab settles. */
  paymentError: string | null;
}

/**
 * The tab's chat box as a client of the network: the same provider table, network watcher and
 * router (with failover) as the SDK and the gateway, signed by the tab's identity and, with a
 * ledger, paid from its account.
 */
export class TabChat {
  readonly #libp2p: Libp2p<NetworkServices>;
  readonly #identity: Identity;
  readonly #table: ProviderTable;
  readonly #watcher: NetworkWatcher;

  /** `reputationOf`: providers' reputation from the tab's ledger (below the threshold: no paid work), as the SDK routes. */
  constructor(libp2p: Libp2p<NetworkServices>, identity: Identity, options: { reputationOf?: (peerId: string) => number } = {}) {
    this.#libp2p = libp2p;
    this.#identity = identity;
    this.#table = new ProviderTable({ reputationOf: options.reputationOf });
    this.#watcher = new NetworkWatcher(libp2p, this.#table, { maxDirectProviders: MAX_DIRECT_PROVIDERS });
  }

  start(): void {
    this.#watcher.start();
  }

  stop(): void {
    this.#watcher.stop();
  }

  /** Providers this tab knows of. */
  providers(): ProviderEntry[] {
    return this.#table.entries();
  }

  /**
   * Sends a chat request to the best provider this tab knows, failing over like any router. With
   * a ledger, `maxCredits` is reserved first (a tab that is not registered, owes claims or cannot
   * cover it gets a clear error before anything is sent), each provider's receipt is settled on
   * the tab's chain, and the reservation is released whatever happens. Yields the text as it streams.
   */
  async *chat(params: ChatParams, ledger: ChatPayer | undefined): AsyncGenerator<string, ChatResult, undefined> {
    // Fail before dialling anyone when the tab could not pay anyway.
    ledger?.assertCanPay();
    const model = params.model ?? this.#table.models().find((served) => served.kinds.includes("chat"))?.id;
    if (model === undefined) throw new NoProviderError("no known provider serves a model");
    let paymentError: string | null = null;
    const payments: PaymentHooks | undefined = ledger && {
      reserve: (_payer, id, maxCredits, expiresAt) => ledger.reserve({ id, maxCredits, expiresAt }),
      settle: async (_payer, receipt) => {
        await ledger.settle(receipt);
      },
      release: (id) => ledger.release(id),
    };
    // A router per chat: its payment hooks tell this chat whether its receipts were settled.
    const router = new InferenceRouter(this.#libp2p, this.#table, {
      region: null,
      payments,
      maxCreditsPerRequest: CHAT_MAX_CREDITS,
      onPaymentError: (error) => {
        paymentError = errorMessage(error);
      },
    });
    const body = {
      messages: params.messages,
      maxTokens: params.maxTokens ?? 128,
      temperature: params.temperature ?? 1,
      topP: 1,
      seed: crypto.getRandomValues(new Uint32Array(1))[0] ?? 0,
      stop: [],
    };
    let text = "";
    for await (const event of router.route(
      this.#identity,
      { kind: "chat", model, body, region: null },
      { signal: params.signal },
    )) {
      if (event.type === "delta") {
        text += event.text;
        yield event.text;
      } else if (event.type === "done") {
        return {
          provider: event.providers.at(-1) ?? "",
          providers: event.providers,
          model,
          text,
          usage: event.usage,
          receipts: event.receipts,
          credits: event.receipts.reduce((sum, receipt) => sum + receipt.credits, 0),
          paid: ledger !== undefined && paymentError === null,
          paymentError,
        };
      }
    }
    throw new CancelledError("the provider ended the stream without a result");
  }
}
