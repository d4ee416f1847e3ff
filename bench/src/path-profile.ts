/**
 * Where the per-request CPU of our path goes (issue #15): starts a local network (gateway and full
 * node, each its own process), warms it up, then sends BENCH_PROFILE_REQUESTS streamed requests
 * (max_tokens BENCH_PROFILE_MAX_TOKENS, default 1; BENCH_PROFILE_IN_FLIGHT at once, default 8)
 * and prints requests/s. Run it under
 * `node --cpu-prof --cpu-prof-dir=DIR bench/dist/path-profile.js`: the forked gateway and node
 * inherit the flag and each write a .cpuprofile on exit (open them in Chrome DevTools or speedscope).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalNetwork } from "@opengateway/cli";
import OpenAI from "openai";
import { BENCH_MODEL_PATH } from "./bench-workload.js";

const modelPath = BENCH_MODEL_PATH;
const REQUESTS = Number(process.env.BENCH_PROFILE_REQUESTS ?? 400);
const IN_FLIGHT = Number(process.env.BENCH_PROFILE_IN_FLIGHT ?? 8);
/** 1 profiles the per-request cost; 64 with one in flight, the per-token cost of a stream. */
const MAX_TOKENS = Number(process.env.BENCH_PROFILE_MAX_TOKENS ?? 1);

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
          const messages = [{ role: "user" as const, content: "Once upon a time" }];
          if (MAX_TOKENS === 1) await client.chat.completions.create({ model: "stories260K", messages, max_tokens: 1 });
          else {
            const stream = await client.chat.completions.create({
              model: "stories260K",
              messages,
              max_tokens: MAX_TOKENS,
              // As the side-by-side bench: the answer runs to max_tokens.
              logit_bias: { "2": -100 },
              stream: true,
            });
            for await (const _chunk of stream);
          }
        }
      }),
    );
  };
  await run(50);
  const started = performance.now();
  await run(REQUESTS);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${REQUESTS} requests of max_tokens ${MAX_TOKENS}, ${IN_FLIGHT} in flight: ${(REQUESTS / seconds).toFixed(1)} requests/s`,
  );
} finally {
  await network.stop();
  rmSync(home, { recursive: true, force: true });
}
