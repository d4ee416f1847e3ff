import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { REGIONS } from "@opengateway/protocol";
import type { Command } from "commander";
import { z } from "zod";
import { InvalidConfigError } from "./cli-errors.js";

/** The config file in the data directory (`--home`, OPENGATEWAY_HOME, default ~/.opengateway). */
export const CONFIG_FILE = "config.json";

const multiaddr = z.string().startsWith("/", "a multiaddr starts with '/'");
const celsius = z.number().min(30).max(120);

/**
 * Every setting the config file may hold. A key is the camelCase name of the command-line flag it
 * stands for (`registrationDifficulty` is `--registration-difficulty`), and applies to every command
 * that has that flag; a flag given on the command line or its environment variable wins.
 */
export const CliConfigSchema = z
  .object({
    model: z.string().min(1),
    upstream: z.url(),
    alias: z.string().min(1),
    region: z.enum(REGIONS),
    bootstrap: z.array(multiaddr),
    listen: z.array(multiaddr),
    relay: z.boolean(),
    local: z.boolean(),
    /** Find peers on the LAN with mDNS (on unless false). */
    mdns: z.boolean(),
    threads: z.number().int().min(1),
    parallel: z.number().int().min(1),
    gpu: z.enum(["auto", "off"]),
    host: z.string().min(1),
    port: z.number().int().min(0).max(65_535),
    registrationDifficulty: z.number().int().min(0).max(64),
    /** Payment checks on served requests (on by default; false only for a private network). */
    paymentChecks: z.boolean(),
    sweepTo: z.string().min(1),
    sweepAbove: z.number().int().min(0),
    /** Above this temperature (°C) the node serves fewer requests at once. */
    thermalThrottleC: celsius,
    /** At or above this it takes no new requests until it has cooled below it (then throttled, then normal). */
    thermalPauseC: celsius,
    /** Files holding a temperature (millidegrees or degrees, as the kernel's thermal zones do) to watch instead of the system's sensors. */
    thermalSensor: z.array(z.string().min(1)),
    /** Per-region bootstrap peers (replaces the built-in list for the regions it names). */
    bootstrapPeers: z.partialRecord(z.enum(REGIONS), z.array(multiaddr)),
  })
  .partial()
  .strict();
export type CliConfig = z.infer<typeof CliConfigSchema>;
export type CliConfigKey = keyof CliConfig;
export const CONFIG_KEYS = Object.keys(CliConfigSchema.shape) as CliConfigKey[];

export function configPath(home: string): string {
  return join(home, CONFIG_FILE);
}

function isConfigKey(key: string): key is CliConfigKey {
  return (CONFIG_KEYS as string[]).includes(key);
}

/** One plain sentence for a zod failure: which key, what is wrong. */
function describeIssue(issue: z.core.$ZodIssue, where: string): string {
  if (issue.code === "unrecognized_keys") {
    return `${where}: '${issue.keys.join("', '")}' is not a setting (known: ${CONFIG_KEYS.join(", ")}).`;
  }
  const key = issue.path.join(".") || "the file";
  return `${where}: ${key} is invalid (${issue.message}).`;
}

/** The config file's settings; none when it does not exist. Refuses unknown keys and invalid values. */
export async function readCliConfig(home: string): Promise<CliConfig> {
  const path = configPath(home);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw error;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InvalidConfigError(`${path} is not valid JSON: fix it, or delete it and run 'opengateway setup' again.`);
  }
  const parsed = CliConfigSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidConfigError(describeIssue(parsed.error.issues[0] as z.core.$ZodIssue, path));
  return parsed.data;
}

/** Writes the settings (validated) atomically: a crash mid-write leaves the old file. */
export async function writeCliConfig(home: string, config: CliConfig): Promise<string> {
  const checked = CliConfigSchema.parse(config);
  const path = configPath(home);
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
  return path;
}

/**
 * A value typed on the command line, as the key wants it: JSON where it parses (numbers, booleans,
 * arrays, objects), a comma-separated list for list keys, else the text itself.
 */
export function parseConfigValue(key: string, text: string): CliConfig[CliConfigKey] {
  if (!isConfigKey(key)) throw new InvalidConfigError(`'${key}' is not a setting (known: ${CONFIG_KEYS.join(", ")}).`);
  const schema = CliConfigSchema.shape[key];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = text;
  }
  if (typeof value === "string" && schema.unwrap() instanceof z.ZodArray) value = text.split(",").map((part) => part.trim());
  // A number or boolean typed for a text setting stays text ("--alias 7").
  if (typeof value !== "string" && schema.unwrap() instanceof z.ZodString) value = text;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidConfigError(`${key} cannot be '${text}' (${parsed.error.issues[0]?.message}).`);
  return parsed.data;
}

export function assertConfigKey(key: string): CliConfigKey {
  if (!isConfigKey(key)) throw new InvalidConfigError(`'${key}' is not a setting (known: ${CONFIG_KEYS.join(", ")}).`);
  return key;
}

/**
 * Fills the options of the command about to run from the config file in its `--home`: every option
 * whose name is a setting and that neither the command line nor its environment variable set.
 */
export async function applyCliConfig(command: Command, defaultHome: string): Promise<void> {
  const home = (command.opts().home as string | undefined) ?? defaultHome;
  const config = await readCliConfig(home);
  for (const option of command.options) {
    const key = option.attributeName();
    if (!isConfigKey(key) || config[key] === undefined) continue;
    const source = command.getOptionValueSource(key);
    if (source !== undefined && source !== "default") continue;
    command.setOptionValueWithSource(key, config[key], "config");
  }
}
