import "@opengateway/p2p/node-runtime";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Libp2p } from "@libp2p/interface";
import { LOCAL_LEDGER_PARAMS } from "@opengateway/ledger";
import { createLibp2pNode, ledgerReplica } from "@opengateway/p2p";
import { generateIdentity, OpenGatewayError } from "@opengateway/protocol";
import { createClient, RegistrationTimeoutError } from "./create-client.js";
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

/** One peer that keeps a ledger and nothing else: each client reconciles with it, then registers. */
describe("createClient pays from its own account by default", { timeout: 120_000 }, () => {
  let peer: Libp2p;
  let bootstrap: string[];
  before(async () => {
    peer = await createLibp2pNode({
      identity: generateIdentity(),
      listen: ["/ip4/127.0.0.1/tcp/0"],
      localNetwork: true,
      services: { ledger: ledgerReplica({ params: LOCAL_LEDGER_PARAMS }) },
    });
    bootstrap = peer.getMultiaddrs().map((address) => address.toString());
  });
  after(() => peer?.stop());

  it("registers a new identity (proof-of-work, then the grant) before it resolves: balance() is its account", async () => {
    const identity = generateIdentity();
    const client = await createClient({ identity, bootstrap, localNetwork: true, waitForProvidersMs: 0 });
    try {
      const account = client.wallet.balance();
      assert.ok(account, "the client keeps a ledger by default");
      assert.equal(account.identity, identity.id);
      assert.equal(account.registered, true);
      assert.equal(account.balance, 100_000);
    } finally {
      await client.close();
    }
  });

  it("pays nothing with ledger: false (a private network's providers check no payers)", async () => {
    const client = await createClient({ bootstrap, ledger: false, waitForProvidersMs: 0 });
    try {
      assert.equal(client.wallet.balance(), null);
    } finally {
      await client.close();
    }
  });

  it("gives up registering after registrationTimeoutMs, with a typed error, and stops its node", async () => {
    const started = Date.now();
    await assert.rejects(
      // 2^40 hashes: days of work, so only the bound can end it.
      createClient({
        bootstrap,
        ledger: { params: { registrationDifficultyBits: 40 }, registrationTimeoutMs: 7_000 },
        waitForProvidersMs: 0,
      }),
      (error: unknown) =>
        error instanceof RegistrationTimeoutError &&
        OpenGatewayError.isInstance(error) &&
        error.code === "registration_timeout" &&
        /7000 ms/.test(error.message),
    );
    assert.ok(Date.now() - started < 60_000, "bounded");
  });

  it("stops registering when the caller's signal aborts, rejecting with its reason", async () => {
    const controller = new AbortController();
    const reason = new Error("the caller gave up");
    setTimeout(() => controller.abort(reason), 6_000);
    await assert.rejects(
      createClient({
        bootstrap,
        ledger: { params: { registrationDifficultyBits: 40 } },
        signal: controller.signal,
        waitForProvidersMs: 0,
      }),
      (error: unknown) => error === reason,
    );
  });
});
