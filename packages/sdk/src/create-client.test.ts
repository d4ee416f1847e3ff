import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { createServer } from "node:net";
import { after, describe, it } from "node:test";
import { generateIdentity } from "@opengateway/protocol";
import { createClient } from "./create-client.js";
import { NetworkUnreachableError } from "./reach-network.js";

/** A loopback TCP port with nothing behind it: dials are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("createClient without a reachable network", () => {
  const sockets: Socket[] = [];
  // Accepts TCP and never answers the handshake: a peer that is there but does not speak.
  const silent = createServer((socket) => sockets.push(socket));
  after(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });

  it("fails at once with NetworkUnreachableError when no bootstrap or peer is given", async () => {
    await assert.rejects(createClient(), (error: unknown) => {
      assert.ok(NetworkUnreachableError.isInstance(error));
      assert.match(String((error as Error).message), /no address to join the network through: pass `bootstrap`/);
      return true;
    });
  });

  it("fails fast, saying how long it waited and why, when every address refuses", async () => {
    const peer = `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${generateIdentity().id}`;
    const started = Date.now();
    await assert.rejects(createClient({ bootstrap: [peer], peers: [peer] }), (error: unknown) => {
      assert.ok(NetworkUnreachableError.isInstance(error));
      assert.equal((error as NetworkUnreachableError).code, "network_unreachable");
      assert.match(
        (error as Error).message,
        /could not reach any of the 2 bootstrap\/peer addresses \(waited \d+\.\d s, at most 10 s\): \/ip4\/127\.0\.0\.1/,
      );
      return true;
    });
    // Refused dials end the wait: far less than the 10 s it would give a silent address.
    assert.ok(Date.now() - started < 9_000, `took ${Date.now() - started} ms`);
  });

  it("gives up on an address that never answers after connectTimeoutMs", async () => {
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    const peer = `/ip4/127.0.0.1/tcp/${port}/p2p/${generateIdentity().id}`;
    await assert.rejects(createClient({ peers: [peer], connectTimeoutMs: 500 }), (error: unknown) => {
      assert.ok(NetworkUnreachableError.isInstance(error));
      assert.match((error as Error).message, /\(waited \d+\.\d s, at most 0\.5 s\): .*: no answer/);
      return true;
    });
  });
});
