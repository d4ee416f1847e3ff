// Registration proof-of-work (issue 13): tries per second of our solver (the JS every registrant
// runs: CLI, SDK, browser tab) against the best native solver we could write here
// (bench/native/registration-pow.c: libsodium's Argon2id, OpenSSL's SHA-256, one thread per core),
// for the memory-hard puzzle and for the old SHA-256 one. Needs a C compiler, libsodium and
// OpenSSL's headers (Debian: gcc, libsodium23, libssl-dev); without them it prints only our figures.
//   node bench/dist/registration-pow-bench.js
import { execFileSync } from "node:child_process";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_REGISTRATION_MEMORY_KIB, registrationPowDigest } from "@opengateway/ledger";
import { base64url } from "@opengateway/protocol";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const publicKey = new Uint8Array(32).fill(3);
const fingerprintHash = base64url.encode(new Uint8Array(32).fill(7));

function jsTriesPerSecond(memoryKiB: number): number {
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  let tries = 0;
  while (performance.now() < end) registrationPowDigest(publicKey, fingerprintHash, tries++, memoryKiB);
  return tries / ((performance.now() - start) / 1000);
}

function native(kind: string, memoryKiB: number, threads: number): { digest0: string; triesPerSecond: number } | null {
  const source = join(dirname(fileURLToPath(import.meta.url)), "..", "native", "registration-pow.c");
  const binary = join(tmpdir(), "opengateway-registration-pow");
  try {
    execFileSync("cc", ["-O3", "-march=native", "-o", binary, source, "-l:libsodium.so.23", "-lcrypto", "-lpthread"]);
    const out = execFileSync(binary, [kind, String(memoryKiB), String(threads), String(SECONDS)], { encoding: "utf8" });
    return JSON.parse(out) as { digest0: string; triesPerSecond: number };
  } catch (error) {
    console.log(`native solver unavailable: ${error instanceof Error ? error.message.split("\n")[0] : error}`);
    return null;
  }
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const cores = cpus().length;
console.log(`registration PoW, ${cores} cores, Node ${process.version}, ${SECONDS} s per figure`);
for (const [kind, memoryKiB] of [
  ["argon2id", DEFAULT_REGISTRATION_MEMORY_KIB],
  ["sha256", 0],
] as const) {
  const ours = jsTriesPerSecond(memoryKiB);
  const one = native(kind, memoryKiB, 1);
  const all = native(kind, memoryKiB, cores);
  const same = one?.digest0 === hex(registrationPowDigest(publicKey, fingerprintHash, 0, memoryKiB));
  console.log(
    `${kind}${memoryKiB ? ` ${memoryKiB} KiB` : ""}: ours ${ours.toFixed(1)} tries/s (1 thread)` +
      (one && all
        ? `; native ${one.triesPerSecond.toFixed(1)}/s on 1 thread, ${all.triesPerSecond.toFixed(1)}/s on ${cores}` +
          ` (same digests: ${same}); ratio ${(one.triesPerSecond / ours).toFixed(1)}× per thread, ` +
          `${(all.triesPerSecond / ours).toFixed(1)}× machine vs our solver`
        : ""),
  );
}
