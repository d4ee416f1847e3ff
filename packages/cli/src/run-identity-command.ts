import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import type { CliContext } from "./cli-context.js";
import { NotSetUpError } from "./cli-errors.js";
import { withExample } from "./help-example.js";
import { NODE_KEY_FILE } from "./node-identity.js";

export interface IdentityOptions {
  home: string;
  json: boolean;
}

const keyFileOf = (home: string) => join(home, NODE_KEY_FILE);

function requireKey(home: string): string {
  const keyFile = keyFileOf(home);
  if (!existsSync(keyFile))
    throw new NotSetUpError(`There is no node identity in ${home}: run 'opengateway setup' (or 'opengateway identity import').`);
  return keyFile;
}

/** `identity show`: the node's peer id (its account on the ledger) and where its key is. */
export async function identityShow(options: IdentityOptions, cli: CliContext): Promise<void> {
  const keyFile = requireKey(options.home);
  const { loadNodeIdentity } = await import("./node-identity.js");
  const identity = await loadNodeIdentity({ home: options.home, passphrase: cli.passphrase }, cli.logger);
  const report = { identity: identity.id, keyFile, encrypted: true };
  process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : `${identity.id}\n  key file  ${keyFile} (encrypted)\n`);
}

/**
 * `identity export`: the node's key file, encrypted with OPENGATEWAY_PASSPHRASE (the key at rest is
 * encrypted with a secret that stays on this machine, so the copy gets a passphrase you know).
 */
export async function identityExport(options: IdentityOptions, cli: CliContext): Promise<void> {
  const keyFile = requireKey(options.home);
  const exportPassphrase = cli.env.OPENGATEWAY_EXPORT_PASSPHRASE ?? cli.passphrase;
  if (!exportPassphrase) {
    throw new NotSetUpError("Set OPENGATEWAY_EXPORT_PASSPHRASE to the passphrase the exported key should be encrypted with.");
  }
  const { nodeKeyPassphrase } = await import("./node-identity.js");
  const { readIdentityFile, writeIdentityFile } = await import("@opengateway/sdk");
  const identity = await readIdentityFile(keyFile, {
    passphrase: await nodeKeyPassphrase({ home: options.home, passphrase: cli.passphrase }),
  });
  const scratch = await mkdtemp(join(options.home, ".export-"));
  try {
    const copy = join(scratch, "key.json");
    await writeIdentityFile(copy, identity, { passphrase: exportPassphrase });
    process.stdout.write(await readFile(copy, "utf8"));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** `identity import --from <file>`: makes an exported key this node's identity (never over an existing one). */
export async function identityImport(options: IdentityOptions & { from: string }, cli: CliContext): Promise<void> {
  const keyFile = keyFileOf(options.home);
  if (existsSync(keyFile)) {
    throw new NotSetUpError(`${keyFile} already holds a node identity: move it away first, so that no identity is lost.`);
  }
  const { nodeKeyPassphrase } = await import("./node-identity.js");
  const { readIdentityFile, writeIdentityFile } = await import("@opengateway/sdk");
  const identity = await readIdentityFile(options.from, { passphrase: cli.env.OPENGATEWAY_IMPORT_PASSPHRASE ?? cli.passphrase });
  await writeIdentityFile(keyFile, identity, {
    passphrase: await nodeKeyPassphrase({ home: options.home, passphrase: cli.passphrase }),
    overwrite: false,
  });
  const report = { identity: identity.id, keyFile };
  process.stdout.write(
    options.json ? `${JSON.stringify(report)}\n` : `imported ${identity.id} as this node's identity (${keyFile})\n`,
  );
}

/** `opengateway identity show|export|import`: the node's own identity. */
export function registerIdentityCommand(program: Command, cli: CliContext): void {
  const identity = withExample(
    program.command("identity").description(`the node's identity (<home>/${NODE_KEY_FILE}): its peer id and ledger account`),
    "opengateway identity show",
  );
  const common = (command: Command) =>
    command.option("--json", "machine-readable output", false).option("--home <dir>", "data directory", cli.defaultHome);
  common(withExample(identity.command("show").description("print the peer id"), "opengateway identity show --json")).action(
    (options: IdentityOptions) => identityShow(options, cli),
  );
  common(
    withExample(
      identity
        .command("export")
        .description("print the key, encrypted with OPENGATEWAY_EXPORT_PASSPHRASE, to move the node elsewhere"),
      "OPENGATEWAY_EXPORT_PASSPHRASE=... opengateway identity export > node-key.backup.json",
    ),
  ).action((options: IdentityOptions) => identityExport(options, cli));
  common(
    withExample(
      identity
        .command("import")
        .description("make an exported key this node's identity (OPENGATEWAY_IMPORT_PASSPHRASE unlocks it)")
        .requiredOption("--from <path>", "the exported key file"),
      "OPENGATEWAY_IMPORT_PASSPHRASE=... opengateway identity import --from node-key.backup.json",
    ),
  ).action((options: IdentityOptions & { from: string }) => identityImport(options, cli));
}
