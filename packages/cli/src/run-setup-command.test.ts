import assert from "node:assert/strict";
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { StatusReport } from "./run-status-command.js";
import { CliNode } from "./test-support/cli-node.js";
import { opengateway } from "./test-support/run-cli.js";

const TEST_MODEL = process.env.OPENGATEWAY_TEST_MODEL;

describe("opengateway setup, then node start with no flags", {
  skip: TEST_MODEL ? false : "OPENGATEWAY_TEST_MODEL is not set",
}, () => {
  let home: string;
  let env: Record<string, string>;
  const nodes: CliNode[] = [];
  before(() => {
    home = mkdtempSync(join(tmpdir(), "opengateway-setup-"));
    env = { OPENGATEWAY_HOME: home };
  });
  after(async () => {
    for (const node of nodes) await node.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it("profiles, registers, downloads the model with progress and writes the config", async () => {
    const model = TEST_MODEL as string;
    // The model comes over HTTP, as from Hugging Face, from a server on loopback.
    const server = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "application/octet-stream", "content-length": statSync(model).size });
      createReadStream(model).pipe(response);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${basename(model)}`;
    try {
      const setup = await opengateway(
        ["setup", "--yes", "--model", url, "--registration-difficulty", "8", "--listen", "/ip4/127.0.0.1/tcp/0"],
        env,
        { timeoutMs: 120_000 },
      );
      assert.equal(setup.code, 0, setup.stderr);
      assert.match(setup.stdout, /1\. This machine\n {2}CPU {8}.+, \d+ cores/);
      assert.match(setup.stdout, /→ \d\. \S+/, "a model is recommended");
      assert.match(setup.stdout, /created +12D3KooW\w+/);
      assert.match(setup.stderr, /Registered: proof of work done/);
      assert.match(setup.stderr, /Downloaded .*stories260K\.gguf {2}1\.2 MB/);
      const config = JSON.parse(readFileSync(join(home, "config.json"), "utf8"));
      assert.deepEqual(config, {
        model: join(home, "models", basename(model)),
        listen: ["/ip4/127.0.0.1/tcp/0"],
        registrationDifficulty: 8,
      });
      assert.equal(statSync(config.model).size, statSync(model).size);
    } finally {
      server.close();
    }
    const again = await opengateway(["setup", "--yes"], env, { timeoutMs: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /kept +12D3KooW/, "a second setup keeps the identity and the config's model");
  });

  it("serves from the config, and a restart keeps the peer id and the balance", async () => {
    const registered = (report: StatusReport) =>
      report.running && report.ledger?.registered === true && report.ledger.balance > 0;
    const first = new CliNode([], env);
    nodes.push(first);
    const before = await first.status(env, registered);
    assert.ok(before.running);
    assert.deepEqual(before.models, ["stories260K"]);
    assert.equal(before.modelPath, join(home, "models", "stories260K.gguf"));
    assert.equal(await first.stop(), 0);

    const stopped = await opengateway(["status", "--json"], env);
    assert.deepEqual(JSON.parse(stopped.stdout), { running: false, state: "stopped", peerId: before.peerId });

    const second = new CliNode([], env);
    nodes.push(second);
    const after = await second.status(env, registered);
    assert.ok(after.running);
    assert.equal(after.peerId, before.peerId);
    assert.equal(after.ledger?.balance, before.ledger?.balance);
    assert.equal(await second.stop(), 0);
  });
});
