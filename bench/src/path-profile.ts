/**
 * Where the per-request CPU of our path goes (issue #15): starts a local network (gateway and full
 * node, each its own process), warms it up, then sends BENCH_PROFILE_REQUESTS small requests
 * (max_tokens 1, 8 in flight) and prints requests/s. Run it under
 * `node --cpu-prof --cpu-prof-dir=DIR bench/dist/path-profile.js`: the forked gateway and node
 * inherit the flag and each write a .cpuprofile on exit (open them in Chrome DevTools or speedscope).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startLocalNetwork } from "@opengateway/cli";
import OpenAI from "openai";

const modelPath =
  process.env.OPENGATEWAY_TEST_MODEL ??
  process.env.OPENGATEWAY_MODEL ??
  fileURLToPath(new URL("../../../shared/models/stories260K.gguf", import.meta.url));
const REQUESTS = Number(process.env.BENCH_PROFILE_REQUESTS ?? 400);
const IN_FLIGHT = 8;

const home = mkdtempSync(join(tmpdir(), "og-path-profile-"));
const network = await startLocalNetwork({
  model: modelPath,
  port: 0,
  host: "127.0.0.1",
  apiKey: "og-bench",
  home,
  nodeArgs: ["--gpu", "off", "--threads", "1", "--parallel", "4"],
  onOutput: () => {},
});
try {
  const client = new OpenAI({ baseURL: network.url, apiKey: "og-bench" });
  const run = async (count: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next++ < count) {
          await client.chat.completions.create({
            model: "stories260K",
            messages: [{ role: "user", content: "Once upon a time" }],
            max_tokens: 1,
          });
        }
      }),
    );
  };
  await run(50);
  const started = performance.now();
  await run(REQUESTS);
  const seconds = (performance.now() - started) / 1000;
  console.log(`${REQUESTS} requests, ${IN_FLIGHT} in flight: ${(REQUESTS / seconds).toFixed(1)} requests/s`);
} finally {
  await network.stop();
  rmSync(home, { recursive: true, force: true });
}
