#!/usr/bin/env node
import "@opengateway/p2p/node-runtime";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { REGIONS } from "@opengateway/protocol";
import { Command, InvalidArgumentError, Option } from "commander";
import { pino } from "pino";
import { applyCliConfig } from "./cli-config.js";
import type { CliContext } from "./cli-context.js";
import { reportFatalError } from "./fatal-error.js";
import { addExamples } from "./help-example.js";
import { integer } from "./option-parsers.js";
import { assertPortFree, localModelFile, stopWithParent } from "./preflight.js";
import { registerChatCommand } from "./run-chat-command.js";
import { registerConfigCommand } from "./run-config-command.js";
import { registerDoctorCommand } from "./run-doctor-command.js";
import { registerIdentityCommand } from "./run-identity-command.js";
import { registerModelsCommand } from "./run-models-command.js";
import { registerServiceCommand } from "./run-service-command.js";
import { registerSetupCommand } from "./run-setup-command.js";
import { registerStatusCommand } from "./run-status-command.js";
import { onShutdown } from "./shutdown.js";

/** The model `opengateway start` serves when OPENGATEWAY_MODEL is not set. */
export const DEFAULT_MODEL = "hf:bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf";

// The environment is read here, at the entry point, and passed down as options.
const env = process.env;
const defaultHome = env.OPENGATEWAY_HOME ?? join(homedir(), ".opengateway");
// Key passphrases come from the environment or a file, never a command-line argument other users can see.
const passphrase =
  env.OPENGATEWAY_PASSPHRASE ??
  (env.OPENGATEWAY_PASSPHRASE_FILE ? readFileSync(env.OPENGATEWAY_PASSPHRASE_FILE, "utf8").replace(/\r?\n$/, "") : undefined);
const logger = pino({ level: env.OPENGATEWAY_LOG_LEVEL ?? "info" }, pino.destination(2));

const cli: CliContext = { defaultHome, env, passphrase, logger };

/** The network's registration difficulty: a flag of every command that keeps or reads the ledger. */
const registrationDifficultyOption = () =>
  new Option(
    "--registration-difficulty <bits>",
    "proof-of-work difficulty of registrations (a network parameter; --local: 7)",
  ).argParser(integer("--registration-difficulty"));

/** The network's registration memory per proof-of-work try (Argon2id). */
const registrationMemoryOption = () =>
  new Option(
    "--registration-memory <KiB>",
    "memory of each registration proof-of-work try, in KiB (a network parameter; default 16384, --local: 64)",
  ).argParser(integer("--registration-memory"));

/** The ledger flags of the roles that keep a copy of it (node, gateway, relay), declared once. */
const withLedgerOptions = (command: Command, what: { noCredits: string; file: string }) =>
  command
    .option("--no-credits", what.noCredits)
    .option("--ledger-file <path>", what.file)
    .option(
      "--ledger-sync-interval-ms <ms>",
      "how often the ledger is reconciled with every peer (default 10 minutes; new peers at once)",
      integer("--ledger-sync-interval-ms", 1_000),
    )
    .addOption(registrationDifficultyOption())
    .addOption(registrationMemoryOption());

const program = new Command("opengateway")
  .description("OpenGateway: an open, peer-to-peer AI inference network")
  .version("0.1.0")
  .option("--verbose", "print the details of a failure (its stack), not just what to do", false)
  // Settings from <home>/config.json fill the options the command line and the environment left unset.
  .hook("preAction", (_program, command) => applyCliConfig(command, defaultHome));

