import { join } from "node:path";
import type { Region } from "@opengateway/protocol";
import { REGIONS } from "@opengateway/protocol";
import type { Command } from "commander";
import { Option } from "commander";
import type { CliContext } from "./cli-context.js";
import { NotSetUpError } from "./cli-errors.js";
import { withExample } from "./help-example.js";
import { bootstrapOption } from "./network-options.js";
import { integer } from "./option-parsers.js";

export interface ChatOptions {
  home: string;
  model?: string;
  maxTokens: number;
  bootstrap?: string[];
  peer: string[];
  region?: Region;
  local: boolean;
  pay: boolean;
  registrationDifficulty?: number;
  registrationMemory?: number;
}

/** Where chat keeps the identity that pays: the wallet's, not the node's (a peer id is one process's). */
export const CHAT_KEY_FILE = "wallet-key.json";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * `opengateway chat <prompt>`: joins the network as a client, streams one reply to the terminal,
 * and pays for it from the wallet identity in the data directory (registered on first use).
 */
export async function runChatCommand(words: string[], options: ChatOptions, cli: CliContext): Promise<void> {
  const prompt = words.length > 0 ? words.join(" ") : process.stdin.isTTY ? "" : (await readStdin()).trim();
  if (prompt === "") throw new NotSetUpError('Say something: opengateway chat "your question" (or pipe it in).');
  // Without --bootstrap or --peer: the node running in this home (with its ledger rules), then the region's list.
  const { networkEntry } = await import("./network-entry.js");
  const network =
    options.peer.length > 0
      ? { bootstrap: options.bootstrap ?? [], local: options.local, registrationDifficulty: options.registrationDifficulty }
      : await networkEntry({ ...options, mdns: false });
  if (network.bootstrap.length === 0 && options.peer.length === 0) {
    throw new NotSetUpError(
      "chat needs a way into the network: no node runs in this home and the region's bootstrap list is empty; pass --bootstrap or --peer, or set it once with 'opengateway config set bootstrap <multiaddr>'.",
    );
  }
  const { createClient } = await import("@opengateway/sdk");
  const { ledgerParamOverrides } = await import("./network-params.js");
  const { loadOrCreateIdentity } = await import("@opengateway/sdk");
  const identity = await loadOrCreateIdentity(join(options.home, CHAT_KEY_FILE), { passphrase: cli.passphrase });
  const { registrationFingerprint } = await import("./node-registration.js");
  const client = await createClient({
    identity,
    bootstrap: network.bootstrap,
    peers: options.peer,
    region: options.region ?? null,
    localNetwork: network.local,
    ledger: options.pay
      ? {
          // --registration-memory as given: the same puzzle as the network it joins.
          params: ledgerParamOverrides({
            ...network,
            registrationMemory:
              options.registrationMemory ?? ("registrationMemory" in network ? network.registrationMemory : undefined),
          }),
          fingerprintHash: await registrationFingerprint(identity.id, network.local),
        }
      : undefined,
    waitForProvidersMs: 30_000,
  });
  try {
    const model = options.model ?? (await client.models.list()).data[0]?.id;
    if (model === undefined)
      throw new NotSetUpError("No node serves a model on the network right now: try again in a minute, or pass --peer.");
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: prompt }],
      max_tokens: options.maxTokens,
      stream: true,
    });
    for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta.content ?? "");
    process.stdout.write("\n");
    const receipt = client.wallet.history()[0];
    const balance = client.wallet.balance();
    if (receipt) {
      process.stderr.write(
        `(${model} on ${receipt.provider}: ${receipt.credits} credits${balance ? `, balance ${balance.balance}` : ""} for ${identity.id})\n`,
      );
    }
  } finally {
    await client.close();
  }
}

/** `opengateway chat`. */
export function registerChatCommand(program: Command, cli: CliContext): void {
  withExample(
    program
      .command("chat")
      .argument("[prompt...]", "what to ask (or piped on stdin)")
      .description("ask the network and stream the reply, paid from the wallet identity in <home>")
      .option("--model <id>", "the model to ask (default: the first the network serves)")
      .option("--max-tokens <n>", "longest reply", integer("--max-tokens", 1), 200)
      .addOption(
        bootstrapOption("peers to join the network through (default: the node running in <home>, then the region's list)"),
      )
      .option("--peer <multiaddr...>", "nodes to dial directly", [])
      .addOption(new Option("--region <region>", "ask nodes of this region").choices([...REGIONS]))
      .option("--local", "devnet/LAN mode (private addresses, devnet ledger parameters)", false)
      .option("--no-pay", "send unpaid requests (only nodes that do not require payment answer)")
      .option(
        "--registration-difficulty <bits>",
        "proof-of-work difficulty (a network parameter)",
        integer("--registration-difficulty"),
      )
      .option(
        "--registration-memory <KiB>",
        "memory of each proof-of-work try, in KiB (a network parameter)",
        integer("--registration-memory"),
      )
      .option("--home <dir>", "data directory", cli.defaultHome),
    'opengateway chat "Write a haiku about peer-to-peer networks"',
    'echo "Once upon a time" | opengateway chat --peer /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...',
  ).action((words: string[], options: ChatOptions) => runChatCommand(words, options, cli));
}
