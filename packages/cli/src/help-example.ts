import type { Command } from "commander";

/** Ends the command's `--help` with examples a user can paste. */
export function withExample<T extends Command>(command: T, ...examples: string[]): T {
  return command.addHelpText(
    "after",
    `\nExample${examples.length > 1 ? "s" : ""}:\n${examples.map((line) => `  $ ${line}`).join("\n")}\n`,
  );
}

/** Examples for the commands defined in bin.ts (the others add theirs where they are defined). */
const EXAMPLES: Record<string, string[]> = {
  "node start": [
    "opengateway node start",
    "opengateway node start --model ./model.gguf --bootstrap /dns4/relay.example.org/tcp/4001/p2p/12D3KooW...",
    "OPENGATEWAY_BOOTSTRAP=/dnsaddr/bootstrap.example.org/p2p/12D3KooW... opengateway node start --no-mdns",
  ],
  "gateway start": [
    'opengateway gateway start --api-key "$KEY" --bootstrap /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... --register-accounts',
  ],
  "relay start": [
    "opengateway relay start --listen /ip4/0.0.0.0/tcp/4001 /ip4/0.0.0.0/tcp/4002/ws --key-file ~/.opengateway/relay-key.json",
  ],
  "wallet create": ["OPENGATEWAY_PASSPHRASE=... opengateway wallet create --register"],
  "wallet show": ["opengateway wallet show --json"],
  "wallet register": ["opengateway wallet register"],
  "wallet balance": [
    "opengateway wallet balance",
    "opengateway wallet balance --bootstrap /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW...",
  ],
  "wallet history": ["opengateway wallet history", "opengateway wallet history --json | jq '.[] | {at, amount, counterparty}'"],
  "wallet transfer": ["opengateway wallet transfer --to 12D3KooW... --amount 100"],
  "wallet receive": ["opengateway wallet receive"],
  "wallet export": ["opengateway wallet export > wallet-key.backup.json"],
  "wallet import": ["OPENGATEWAY_IMPORT_PASSPHRASE=... opengateway wallet import --from wallet-key.backup.json"],
  start: ["OPENGATEWAY_MODEL=./model.gguf opengateway start"],
  devnet: ["opengateway devnet --nodes 3 --model ./model.gguf"],
  node: ["opengateway node start"],
  gateway: ['opengateway gateway start --api-key "$KEY" --peer /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...'],
  relay: ["opengateway relay start"],
  wallet: ["opengateway wallet balance"],
};

/** Gives every command of bin.ts listed in EXAMPLES its examples. */
export function addExamples(program: Command): void {
  const visit = (command: Command, path: string) => {
    const examples = EXAMPLES[path];
    if (examples) withExample(command, ...examples);
    for (const child of command.commands) visit(child, path ? `${path} ${child.name()}` : child.name());
  };
  for (const child of program.commands) visit(child, child.name());
}
