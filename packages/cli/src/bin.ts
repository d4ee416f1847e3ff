#!/usr/bin/env node
import "@opengateway/p2p/node-runtime";
import { randomBytes } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { pino } from "pino";
import { onShutdown } from "./shutdown.js";

/** The model `opengateway start` serves when OPENGATEWAY_MODEL is not set. */
export const DEFAULT_MODEL = "hf:bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf";

// The environment is read here, at the entry point, and passed down as options.
const env = process.env;
const defaultHome = env.OPENGATEWAY_HOME ?? join(homedir(), ".opengateway");
const logger = pino({ level: env.OPENGATEWAY_LOG_LEVEL ?? "info" }, pino.destination(2));

const integer = (name: string) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return parsed;
};

const program = new Command("opengateway")
  .description("OpenGateway: an open, peer-to-peer AI inference network")
  .version("0.1.0");

const nodeCommand = program.command("node").description("run a full node that serves models");
nodeCommand
  .command("start")
  .description("serve a GGUF model to the network with node-llama-cpp")
  .requiredOption("--model <path|hf:uri>", "a GGUF file, or an hf: URI downloaded into the model cache")
  .option("--alias <id>", "the model id clients ask for (default: the file name without .gguf)")
  .option("--listen <multiaddr...>", "addresses to listen on", ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/tcp/4002/ws"])
  .option("--bootstrap <multiaddr...>", "peers to join the network through", [])
  .option("--key-file <path>", "where the node's identity is kept (default: a new identity each run)")
  .option("--region <region>", "the region this node serves")
  .option("--threads <n>", "CPU threads for generation (default: cores - 1)", integer("--threads"))
  .option("--parallel <n>", "requests generated at once", integer("--parallel"))
  .option("--stream-batch-ms <ms>", "coalesce streamed tokens for up to this long per frame", integer("--stream-batch-ms"))
  .addOption(new Option("--gpu <mode>", "use a GPU when one is found").choices(["auto", "off"]).default("auto"))
  .option("--home <dir>", "data directory (model cache, keys)", defaultHome)
  .action(async (options) => {
    const { runNodeCommand } = await import("./run-node-command.js");
    await runNodeCommand({ ...options, gpu: options.gpu === "off" ? false : "auto" }, logger.child({ role: "node" }));
  });

const gatewayCommand = program.command("gateway").description("run an OpenAI-compatible gateway");
gatewayCommand
  .command("start")
  .description("serve the OpenAI API over HTTP, routing requests over the network")
  .option("--host <host>", "HTTP host to bind", "127.0.0.1")
  .option("--port <port>", "HTTP port", integer("--port"), Number(env.OPENGATEWAY_PORT ?? 8080))
  .option(
    "--api-key <key...>",
    "API keys to accept (or OPENGATEWAY_API_KEY)",
    env.OPENGATEWAY_API_KEY ? [env.OPENGATEWAY_API_KEY] : [],
  )
  .option("--api-keys-file <path>", "a file with one API key per line")
  .option("--peer <multiaddr...>", "full nodes to dial directly", [])
  .option("--bootstrap <multiaddr...>", "peers to join the network through", [])
  .option("--region <region>", "the region requests are routed in")
  .option("--home <dir>", "data directory", defaultHome)
  .action(async (options) => {
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
    await runGatewayCommand({ ...options, peers: options.peer, apiKeys }, logger.child({ role: "gateway" }));
  });

program
  .command("start")
  .description("start a local network: a full node and a gateway, each in its own process")
  .option("--model <path|hf:uri>", "model to serve (or OPENGATEWAY_MODEL)", env.OPENGATEWAY_MODEL ?? DEFAULT_MODEL)
  .option("--port <port>", "gateway HTTP port (or OPENGATEWAY_PORT)", integer("--port"), Number(env.OPENGATEWAY_PORT ?? 8080))
  .option("--host <host>", "gateway HTTP host", "127.0.0.1")
  .option("--home <dir>", "data directory", defaultHome)
  .action(async (options) => {
    const generated = env.OPENGATEWAY_API_KEY === undefined;
    const apiKey = env.OPENGATEWAY_API_KEY ?? `og-${randomBytes(18).toString("base64url")}`;
    const { startLocalNetwork } = await import("./start-local-network.js");
    process.stdout.write(`Starting a local OpenGateway network with ${options.model} ...\n`);
    const network = await startLocalNetwork({ ...options, apiKey });
    const model = network.models[0] ?? "MODEL";
    process.stdout.write(
      [
        "",
        "  OpenGateway local network is up.",
        `  OpenAI base URL  ${network.url}`,
        `  API key          ${apiKey}${generated ? "   (generated; set OPENGATEWAY_API_KEY to choose one)" : ""}`,
        `  model            ${model}`,
        `  full node        ${network.nodePeerId}`,
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

program.parseAsync().catch((error: unknown) => {
  logger.fatal({ err: error }, error instanceof Error ? error.message : "failed");
  process.exit(1);
});
