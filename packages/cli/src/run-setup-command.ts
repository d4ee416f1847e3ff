import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import type { CatalogModel, HardwareProfile } from "@opengateway/full-node";
import type { Region } from "@opengateway/protocol";
import { isRegion, REGIONS } from "@opengateway/protocol";
import type { Command } from "commander";
import { Option } from "commander";
import { bootstrapPeers } from "./bootstrap-peers.js";
import type { CliConfig } from "./cli-config.js";
import { configPath, readCliConfig, writeCliConfig } from "./cli-config.js";
import type { CliContext } from "./cli-context.js";
import { NotSetUpError } from "./cli-errors.js";
import { detectRegion } from "./detect-region.js";
import { withExample } from "./help-example.js";
import { NODE_KEY_FILE } from "./node-identity.js";
import { integer } from "./option-parsers.js";

export interface SetupOptions {
  home: string;
  yes: boolean;
  model?: string;
  region?: Region;
  bootstrap?: string[];
  listen?: string[];
  registrationDifficulty?: number;
  local: boolean;
  register: boolean;
  gpu: "auto" | "off";
}

const GIB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;
const say = (line = "") => process.stdout.write(`${line}\n`);

/** One question on the terminal; the answer, or `fallback` for an empty line. */
type Ask = (question: string, fallback: string) => Promise<string>;

function describeHardware(hardware: HardwareProfile): string[] {
  return [
    `  CPU        ${hardware.cpuModel}, ${hardware.cores} cores`,
    `  memory     ${gib(hardware.totalMemoryBytes)} (${gib(hardware.freeMemoryBytes)} free)`,
    `  GPU        ${hardware.gpu ? `${hardware.gpu.type}, ${gib(hardware.gpu.totalVramBytes)} VRAM` : "none found (the model runs on the CPU)"}`,
    `  disk       ${hardware.freeDiskBytes === null ? "unknown" : `${gib(hardware.freeDiskBytes)} free`} for models`,
    `  clusters   ${hardware.clusters.join(", ") || "none"} (model sizes this machine can serve)`,
  ];
}

/**
 * `opengateway setup`: from a new machine to a node ready to serve. Profiles the hardware,
 * recommends a model, finds the region, creates (or keeps) the node's identity, solves the
 * registration's proof-of-work, downloads the model, and writes the config that `node start`,
 * with no flags, then serves from.
 */
export async function runSetupCommand(options: SetupOptions, cli: CliContext): Promise<void> {
  if (!options.yes && !process.stdin.isTTY) {
    throw new NotSetUpError("setup asks a few questions: run it in a terminal, or pass --yes to take the recommended answers.");
  }
  const terminal = options.yes ? undefined : createInterface({ input: process.stdin, output: process.stdout });
  const ask: Ask = async (question, fallback) =>
    terminal ? (await terminal.question(`${question} [${fallback}] `)).trim() || fallback : fallback;
  try {
    await setUp(options, cli, ask);
  } finally {
    terminal?.close();
  }
}

