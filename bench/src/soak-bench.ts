/**
 * Soak benchmark (issue 14), not a test: SOAK_STREAMS concurrent streams (64) for SOAK_DURATION_MS
 * (10 minutes) against a devnet whose full nodes are killed (SIGKILL) and restarted in turn every
 * SOAK_KILL_EVERY_MS (1 minute). Prints client outcomes (every error other than a documented 429
 * is a failure), the RSS of every process at start and end, and what the gateway's account was
 * charged against the usage its clients were told.
 *
 *   pnpm build && OPENGATEWAY_TEST_MODEL=… node bench/dist/soak-bench.js
 */
import "@opengateway/p2p/node-runtime";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevnet } from "@opengateway/cli";
import { BENCH_MODEL_PATH } from "./bench-workload.js";

const DURATION_MS = Number(process.env.SOAK_DURATION_MS ?? 600_000);
const STREAMS = Number(process.env.SOAK_STREAMS ?? 64);
const KILL_EVERY_MS = Number(process.env.SOAK_KILL_EVERY_MS ?? 60_000);
const NODES = Number(process.env.SOAK_NODES ?? 3);
const MAX_TOKENS = Number(process.env.SOAK_MAX_TOKENS ?? 200);
const API_KEY = "og-soak";
/** One API key (and so one funded account) per stream: one account's grant would run dry in minutes. */
const STREAM_KEYS = Array.from({ length: STREAMS }, (_, index) => `og-soak-${index}`);
const MODEL = "stories260K";

interface Tally {
  ok: number;
  documented429: number;
  errors: Map<string, number>;
  promptTokens: number;
  completionTokens: number;
  failedOver: number;
}

function rssMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((entry) => entry.startsWith("VmRSS:"));
    return line ? Math.round(Number(line.replace(/\D+/g, "")) / 1024) : null;
  } catch {
    return null;
  }
}

async function oneStream(url: string, apiKey: string, tally: Tally): Promise<void> {
  const fail = (what: string) => tally.errors.set(what, (tally.errors.get(what) ?? 0) + 1);
  let response: Response;
  try {
    response = await fetch(`${url}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: "user", content: "Once upon a time" }],
        max_tokens: MAX_TOKENS,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
  } catch (error) {
    fail(`fetch: ${String(error)}`);
    // Never a hot loop: an error is counted once per second at most per stream.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return;
  }
  if (response.status === 429 && response.headers.get("retry-after")) {
    tally.documented429++;
    await response.text();
    await new Promise((resolve) => setTimeout(resolve, 1000 * Number(response.headers.get("retry-after"))));
    return;
  }
  if (response.status !== 200) {
    fail(`${response.status}: ${(await response.text()).slice(0, 160)}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return;
  }
  let raw = "";
  try {
    raw = await response.text();
  } catch (error) {
    fail(`body: ${String(error)}`);
    return;
  }
  const events = raw.split("\n\n").filter(Boolean);
  if (events.at(-1) !== "data: [DONE]") {
    fail("stream ended without [DONE]");
    return;
  }
  const chunks = events.slice(0, -1).map((event) => JSON.parse(event.slice("data: ".length)) as Record<string, unknown>);
  const broken = chunks.find((chunk) => "error" in chunk);
  if (broken) {
    fail(`error event: ${JSON.stringify(broken).slice(0, 160)}`);
    return;
  }
  const usage = (chunks.at(-1) as { usage?: { prompt_tokens: number; completion_tokens: number } }).usage;
  tally.ok++;
  tally.promptTokens += usage?.prompt_tokens ?? 0;
  tally.completionTokens += usage?.completion_tokens ?? 0;
  const providers = chunks
    .map((chunk) => (chunk as { opengateway?: { providers: string[] } }).opengateway?.providers)
    .find((list) => list !== undefined);
  if ((providers?.length ?? 0) > 1) tally.failedOver++;
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "opengateway-soak-"));
  const keysFile = join(home, "soak-api-keys.txt");
  writeFileSync(keysFile, `${STREAM_KEYS.join("\n")}\n`);
  const devnet = await startDevnet({
    nodes: NODES,
    model: BENCH_MODEL_PATH,
    host: "127.0.0.1",
    port: 0,
    apiKey: API_KEY,
    home,
    nodeArgs: ["--gpu", "off", "--parallel", "2", "--threads", "1"],
    // Streams plus the bench's own wallet reads share one client address.
    gatewayArgs: [
      "--provider-idle-timeout-ms",
      "10000",
      "--api-keys-file",
      keysFile,
      "--max-connections-per-client",
      String(STREAMS + 16),
    ],
    onOutput: () => {},
  });
  const get = async (path: string, apiKey = API_KEY) =>
    (await (await fetch(`${devnet.url}${path}`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as Record<
      string,
      unknown
    >;
  try {
    while (((await get("/opengateway/network")).peers as unknown[]).length < NODES) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const rss = () => ({
      relay: rssMiB(devnet.relay.process.pid),
      gateway: rssMiB(devnet.gateway.process.pid),
      nodes: devnet.nodes.map((node) => rssMiB(node.process.pid)),
    });
    const balances = async () => {
      const wallets = await Promise.all(STREAM_KEYS.map((key) => get("/opengateway/wallet", key)));
      return { total: wallets.reduce((sum, wallet) => sum + Number(wallet.balance), 0), ledger: wallets[0]?.ledger };
    };
    const walletBefore = await balances();
    const rssStart = rss();
    const tally: Tally = { ok: 0, documented429: 0, errors: new Map(), promptTokens: 0, completionTokens: 0, failedOver: 0 };
    const started = Date.now();
    const deadline = started + DURATION_MS;
    let kills = 0;
    const chaos = (async () => {
      for (let next = started + KILL_EVERY_MS; next < deadline; next += KILL_EVERY_MS) {
        await new Promise((resolve) => setTimeout(resolve, next - Date.now()));
        const node = devnet.nodes[kills % devnet.nodes.length];
        if (node) await devnet.restartNode(node);
        kills++;
      }
    })();
    await Promise.all(
      STREAM_KEYS.map(async (key) => {
        while (Date.now() < deadline) await oneStream(devnet.url, key, tally);
      }),
    );
    await chaos;
    const rssEnd = rss();
    // Settlements run behind the answers: give the last ones a moment.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const walletAfter = await balances();
    const spent = walletBefore.total - walletAfter.total;
    console.log(
      JSON.stringify(
        {
          durationS: Math.round((Date.now() - started) / 1000),
          streams: STREAMS,
          nodes: NODES,
          killsAndRestarts: kills,
          completed: tally.ok,
          failedOverMidStream: tally.failedOver,
          documented429: tally.documented429,
          otherErrors: Object.fromEntries(tally.errors),
          usageToldClients: { promptTokens: tally.promptTokens, completionTokens: tally.completionTokens },
          ledger: walletAfter.ledger,
          creditsCharged: spent,
          rssMiB: { start: rssStart, end: rssEnd },
        },
        null,
        2,
      ),
    );
  } finally {
    await devnet.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
