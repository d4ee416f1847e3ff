import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chooseBootstrap, DEFAULT_BOOTSTRAP_PEERS } from "./bootstrap-peers.js";
import { tcpTargets } from "./detect-region.js";

const peer = (n: number) => `/ip4/192.0.2.${n}/tcp/4001/p2p/12D3KooWPeer${n}`;

describe("bootstrap peers per region", () => {
  it("takes the peers given, else the region's list first and then the others', once each", () => {
    assert.deepEqual(chooseBootstrap({ given: [peer(1)], region: "europe", overrides: { europe: [peer(2)] } }), {
      addresses: [peer(1)],
      source: "given",
      region: "europe",
    });
    const overrides = { europe: [peer(2), peer(3)], asia: [peer(4), peer(2)] };
    assert.deepEqual(chooseBootstrap({ given: [], region: "asia", overrides }).addresses, [peer(4), peer(2), peer(3)]);
    assert.deepEqual(chooseBootstrap({ region: "europe", overrides }).addresses, [peer(2), peer(3), peer(4)]);
    // No region given: the time zone's.
    const guessed = chooseBootstrap({ overrides, timeZone: "Asia/Tokyo" });
    assert.equal(guessed.region, "asia");
    assert.deepEqual(guessed.addresses[0], peer(4));
  });

  it("is honest that no public bootstrap peer exists yet", () => {
    assert.deepEqual(Object.values(DEFAULT_BOOTSTRAP_PEERS).flat(), []);
    assert.deepEqual(chooseBootstrap({ region: "europe" }).addresses, []);
  });

  it("finds the TCP targets behind an address, /dnsaddr/ ones through their TXT records (that peer's only, nested too)", async () => {
    const records: Record<string, string[][]> = {
      "_dnsaddr.bootstrap.example.org": [
        ["dnsaddr=/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWA"],
        ["dnsaddr=/ip4/192.0.2.2/tcp/4001/p2p/12D3KooWB"],
        ["dnsaddr=/dnsaddr/eu.bootstrap.example.org/p2p/12D3KooWA"],
        ["unrelated=record"],
      ],
      "_dnsaddr.eu.bootstrap.example.org": [["dnsaddr=/dns4/eu1.example.org/tcp/4002/p2p/12D3KooWA"]],
    };
    const asked: string[] = [];
    const resolveTxt = async (name: string) => {
      asked.push(name);
      const found = records[name];
      if (found === undefined) throw new Error(`ENOTFOUND ${name}`);
      return found;
    };
    assert.deepEqual(await tcpTargets("/ip4/192.0.2.9/tcp/4001/p2p/12D3KooWX", { resolveTxt }), [
      { host: "192.0.2.9", port: 4001 },
    ]);
    assert.deepEqual(asked, [], "a plain address needs no lookup");
    assert.deepEqual(await tcpTargets("/dnsaddr/bootstrap.example.org/p2p/12D3KooWA", { resolveTxt }), [
      { host: "192.0.2.1", port: 4001 },
      { host: "eu1.example.org", port: 4002 },
    ]);
    assert.equal((await tcpTargets("/dnsaddr/bootstrap.example.org", { resolveTxt })).length, 3);
    assert.deepEqual(await tcpTargets("/dnsaddr/missing.example.org/p2p/12D3KooWA", { resolveTxt }), []);
    assert.deepEqual(await tcpTargets("/ip4/192.0.2.9/udp/4001/quic-v1", { resolveTxt }), []);
  });
});
