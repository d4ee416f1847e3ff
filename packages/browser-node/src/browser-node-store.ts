import type { Identity } from "@opengateway/protocol";
import { generateIdentity, identityFromSeed } from "@opengateway/protocol";
import type { DBSchema, IDBPDatabase } from "idb";
import { openDB } from "idb";
import type { SealedSeed, SeedProtection } from "./identity-vault.js";
import { createDeviceKey, openSealedSeed, sealWithDeviceKey, sealWithPassphrase } from "./identity-vault.js";

export const DEFAULT_DATABASE_NAME = "opengateway-browser-node";
const DATABASE_VERSION = 1;
const SELF = "self";

/** What the tab has done for the network (and spent on it), kept across reloads. */
export interface BrowserNodeCounters {
  requestsServed: number;
  requestsFailed: number;
  tokensServed: number;
  /** Sum of the credits on the receipts this tab signed. */
  creditsEarned: number;
  /** Sum of the credits on receipts for requests this tab sent (its chat box). */
  creditsSpent: number;
  lastServedAt: number | null;
}

export interface BrowserNodeSettings {
  /** Serve requests (the contributor pressed Start and not Pause). */
  contributing: boolean;
  maxConcurrentRequests: number;
  pauseWhenHidden: boolean;
}

export const DEFAULT_SETTINGS: BrowserNodeSettings = { contributing: false, maxConcurrentRequests: 1, pauseWhenHidden: false };
const ZERO_COUNTERS: BrowserNodeCounters = {
  requestsServed: 0,
  requestsFailed: 0,
  tokensServed: 0,
  creditsEarned: 0,
  creditsSpent: 0,
  lastServedAt: null,
};

interface BrowserNodeDatabase extends DBSchema {
  identity: { key: string; value: SealedSeed };
  /** Non-extractable CryptoKeys are stored as they are: IndexedDB keeps them opaque. */
  keys: { key: string; value: CryptoKey };
  counters: { key: string; value: BrowserNodeCounters };
  settings: { key: string; value: BrowserNodeSettings };
}

/** The tab's IndexedDB: its sealed identity, its counters and earnings, and its settings. */
export class BrowserNodeStore {
  readonly #db: IDBPDatabase<BrowserNodeDatabase>;

  private constructor(db: IDBPDatabase<BrowserNodeDatabase>) {
    this.#db = db;
  }

  static async open(name = DEFAULT_DATABASE_NAME): Promise<BrowserNodeStore> {
    const db = await openDB<BrowserNodeDatabase>(name, DATABASE_VERSION, {
      upgrade(database) {
        database.createObjectStore("identity");
        database.createObjectStore("keys");
        database.createObjectStore("counters");
        database.createObjectStore("settings");
      },
    });
    return new BrowserNodeStore(db);
  }

  /** How the stored identity is protected, or undefined before the first run. */
  async identityProtection(): Promise<SeedProtection | undefined> {
    return (await this.#db.get("identity", SELF))?.protection;
  }

  /**
   * The same identity every time: opened from its sealed seed, or created (and sealed with the
   * device key, or the passphrase if one is given) on the first run.
   */
  async loadOrCreateIdentity(options: { passphrase?: string } = {}): Promise<Identity> {
    const sealed = await this.#db.get("identity", SELF);
    if (sealed !== undefined) {
      const seed = await openSealedSeed(sealed, { deviceKey: await this.#db.get("keys", SELF), passphrase: options.passphrase });
      return identityFromSeed(seed);
    }
    const identity = generateIdentity();
    await this.protectIdentity(identity, options.passphrase ?? null);
    return identity;
  }

  /** Re-seals the identity: with a passphrase, or (null) with this browser's device key. */
  async protectIdentity(identity: Identity, passphrase: string | null): Promise<void> {
    if (passphrase !== null) {
      const sealed = await sealWithPassphrase(identity.seed, identity.id, passphrase);
      const tx = this.#db.transaction(["identity", "keys"], "readwrite");
      await Promise.all([tx.objectStore("identity").put(sealed, SELF), tx.objectStore("keys").delete(SELF), tx.done]);
      return;
    }
    const key = (await this.#db.get("keys", SELF)) ?? (await createDeviceKey());
    const sealed = await sealWithDeviceKey(identity.seed, identity.id, key);
    const tx = this.#db.transaction(["identity", "keys"], "readwrite");
    await Promise.all([tx.objectStore("keys").put(key, SELF), tx.objectStore("identity").put(sealed, SELF), tx.done]);
  }

  async counters(): Promise<BrowserNodeCounters> {
    return { ...ZERO_COUNTERS, ...(await this.#db.get("counters", SELF)) };
  }

  /** Adds to the counters in one transaction, so two tabs of one browser never lose an update. */
  async addToCounters(
    change: Partial<Omit<BrowserNodeCounters, "lastServedAt">> & { servedAt?: number },
  ): Promise<BrowserNodeCounters> {
    const tx = this.#db.transaction("counters", "readwrite");
    const current = { ...ZERO_COUNTERS, ...(await tx.store.get(SELF)) };
    const next: BrowserNodeCounters = {
      requestsServed: current.requestsServed + (change.requestsServed ?? 0),
      requestsFailed: current.requestsFailed + (change.requestsFailed ?? 0),
      tokensServed: current.tokensServed + (change.tokensServed ?? 0),
      creditsEarned: current.creditsEarned + (change.creditsEarned ?? 0),
      creditsSpent: current.creditsSpent + (change.creditsSpent ?? 0),
      lastServedAt: change.servedAt ?? current.lastServedAt,
    };
    await Promise.all([tx.store.put(next, SELF), tx.done]);
    return next;
  }

  async settings(): Promise<BrowserNodeSettings> {
    return { ...DEFAULT_SETTINGS, ...(await this.#db.get("settings", SELF)) };
  }

  async updateSettings(change: Partial<BrowserNodeSettings>): Promise<BrowserNodeSettings> {
    const tx = this.#db.transaction("settings", "readwrite");
    const next = { ...DEFAULT_SETTINGS, ...(await tx.store.get(SELF)), ...change };
    await Promise.all([tx.store.put(next, SELF), tx.done]);
    return next;
  }

  close(): void {
    this.#db.close();
  }
}
