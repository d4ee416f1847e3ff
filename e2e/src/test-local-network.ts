import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { LocalNetwork, LocalNetworkOptions } from "@opengateway/cli";
import { startLocalNetwork } from "@opengateway/cli";
import type { OpenGatewayClient } from "@opengateway/sdk";
import { createClient } from "@opengateway/sdk";
import OpenAI from "openai";
import { testModelPath } from "./test-model.js";

const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));
/** No retries (a retry would hide a failure) and a minute per request (a loaded 2-core CI machine). */
const CLIENT_OPTIONS = { maxRetries: 0, timeout: 60_000 };

/**
 * A local network whose `stop` also removes its home folder, with the official `openai` client two
 * ways: over HTTP to its gateway, and the SDK's P2P fetch to its node with no gateway at all.
 */
export interface TestLocalNetwork extends LocalNetwork {
  home: string;
  viaGateway: OpenAI;
  viaSdk: OpenGatewayClient;
}

/**
 * A local network (one full node, one gateway, each in its own process) on the test model in a
 * fresh home folder, its gateway on a free loopback port, the node on the CPU. The SDK client pays
 * from an account of its own (full nodes check payers by default), registered with a local
 * network's trivial work.
 */
export async function startTestLocalNetwork(
  options: Omit<LocalNetworkOptions, "model" | "host" | "port" | "home">,
): Promise<TestLocalNetwork> {
  const home = mkdtempSync(join(tmpdir(), "opengateway-e2e-network-"));
  const removeHome = () => rmSync(home, { recursive: true, force: true });
  let network: LocalNetwork | undefined;
  try {
    network = await startLocalNetwork({
      ...options,
      model: testModelPath(),
      host: "127.0.0.1",
      port: 0,
      home,
      nodeArgs: ["--gpu", "off", ...(options.nodeArgs ?? [])],
      onOutput: options.onOutput ?? (() => {}),
    });
    const viaSdk = await createClient({ peers: network.nodeAddresses, localNetwork: true, openai: CLIENT_OPTIONS });
    const started = network;
    return {
      ...started,
      home,
      viaGateway: new OpenAI({ baseURL: started.url, apiKey: options.apiKey, ...CLIENT_OPTIONS }),
      viaSdk,
      stop: async () => {
        await viaSdk.close();
        await started.stop();
        removeHome();
      },
    };
  } catch (error) {
    await network?.stop();
    removeHome();
    throw error;
  }
}

/** Runs `examples/<file>` with node, as a reader would, and returns what it printed. */
export async function runExample(file: string, env: Record<string, string>): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(EXAMPLES, file), "Once upon a time"], {
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return stdout;
}

/**
 * Declares `suite` once per transport, handing it that transport's client: a getter, because the
 * network starts in a `before` hook, after the suites are declared.
 */
export function describeBothTransports(
  network: () => TestLocalNetwork,
  suite: (client: () => OpenAI, transport: "gateway" | "sdk") => void,
): void {
  for (const transport of ["gateway", "sdk"] as const) {
    describe(`through the ${transport === "gateway" ? "gateway (HTTP)" : "SDK (P2P fetch, no gateway)"}`, () => {
      suite(() => (transport === "gateway" ? network().viaGateway : network().viaSdk), transport);
    });
  }
}
