import assert from "node:assert/strict";
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { StatusReport } from "./run-status-command.js";
import { CliNode } from "./test-support/cli-node.js";
import { opengateway } from "./test-support/run-cli.js";

const TEST_MODEL = process.env.OPENGATEWAY_TEST_MODEL;

describe("opengateway setup, then node start with no flags, status, chat, identity and models", {
  skip: TEST_MODEL ? false : "OPENGATEWAY_TEST_MODEL is not set",
}, () => {
  let home: string;
  let env: Record<string, string>;
  const nodes: CliNode[] = [];
  let address = "";
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
        // 2^4 tries of the network's 16 MiB Argon2id: a couple of seconds.
        ["setup", "--yes", "--model", url, "--registration-difficulty", "4", "--listen", "/ip4/127.0.0.1/tcp/0"],
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
        registrationDifficulty: 4,
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

    // The second run watches a temperature sensor this test controls (set through the config).
    const sensor = join(home, "sensor-temp");
    writeFileSync(sensor, "40000\n");
    assert.equal((await opengateway(["config", "set", "thermalSensor", sensor], env)).code, 0);
    const second = new CliNode([], env);
    nodes.push(second);
    // The guard's first reading may come a moment after the node reports itself registered.
    const after = await second.status(
      env,
      (report) => registered(report) && report.running && report.temperature?.celsius === 40,
    );
    assert.deepEqual(after.running && after.temperature, { state: "normal", celsius: 40 });
    writeFileSync(sensor, "99000\n");
    await second.status(env, (report) => report.running && report.state === "paused" && report.temperature?.celsius === 99);
    writeFileSync(sensor, "88000\n");
    await second.status(env, (report) => report.running && report.state === "throttled");
    writeFileSync(sensor, "40000\n");
    await second.status(env, (report) => report.running && report.state === "serving");
    assert.ok(after.running);
    assert.equal(after.peerId, before.peerId);
    assert.equal(after.ledger?.balance, before.ledger?.balance);
    address = after.addresses[0] as string;
  });

  it("answers chat through the real CLI, paid from the wallet identity, and shows its identity and models", async () => {
    const chatHome = mkdtempSync(join(tmpdir(), "opengateway-chat-"));
    try {
      const chat = await opengateway(
        // --local for a grant of its own on this machine; the node's network puzzle (not the devnet's).
        [
          "chat",
          "--peer",
          address,
          "--local",
          "--registration-difficulty",
          "4",
          "--registration-memory",
          "16384",
          "--max-tokens",
          "12",
          "Once upon a time",
        ],
        { OPENGATEWAY_HOME: chatHome },
        { timeoutMs: 120_000 },
      );
      assert.equal(chat.code, 0, chat.stderr);
      assert.ok(chat.stdout.trim().length > 0, "a reply was streamed");
      assert.match(chat.stderr, /\(stories260K on 12D3KooW\w+: \d+ credits, balance \d+ for 12D3KooW\w+\)/);
    } finally {
      rmSync(chatHome, { recursive: true, force: true });
    }

    const shown = await opengateway(["identity", "show", "--json"], env);
    const peerId = (JSON.parse(shown.stdout) as { identity: string }).identity;
    assert.equal(address.endsWith(`/p2p/${peerId}`), true);
    const exported = await opengateway(["identity", "export"], { ...env, OPENGATEWAY_EXPORT_PASSPHRASE: "moving" });
    assert.equal(exported.code, 0, exported.stderr);
    const elsewhere = mkdtempSync(join(tmpdir(), "opengateway-import-"));
    try {
      writeFileSync(join(elsewhere, "backup.json"), exported.stdout);
      const imported = await opengateway(["identity", "import", "--from", join(elsewhere, "backup.json"), "--json"], {
        OPENGATEWAY_HOME: elsewhere,
        OPENGATEWAY_IMPORT_PASSPHRASE: "moving",
      });
      assert.equal(imported.code, 0, imported.stderr);
      assert.equal((JSON.parse(imported.stdout) as { identity: string }).identity, peerId);
      const again = await opengateway(["identity", "import", "--from", join(elsewhere, "backup.json")], {
        OPENGATEWAY_HOME: elsewhere,
      });
      assert.match(again.stderr, /already holds a node identity/);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }

    const models = await opengateway(["models", "list", "--json"], env);
    assert.deepEqual(
      (JSON.parse(models.stdout) as Array<{ id: string; serving: boolean }>).map(({ id, serving }) => ({ id, serving })),
      [{ id: "stories260K", serving: true }],
    );
    const refused = await opengateway(["models", "rm", "stories260K"], env);
    assert.match(refused.stderr, /is the model this node serves/);
    const recommend = await opengateway(["models", "recommend", "--json"], env, { timeoutMs: 60_000 });
    const advice = JSON.parse(recommend.stdout) as { recommended: string | null; models: Array<{ id: string; fits: boolean }> };
    assert.equal(advice.models.length, 6);
    if (advice.recommended !== null) assert.ok(advice.models.find((model) => model.id === advice.recommended)?.fits);
    const doctor = await opengateway(["doctor", "--json"], env);
    assert.equal(doctor.code, 0, doctor.stderr);
    const checks = JSON.parse(doctor.stdout) as Array<{ name: string; level: string }>;
    assert.ok(checks.some((check) => check.name === "node.js" && check.level === "ok"));
    assert.ok(checks.some((check) => check.name === "port 4001"));
  });
});