const nodeCommand = program.command("node").description("run a full node that serves models");
const nodeStart = nodeCommand
  .command("start")
  .description("serve a GGUF model to the network with node-llama-cpp, or an OpenAI-compatible server's models")
  .option("--model <path|hf:uri>", "a GGUF file, or an hf: URI downloaded into the model cache")
  .option(
    "--upstream <baseURL>",
    "serve through this OpenAI-compatible server (e.g. http://127.0.0.1:8080/v1) instead of --model",
  )
  .option("--upstream-api-key-env <VAR>", "the environment variable holding the upstream's API key")
  .option(
    "--context-size <tokens>",
    "context per request (with --upstream: where the upstream does not say)",
    integer("--context-size"),
  )
  .option("--alias <id>", "the model id clients ask for (default: the file name without .gguf)")
  .option("--listen <multiaddr...>", "addresses to listen on", ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/tcp/4002/ws"])
  .option("--bootstrap <multiaddr...>", "peers to join the network through", [])
  .option(
    "--key-file <path>",
    "where the node's identity is kept (default: <home>/node-key.json, encrypted with OPENGATEWAY_PASSPHRASE, OPENGATEWAY_PASSPHRASE_FILE or else <home>/node-key.passphrase)",
  )
  .addOption(
    new Option("--region <region>", "the region this node serves (default: guessed from the time zone)").choices([...REGIONS]),
  )
  .option("--relay", "also act as a circuit relay for browsers and peers behind NAT", false)
  .option("--local", "devnet/LAN mode: accept loopback and private addresses in the DHT", false)
  .option("--threads <n>", "CPU threads for generation (default: cores - 1)", integer("--threads"))
  .option("--parallel <n>", "requests generated at once", integer("--parallel"))
  .option(
    "--stream-batch-ms <ms>",
    "while several answers stream at once, at most one frame per this interval each (default 30; 0: token by token)",
    integer("--stream-batch-ms"),
  )
  .addOption(new Option("--gpu <mode>", "use a GPU when one is found").choices(["auto", "off"]).default("auto"))
  .option(
    "--thermal-throttle-c <celsius>",
    "serve half as many requests at once at or above this temperature",
    integer("--thermal-throttle-c", 30),
    85,
  )
  .option(
    "--thermal-pause-c <celsius>",
    "take no new requests at or above this temperature until cooled",
    integer("--thermal-pause-c", 30),
    95,
  )
  .option("--thermal-sensor <path...>", "temperature files to watch (default: the thermal zones and nvidia-smi)")
  .option("--require-payment", "refuse payers who cannot cover a request (the default; kept for scripts)")
  .option(
    "--no-payment-checks",
    "private networks only: serve payers whatever their ledger account holds (payment checks are on by default)",
  )
  .option("--no-audits", "do not audit the other providers of this node's model (audits are on by default)")
  .option(
    "--audit-interval-ms <ms>",
    "mean time between challenge probes to one provider, across the network, at the starting reputation (default 20000)",
    integer("--audit-interval-ms", 1000),
  )
  .option(
    "--claim-after-ms <ms>",
    "how long after a request expired to wait for the payer's settlement before claiming it (default 60000)",
    integer("--claim-after-ms"),
  )
  .option("--sweep-to <identity>", "automatically transfer earnings above --sweep-above to this identity")
  .option("--sweep-above <credits>", "credits the node keeps when sweeping (default 0)", integer("--sweep-above"))
  .option("--contribute-port <port>", "also serve the browser contributor page on this HTTP port", integer("--contribute-port"))
  .option("--contribute-host <host>", "HTTP host for the contributor page", "127.0.0.1")
  .option(
    "--contribute-bootstrap <multiaddr...>",
    "relay /ws addresses the page's tabs join through (default: this node's own, with --relay)",
    [],
  )
  .option("--contribute-model-url <url...>", "GGUF files hosted elsewhere (http/https) the page also offers", [])
  .option("--contribute-dir <dir>", "the built contributor page (default: packages/browser-node/dist/contribute)")
  .option("--home <dir>", "data directory (model cache, keys)", defaultHome);
withLedgerOptions(nodeStart, {
  noCredits: "keep no ledger: serve without being paid",
  file: "where the node keeps its copy of the ledger (default: in <home>)",
}).action(async (options) => {
  if (options.model === undefined && options.upstream === undefined) {
    program.error("node start has no model: run 'opengateway setup' first, or pass exactly one of --model and --upstream");
  }
  if (options.model !== undefined && options.upstream !== undefined) {
    program.error("node start needs exactly one of --model and --upstream");
  }
  // The page offers tabs the node's model file, which a node with an upstream does not have.
  if (options.upstream !== undefined && options.contributePort !== undefined) program.error("--contribute-port needs --model");
  const upstreamApiKey = options.upstreamApiKeyEnv === undefined ? undefined : env[options.upstreamApiKeyEnv];
  if (options.upstreamApiKeyEnv !== undefined && !upstreamApiKey) {
    program.error(`--upstream-api-key-env: ${options.upstreamApiKeyEnv} is not set`);
  }
  const { runNodeCommand } = await import("./run-node-command.js");
  await runNodeCommand(
    { ...options, passphrase, upstreamApiKey, gpu: options.gpu === "off" ? false : "auto" },
    logger.child({ role: "node" }),
  );
});

const gatewayCommand = program.command("gateway").description("run an OpenAI-compatible gateway");
const gatewayStart = gatewayCommand
  .command("start")
  .description("serve the OpenAI API over HTTP, routing requests over the network")
  .option("--host <host>", "HTTP host to bind", "127.0.0.1")
  .addOption(new Option("--port <port>", "HTTP port").env("OPENGATEWAY_PORT").argParser(integer("--port")).default(8080))
  .option(
    "--api-key <key...>",
    "API keys to accept (or OPENGATEWAY_API_KEY)",
    env.OPENGATEWAY_API_KEY ? [env.OPENGATEWAY_API_KEY] : [],
  )
  .option("--api-keys-file <path>", "a file with one API key per line")
  .option("--peer <multiaddr...>", "full nodes to dial directly", [])
  .option("--bootstrap <multiaddr...>", "peers to join the network through", [])
  .addOption(new Option("--region <region>", "home region: requests stay in it unless they ask for 'any'").choices([...REGIONS]))
  .option("--local", "devnet/LAN mode: accept loopback and private addresses in the DHT", false)
  .option(
    "--provider-idle-timeout-ms <ms>",
    "treat a provider silent this long mid-request as dead",
    integer("--provider-idle-timeout-ms"),
  )
  .option(
    "--max-queued-requests <n>",
    "requests that may wait for a provider slot when all are busy; more get 429 (default 256)",
    integer("--max-queued-requests"),
  )
  .option(
    "--queue-wait-ms <ms>",
    "how long a request waits for a provider slot before 429 (default 15000)",
    integer("--queue-wait-ms"),
  )
  .option(
    "--max-connections-per-client <n>",
    "open connections one client address may hold; more are refused (default 64)",
    integer("--max-connections-per-client"),
  )
  .option(
    "--max-price-per-token <credits>",
    "skip providers asking more credits per token (a request's max_price_per_token can lower it)",
    (value: string) => {
      const parsed = Number(value);
      if (!Number.isFinite(parsed) || parsed < 0) throw new InvalidArgumentError("--max-price-per-token must be a number ≥ 0");
      return parsed;
    },
  )
  .option("--contribute-bootstrap <multiaddr...>", "relay /ws addresses the /contribute page's tabs join through", [])
  .option("--contribute-model <path...>", "GGUF files /contribute offers to tabs", [])
  .option("--contribute-model-url <url...>", "GGUF files hosted elsewhere (http/https) that /contribute offers to tabs", [])
  .option("--contribute-dir <dir>", "the built contributor page (default: packages/browser-node/dist/contribute)")
  .option("--register-accounts", "register every API key's account on start (default with --local)")
  .option("--cors-origin <origin...>", "browser origins allowed to call the API (CORS; none by default)", [])
  .option("--home <dir>", "data directory", defaultHome);
withLedgerOptions(gatewayStart, {
  noCredits: "do not charge API keys' accounts (no ledger)",
  file: "where the gateway keeps its ledger (default: <home>/gateway-ledger.sqlite)",
}).action(async (options) => {
  await assertPortFree(options.host, options.port, "OPENGATEWAY_PORT");
  const { readFile } = await import("node:fs/promises");
  const fileKeys = options.apiKeysFile
    ? (await readFile(options.apiKeysFile, "utf8"))
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line && !line.startsWith("#"))
    : [];
  const apiKeys = [...options.apiKey, ...fileKeys];
  if (apiKeys.length === 0) program.error("no API key: pass --api-key, --api-keys-file or set OPENGATEWAY_API_KEY");
  const { runGatewayCommand } = await import("./run-gateway-command.js");
  await runGatewayCommand(
    { ...options, peers: options.peer, apiKeys, providerIdleTimeoutMs: options.providerIdleTimeoutMs, passphrase },
    logger.child({ role: "gateway" }),
  );
});