async function setUp(options: SetupOptions, cli: CliContext, ask: Ask): Promise<void> {
  const { assessModels, isRemoteModelUri, probeHardware, resolveModel } = await import("@opengateway/full-node");
  const cacheDir = join(options.home, "models");
  await mkdir(cacheDir, { recursive: true });

  say("1. This machine");
  const hardware = await probeHardware({ cacheDir, gpu: options.gpu === "off" ? false : "auto" });
  for (const line of describeHardware(hardware)) say(line);

  say("\n2. Model");
  const { models, recommended } = assessModels(hardware);
  models.forEach((entry, index) => {
    const mark = entry.model === recommended ? "→" : " ";
    say(
      `  ${mark} ${index + 1}. ${entry.model.id.padEnd(36)} ${entry.model.summary}${entry.reason ? `  (${entry.reason})` : ""}`,
    );
  });
  const catalog = models.map((entry) => entry.model);
  const model = await chooseModel(options, catalog, recommended, ask, isRemoteModelUri);
  // A wrong path fails now, not after the registration's work.
  if (!isRemoteModelUri(model)) await resolveModel(model, { cacheDir });
  say(`  serving ${model}`);

  say("\n3. Region");
  const config = await readCliConfig(options.home);
  const guess = await detectRegion(bootstrapPeers(config.bootstrapPeers));
  const detected =
    guess.source === "latency"
      ? `${guess.region} (nearest bootstrap peers)`
      : guess.source === "time-zone"
        ? `${guess.region} (from the time zone; no bootstrap peer answered)`
        : "unknown";
  say(`  detected   ${detected}`);
  const region = await chooseRegion(options.region ?? guess.region, ask);
  say(`  serving    ${region ?? "any region"}`);

  say("\n4. Identity");
  const keyFile = join(options.home, NODE_KEY_FILE);
  const existed = existsSync(keyFile);
  const { loadNodeIdentity } = await import("./node-identity.js");
  const identity = await loadNodeIdentity({ home: options.home, passphrase: cli.passphrase }, cli.logger);
  say(`  ${existed ? "kept     " : "created  "}  ${identity.id}  (${keyFile}, encrypted)`);

  say("\n5. Registration");
  if (options.register) {
    const { networkRegistrationWork, registrationFingerprint, solveRegistrationWork } = await import("./node-registration.js");
    const { proofOfWorkProgress } = await import("./progress-line.js");
    const work = networkRegistrationWork(options);
    const fingerprintHash = await registrationFingerprint(identity.id, options.local);
    const progress = proofOfWorkProgress(work.difficultyBits);
    await solveRegistrationWork(options.home, identity, { fingerprintHash, ...work }, { onProgress: progress.onProgress });
    progress.done();
    say("  the node publishes its registration when it first joins the network, and receives its grant");
  } else say("  skipped (--no-register): the node does the work on its first start");

  say("\n6. Download");
  const { downloadProgress } = await import("./progress-line.js");
  const modelPath = await resolveModel(model, { cacheDir, onProgress: downloadProgress(model) });
  say(`  ${modelPath}`);

  const settings: CliConfig = {
    ...config,
    // The file itself: a later start needs no network, whatever the model came from.
    model: modelPath,
    ...(region !== null && { region }),
    ...(options.bootstrap && options.bootstrap.length > 0 && { bootstrap: options.bootstrap }),
    ...(options.bootstrap === undefined && region !== null && (bootstrapPeers(config.bootstrapPeers)[region]?.length ?? 0) > 0
      ? { bootstrap: bootstrapPeers(config.bootstrapPeers)[region] }
      : {}),
    ...(options.listen && { listen: options.listen }),
    ...(options.registrationDifficulty !== undefined && { registrationDifficulty: options.registrationDifficulty }),
    ...(options.local && { local: true }),
  };
  await writeCliConfig(options.home, settings);
  say(`\n7. Config written to ${configPath(options.home)}`);
  say("\nReady. Start serving with:");
  say(`  opengateway node start${options.home === cli.defaultHome ? "" : ` --home ${options.home}`}`);
  say("and keep it running across reboots with:");
  say(`  opengateway service install${options.home === cli.defaultHome ? "" : ` --home ${options.home}`}`);
}

async function chooseModel(
  options: SetupOptions,
  catalog: CatalogModel[],
  recommended: CatalogModel | null,
  ask: Ask,
  isRemoteModelUri: (spec: string) => boolean,
) {
  if (options.model !== undefined) return isRemoteModelUri(options.model) ? options.model : resolve(options.model);
  const fallback = recommended ? String(catalog.indexOf(recommended) + 1) : "";
  for (;;) {
    const answer = await ask("  Which model? A number, an hf: URI or a .gguf path", fallback);
    const picked = catalog[Number(answer) - 1];
    if (picked) return picked.uri;
    if (isRemoteModelUri(answer)) return answer;
    if (answer.endsWith(".gguf")) return resolve(answer);
    if (answer === "") {
      throw new NotSetUpError("No model fits this machine: pass --model with a smaller .gguf file or an hf: URI.");
    }
    say(`  '${answer}' is not a number from the list, an hf: URI or a .gguf path`);
  }
}

async function chooseRegion(detected: Region | null, ask: Ask): Promise<Region | null> {
  for (;;) {
    const answer = await ask(`  Which region? (${REGIONS.join(", ")}, or any)`, detected ?? "any");
    if (answer === "any") return null;
    if (isRegion(answer)) return answer;
    say(`  '${answer}' is not a region`);
  }
}

/** `opengateway setup [--yes]`. */
export function registerSetupCommand(program: Command, cli: CliContext): void {
  withExample(
    program
      .command("setup")
      .description("set this machine up as a node: hardware, model, region, identity, registration, download, config")
      .option("-y, --yes", "take the recommended answer to every question (for scripts)", false)
      .option("--model <path|hf:uri>", "the model to serve instead of the recommended one")
      .addOption(new Option("--region <region>", "the region to serve instead of the detected one").choices([...REGIONS]))
      .option("--bootstrap <multiaddr...>", "peers to join the network through (default: the region's built-in list)")
      .option("--listen <multiaddr...>", "addresses the node listens on (default: TCP 4001 and WebSocket 4002)")
      .option(
        "--registration-difficulty <bits>",
        "proof-of-work difficulty (a network parameter; only for test networks)",
        integer("--registration-difficulty"),
      )
      .option("--local", "a devnet/LAN node (private addresses, devnet ledger parameters)", false)
      .option("--no-register", "leave the registration's proof-of-work to the node's first start")
      .addOption(new Option("--gpu <mode>", "look for a GPU").choices(["auto", "off"]).default("auto"))
      .option("--home <dir>", "data directory (config, keys, models, ledger)", cli.defaultHome),
    "opengateway setup",
    "opengateway setup --yes --model ./model.gguf --region europe",
  ).action((options: SetupOptions) => runSetupCommand(options, cli));
}
