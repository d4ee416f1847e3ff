import type { IceServer } from "@opengateway/p2p";
import { errorClass } from "@opengateway/protocol";
import type { ModelOffer } from "./engines/model-offer.js";
import type { TabLedgerConfig } from "./tab-ledger.js";

/**
 * What the contributor page needs to know, from a `config.json` served next to it (the gateway
 * and full nodes write one; anyone hosting the static files can too), overridden by URL query
 * parameters: `bootstrap`, `model` (a GGUF URL), `ice` (a STUN/TURN URL), each repeatable, and
 * `region`, `autostart=1`, `db`.
 */
export interface PageConfig {
  bootstrap: string[];
  models: ModelOffer[];
  iceServers: IceServer[];
  region?: string | null;
  localNetwork?: boolean;
  /** Start contributing without waiting for the button (a kiosk, or a test). */
  autostart?: boolean;
  databaseName?: string;
  /**
   * The network's ledger parameters (the gateway sends its own): the tab keeps a ledger, registers
   * and collects its earnings. Absent or null: no ledger.
   */
  ledger?: TabLedgerConfig | null;
}

/**
 * `config.json` as a server writes it (`@opengateway/browser-node/server`, or anyone hosting the
 * page): a model may be named by its URL alone, its id then being the file name.
 */
export type PageConfigJson = Omit<PageConfig, "models"> & { models: Array<Omit<ModelOffer, "id"> & { id?: string }> };

/** The ledger's own bound on the parameter (`ledgerParams`). */
const MAX_REGISTRATION_DIFFICULTY_BITS = 64;

export class InvalidPageConfigError extends errorClass(
  "InvalidPageConfigError",
  "invalid_page_config",
  (message: string) => message,
) {}

export async function loadPageConfig(options: { pageUrl: string; signal?: AbortSignal }): Promise<PageConfig> {
  const response = await fetch(new URL("config.json", options.pageUrl), { signal: options.signal, cache: "no-store" });
  // No config.json is fine: the query string (or nothing at all) configures the page.
  const fromFile = response.ok ? parsePageConfig(await response.json()) : emptyConfig();
  return withQueryOverrides(fromFile, new URL(options.pageUrl).searchParams);
}

function emptyConfig(): PageConfig {
  return { bootstrap: [], models: [], iceServers: [] };
}

/** Validates a config object (config.json's content, a `PageConfigJson`). */
export function parsePageConfig(value: unknown): PageConfig {
  if (!isRecord(value)) throw new InvalidPageConfigError("config.json must hold an object");
  const config = emptyConfig();
  if (value.bootstrap !== undefined) config.bootstrap = stringArray(value.bootstrap, "bootstrap");
  if (value.models !== undefined) {
    if (!Array.isArray(value.models)) throw new InvalidPageConfigError("models must be a list");
    config.models = value.models.map((model, index) => modelOffer(model, `models[${index}]`));
  }
  if (value.iceServers !== undefined) {
    if (!Array.isArray(value.iceServers)) throw new InvalidPageConfigError("iceServers must be a list");
    config.iceServers = value.iceServers.map((server, index) => iceServer(server, `iceServers[${index}]`));
  }
  if (value.region !== undefined) {
    if (value.region !== null && typeof value.region !== "string") throw new InvalidPageConfigError("region must be a string");
    config.region = value.region;
  }
  if (value.localNetwork !== undefined) config.localNetwork = value.localNetwork === true;
  if (value.autostart !== undefined) config.autostart = value.autostart === true;
  if (value.databaseName !== undefined) {
    if (typeof value.databaseName !== "string") throw new InvalidPageConfigError("databaseName must be a string");
    config.databaseName = value.databaseName;
  }
  if (value.ledger !== undefined) config.ledger = value.ledger === null ? null : ledgerConfig(value.ledger);
  return config;
}

