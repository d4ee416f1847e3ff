import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { NetworkProcess } from "@opengateway/cli";
import { LOOPBACK_LISTEN, NetworkProcess as Process } from "@opengateway/cli";
import { LOCAL_REGISTRATION_DIFFICULTY_BITS, LOCAL_REGISTRATION_MEMORY_KIB } from "@opengateway/ledger";
import { testModelPath } from "./test-model.js";

/** A full node serves the contributor page itself, offering tabs its own model file and itself as their relay. */
describe("a full node serving the contributor page (--contribute-port)", { timeout: 120_000 }, () => {
  let home: string;
  let node: NetworkProcess;
  let page: string;
  let addresses: string[];

  before(async () => {
    home = mkdtempSync(join(tmpdir(), "opengateway-node-page-"));
    node = Process.spawn(
      [
        "node",
        "start",
        "--model",
        testModelPath(),
        "--home",
        home,
        "--local",
        "--relay",
        "--gpu",
        "off",
        "--threads",
        "1",
        "--contribute-port",
        "0",
        ...LOOPBACK_LISTEN,
      ],
      "node",
      () => {},
    );
    const ready = await node.readyAs("node", 60_000);
    assert.ok(ready.contributeUrl, "the ready message names the page");
    page = ready.contributeUrl;
    addresses = ready.addresses;
  });

  after(async () => {
    await node?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("serves the page, a config that names this node as the tabs' relay, and its model file", async () => {
    const html = await fetch(page);
    assert.equal(html.status, 200);
    assert.match(await html.text(), /<title>[^<]*Contribute/i);
    const config = (await (await fetch(new URL("config.json", page))).json()) as {
      bootstrap: string[];
      models: Array<{ url: string; sizeBytes: number }>;
      ledger: { registrationDifficultyBits: number; registrationMemoryKiB?: number; perAccountGrant: boolean } | null;
      localNetwork: boolean;
    };
    assert.ok(config.bootstrap.length > 0);
    for (const address of config.bootstrap) {
      assert.ok(address.includes("/ws/"), `${address} is a WebSocket address`);
      assert.ok(addresses.includes(address), `${address} is one of the node's own`);
    }
    const size = statSync(testModelPath()).size;
    assert.deepEqual(config.models, [{ url: "models/stories260K.gguf", sizeBytes: size }]);
    assert.deepEqual(config.ledger, {
      registrationDifficultyBits: LOCAL_REGISTRATION_DIFFICULTY_BITS,
      registrationMemoryKiB: LOCAL_REGISTRATION_MEMORY_KIB,
      perAccountGrant: true,
      lockedCreditsTravel: false,
    });
    assert.equal(config.localNetwork, true);
    const model = await fetch(new URL(config.models[0]?.url ?? "", page), { method: "HEAD" });
    assert.equal(model.status, 200);
    assert.equal(model.headers.get("content-length"), String(size));
    assert.equal((await fetch(new URL("models/other.gguf", page), { method: "HEAD" })).status, 404);
  });
});