const relayCommand = program.command("relay").description("run a bootstrap and relay node (serves no model)");
const relayStart = relayCommand
  .command("start")
  .description("be the first address peers dial: a DHT server, a circuit relay and an advert forwarder")
  .option("--listen <multiaddr...>", "addresses to listen on", ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/tcp/4002/ws"])
  .option("--bootstrap <multiaddr...>", "other bootstrap peers", [])
  .option("--key-file <path>", "where the node's identity is kept (default: a new identity each run)")
  .option("--local", "devnet/LAN mode: accept loopback and private addresses in the DHT", false)
  .option("--home <dir>", "data directory", defaultHome);
withLedgerOptions(relayStart, {
  noCredits: "keep no copy of the ledger",
  file: "where the relay keeps its copy of the ledger (default: <home>/relay-ledger.sqlite)",
}).action(async (options) => {
  const { runRelayCommand } = await import("./run-relay-command.js");
  await runRelayCommand(options, logger.child({ role: "relay" }));
});

const wallet = program.command("wallet").description("your identity and credits on the ledger");
const walletOptions = (command: Command) =>
  command
    .option("--key-file <path>", "the identity's key file", join(defaultHome, "wallet-key.json"))
    .option("--json", "machine-readable output", false)
    .option("--bootstrap <multiaddr...>", "peers to reach the ledger through", [])
    .option("--local", "devnet/LAN mode (devnet ledger parameters, private addresses)", false)
    .addOption(registrationDifficultyOption())
    .addOption(registrationMemoryOption());
walletOptions(wallet.command("create").description("make a new identity (encrypted with OPENGATEWAY_PASSPHRASE)"))
  .option("--register", "also register it on the network (proof-of-work, then the grant)", false)
  .action(async (options) => (await import("./run-wallet-command.js")).walletCreate({ ...options, passphrase }));
walletOptions(wallet.command("show").description("print the identity")).action(async (options) =>
  (await import("./run-wallet-command.js")).walletShow({ ...options, passphrase }),
);
walletOptions(wallet.command("register").description("register the identity on the network")).action(async (options) =>
  (await import("./run-wallet-command.js")).walletRegister({ ...options, passphrase }),
);
walletOptions(wallet.command("balance").description("balance, transferable, locked and debt, from the network's ledger")).action(
  async (options) => (await import("./run-wallet-command.js")).walletBalance({ ...options, passphrase }),
);
walletOptions(wallet.command("history").description("the identity's blocks, latest first")).action(async (options) =>
  (await import("./run-wallet-command.js")).walletHistory({ ...options, passphrase }),
);
walletOptions(wallet.command("transfer").description("send credits to another identity"))
  .requiredOption("--to <identity>", "the recipient's identity id")
  .requiredOption("--amount <credits>", "credits to send", integer("--amount"))
  .action(async (options) => (await import("./run-wallet-command.js")).walletTransfer({ ...options, passphrase }));
walletOptions(wallet.command("receive").description("collect the transfers sent to this identity")).action(async (options) =>
  (await import("./run-wallet-command.js")).walletReceive({ ...options, passphrase }),
);
walletOptions(wallet.command("export").description("print the key file (encrypted if it is) to move it elsewhere")).action(
  async (options) => (await import("./run-wallet-command.js")).walletExport({ ...options, passphrase }),
);
walletOptions(wallet.command("import").description("store a key file exported elsewhere, encrypted with OPENGATEWAY_PASSPHRASE"))
  .requiredOption("--from <path>", "the exported key file (OPENGATEWAY_IMPORT_PASSPHRASE if it is encrypted differently)")
  .action(async (options) =>
    (await import("./run-wallet-command.js")).walletImport({
      ...options,
      passphrase,
      fromPassphrase: env.OPENGATEWAY_IMPORT_PASSPHRASE,
    }),
  );

/** `devnet` and `start`: a local network behind one gateway, on this machine. */
const localNetworkCommand = (name: string, description: string, modelHelp: string): Command =>
  program
    .command(name)
    .description(description)
    .addOption(new Option("--model <path|hf:uri>", modelHelp).env("OPENGATEWAY_MODEL").default(DEFAULT_MODEL))
    .addOption(
      new Option("--port <port>", "gateway HTTP port").env("OPENGATEWAY_PORT").argParser(integer("--port")).default(8080),
    )
    .option("--host <host>", "gateway HTTP host", "127.0.0.1")
    .option("--home <dir>", "data directory", defaultHome);

/** The local gateway's API key: OPENGATEWAY_API_KEY, or a fresh one, and the banner line that shows it. */
function localApiKey(): { apiKey: string; line: string } {
  const apiKey = env.OPENGATEWAY_API_KEY ?? `og-${randomBytes(18).toString("base64url")}`;
  const note = env.OPENGATEWAY_API_KEY === undefined ? "   (generated; set OPENGATEWAY_API_KEY to choose one)" : "";
  return { apiKey, line: `  API key          ${apiKey}${note}` };
}

localNetworkCommand(
  "devnet",
  "start a multi-process local network: a bootstrap/relay node, N full nodes over several regions, and a gateway",
  "model every node serves",
)
  .option("--nodes <n>", "full nodes to start", integer("--nodes"), 3)
  .action(async (options) => {
    await assertPortFree(options.host, options.port, "OPENGATEWAY_PORT");
    options.model = await localModelFile(options.model, options.home);
    stopWithParent();
    const { apiKey, line: apiKeyLine } = localApiKey();
    const { startDevnet } = await import("./start-devnet.js");
    process.stdout.write(`Starting a devnet: 1 bootstrap/relay node, ${options.nodes} full nodes, 1 gateway ...\n`);
    const devnet = await startDevnet({ ...options, apiKey, nodeArgs: ["--parallel", "2"] });
    process.stdout.write(
      [
        "",
        "  OpenGateway devnet is up.",
        `  OpenAI base URL  ${devnet.url}`,
        apiKeyLine,
        `  bootstrap/relay  ${devnet.relay.addresses[0] ?? devnet.relay.peerId}`,
        ...devnet.nodes.map((node, index) => `  full node ${index + 1}      ${node.peerId}  (${node.region ?? "any region"})`),
        `  network view     curl -s ${devnet.url}/opengateway/network -H "Authorization: Bearer ${apiKey}"`,
        `  pin a region     -H "x-opengateway-region: europe"   (default: any)`,
        "",
        "  Ctrl-C stops everything.",
        "",
      ].join("\n"),
    );
    onShutdown(() => devnet.stop());
  });

localNetworkCommand(
  "start",
  "start a local network: a full node and a gateway, each in its own process",
  "model to serve",
).action(async (options) => {
  await assertPortFree(options.host, options.port, "OPENGATEWAY_PORT");
  options.model = await localModelFile(options.model, options.home);
  stopWithParent();
  const { apiKey, line: apiKeyLine } = localApiKey();
  const { startLocalNetwork } = await import("./start-local-network.js");
  process.stdout.write(`Starting a local OpenGateway network with ${options.model} ...\n`);
  const network = await startLocalNetwork({ ...options, apiKey });
  const model = network.models[0] ?? "MODEL";
  process.stdout.write(
    [
      "",
      "  OpenGateway local network is up.",
      `  OpenAI base URL  ${network.url}`,
      apiKeyLine,
      `  model            ${model}`,
      `  full node        ${network.nodePeerId}`,
      // What the SDK's createClient takes as `bootstrap` (Node) and a web page can dial (WebSockets).
      `  SDK bootstrap    ${network.nodeAddresses.find((address) => !address.includes("/ws")) ?? "-"}`,
      `  browser (ws)     ${network.nodeAddresses.find((address) => address.includes("/ws")) ?? "-"}`,
      "",
      "  Try it:",
      `    curl -s ${network.url}/chat/completions -H "Authorization: Bearer ${apiKey}" \\`,
      `      -H 'content-type: application/json' \\`,
      `      -d '{"model":"${model}","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":40,"stream":true}'`,
      "",
      "  Ctrl-C stops everything.",
      "",
    ].join("\n"),
  );
  onShutdown(() => network.stop());
});

registerConfigCommand(program, cli);
registerSetupCommand(program, cli);
registerStatusCommand(program, cli);
registerServiceCommand(program, cli);
registerModelsCommand(program, cli);
registerIdentityCommand(program, cli);
registerChatCommand(program, cli);
registerDoctorCommand(program, cli);
addExamples(program);

program.parseAsync().catch((error: unknown) => {
  reportFatalError(error, { verbose: program.opts().verbose === true });
  process.exit(1);
});