function ledgerConfig(value: unknown): TabLedgerConfig {
  if (!isRecord(value)) throw new InvalidPageConfigError("ledger must be an object or null");
  const bits = value.registrationDifficultyBits;
  if (typeof bits !== "number" || !Number.isInteger(bits) || bits < 0 || bits > MAX_REGISTRATION_DIFFICULTY_BITS) {
    throw new InvalidPageConfigError(
      `ledger.registrationDifficultyBits must be an integer from 0 to ${MAX_REGISTRATION_DIFFICULTY_BITS}`,
    );
  }
  if (typeof value.perAccountGrant !== "boolean")
    throw new InvalidPageConfigError("ledger.perAccountGrant must be true or false");
  if (value.paymentChecks !== undefined && typeof value.paymentChecks !== "boolean")
    throw new InvalidPageConfigError("ledger.paymentChecks must be true or false");
  const memory = value.registrationMemoryKiB;
  if (memory !== undefined && (typeof memory !== "number" || !Number.isInteger(memory) || memory < 0 || memory > 4 * 1024 * 1024))
    throw new InvalidPageConfigError("ledger.registrationMemoryKiB must be an integer from 0 to 4194304");
  if (value.lockedCreditsTravel !== undefined && typeof value.lockedCreditsTravel !== "boolean")
    throw new InvalidPageConfigError("ledger.lockedCreditsTravel must be true or false");
  // Payment checks stay on unless a private network's operator turns them off.
  return {
    registrationDifficultyBits: bits,
    ...(memory !== undefined && { registrationMemoryKiB: memory }),
    perAccountGrant: value.perAccountGrant,
    ...(value.paymentChecks === false ? { paymentChecks: false } : {}),
    // The network's rule (a devnet turns it off); the tab's ledger must apply blocks as its nodes do.
    ...(value.lockedCreditsTravel === false ? { lockedCreditsTravel: false } : {}),
  };
}

function withQueryOverrides(config: PageConfig, query: URLSearchParams): PageConfig {
  const result = { ...config };
  const bootstrap = query.getAll("bootstrap").flatMap(splitList);
  if (bootstrap.length > 0) result.bootstrap = bootstrap;
  const models = query.getAll("model").flatMap(splitList);
  if (models.length > 0) result.models = models.map((url) => ({ id: modelIdFromUrl(url), url }));
  const ice = query.getAll("ice").flatMap(splitList);
  if (ice.length > 0) result.iceServers = ice.map((urls) => ({ urls }));
  const region = query.get("region");
  if (region !== null) result.region = region === "" ? null : region;
  if (query.get("autostart") === "1") result.autostart = true;
  const db = query.get("db");
  if (db) result.databaseName = db;
  return result;
}

/** The id full nodes serve a GGUF file under: its file name without `.gguf`. */
export function modelIdFromUrl(url: string): string {
  const name = decodeURIComponent(new URL(url, "http://localhost/").pathname.split("/").pop() ?? "");
  return name.replace(/\.gguf$/i, "") || "model";
}

function modelOffer(value: unknown, where: string): ModelOffer {
  if (!isRecord(value)) throw new InvalidPageConfigError(`${where} must be an object`);
  const url = optionalString(value.url, `${where}.url`);
  const id = optionalString(value.id, `${where}.id`) ?? (url ? modelIdFromUrl(url) : undefined);
  if (id === undefined) throw new InvalidPageConfigError(`${where} needs an id or a url`);
  const offer: ModelOffer = { id };
  if (url !== undefined) offer.url = url;
  for (const key of ["sizeBytes", "contextSize", "pricePerToken"] as const) {
    const number = value[key];
    if (number === undefined) continue;
    if (typeof number !== "number" || !Number.isFinite(number) || number < 0) {
      throw new InvalidPageConfigError(`${where}.${key} must be a non-negative number`);
    }
    offer[key] = number;
  }
  if (value.webllm !== undefined) {
    const webllm = value.webllm;
    if (!isRecord(webllm) || !isRecord(webllm.record) || typeof webllm.record.model_id !== "string") {
      throw new InvalidPageConfigError(`${where}.webllm must hold a WebLLM model record`);
    }
    offer.webllm = { record: webllm.record as unknown as NonNullable<ModelOffer["webllm"]>["record"] };
  }
  return offer;
}

function iceServer(value: unknown, where: string): IceServer {
  if (!isRecord(value)) throw new InvalidPageConfigError(`${where} must be an object`);
  const urls = typeof value.urls === "string" ? value.urls : stringArray(value.urls, `${where}.urls`);
  const server: IceServer = { urls };
  const username = optionalString(value.username, `${where}.username`);
  const credential = optionalString(value.credential, `${where}.credential`);
  if (username !== undefined) server.username = username;
  if (credential !== undefined) server.credential = credential;
  return server;
}

function stringArray(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw new InvalidPageConfigError(`${where} must be a list of strings`);
  }
  return value as string[];
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new InvalidPageConfigError(`${where} must be a string`);
  return value;
}

function splitList(value: string): string[] {
  return value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
