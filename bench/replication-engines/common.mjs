// Shared helpers: a byte-counting TCP proxy on loopback, timing and formatting.
import net from "node:net";

/** Listens on 127.0.0.1:<random>, forwards every connection to `targetPort`, counts bytes both ways. */
export async function countingProxy(targetPort) {
  const counts = { toTarget: 0, fromTarget: 0, connections: 0 };
  const sockets = new Set();
  const server = net.createServer((client) => {
    counts.connections++;
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
    client.on("data", (d) => {
      counts.toTarget += d.length;
    });
    upstream.on("data", (d) => {
      counts.fromTarget += d.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    counts,
    total: () => counts.toTarget + counts.fromTarget,
    reset: () => {
      counts.toTarget = 0;
      counts.fromTarget = 0;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export function argument(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  const value = index === -1 ? undefined : Number(process.argv[index + 1]);
  return value !== undefined && Number.isSafeInteger(value) && value > 0 ? value : fallback;
}

export const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
export const rate = (count, ms) => `${Math.round(count / (ms / 1000)).toLocaleString("en-US")}/s`;
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A ledger-like payload of PAYLOAD_BYTES bytes of JSON: about the size of an OpenGateway ledger block
 * without its own signature (the ledger bench's blocks average ~440 bytes of JSON with `sig`), so
 * bytes on the wire compare like for like. The engines add their own signatures and framing.
 */
export const PAYLOAD_BYTES = 350;
export function payload(i, account) {
  const head = {
    kind: "send",
    account,
    height: i,
    to: `acct-${(i * 7919) % 1000}`,
    amount: 1 + (i % 5000),
    timestamp: 1_700_000_000_000 + i * 1000,
    memo: "",
  };
  const filler = PAYLOAD_BYTES - JSON.stringify(head).length;
  let memo = "";
  let x = (i + 1) * 2654435761;
  while (memo.length < filler) {
    x = (x * 1103515245 + 12345) % 2147483648;
    memo += "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[x % 64];
  }
  return { ...head, memo };
}

export async function waitFor(check, { timeoutMs = 600_000, everyMs = 20 } = {}) {
  const started = Date.now();
  for (;;) {
    if (await check()) return;
    if (Date.now() - started > timeoutMs) throw new Error("timed out waiting");
    await sleep(everyMs);
  }
}
