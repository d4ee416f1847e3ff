import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { opengateway } from "./test-support/run-cli.js";

describe("opengateway config", () => {
  let home: string;
  let env: Record<string, string>;
  before(() => {
    home = mkdtempSync(join(tmpdir(), "opengateway-config-"));
    env = { OPENGATEWAY_HOME: home };
  });
  after(() => rmSync(home, { recursive: true, force: true }));

  it("sets, gets, lists and unsets settings in <home>/config.json, typed by the setting", async () => {
    const path = await opengateway(["config", "path"], env);
    assert.equal(path.stdout.trim(), join(home, "config.json"));
    for (const [key, value] of [
      ["parallel", "2"],
      ["region", "europe"],
      ["relay", "true"],
      ["bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/a,/ip4/127.0.0.1/tcp/2/p2p/b"],
    ]) {
      const set = await opengateway(["config", "set", key as string, value as string], env);
      assert.equal(set.code, 0, set.stderr);
    }
    assert.deepEqual(JSON.parse(readFileSync(join(home, "config.json"), "utf8")), {
      parallel: 2,
      region: "europe",
      relay: true,
      bootstrap: ["/ip4/127.0.0.1/tcp/1/p2p/a", "/ip4/127.0.0.1/tcp/2/p2p/b"],
    });
    assert.equal((await opengateway(["config", "get", "region"], env)).stdout, "europe\n");
    const listed = await opengateway(["config", "list", "--json"], env);
    assert.equal(JSON.parse(listed.stdout).parallel, 2);
    assert.equal((await opengateway(["config", "unset", "relay"], env)).code, 0);
    const unset = await opengateway(["config", "get", "relay"], env);
    assert.equal(unset.code, 1, "an unset setting prints nothing and exits 1");
    assert.equal(unset.stdout, "");
  });

  it("refuses unknown keys and invalid values with one plain sentence, writing nothing", async () => {
    const before = readFileSync(join(home, "config.json"), "utf8");
    const cases: Array<[string[], RegExp]> = [
      [["config", "set", "colour", "blue"], /^opengateway: 'colour' is not a setting \(known: model, .*\)\.\n$/],
      [["config", "set", "parallel", "many"], /^opengateway: parallel cannot be 'many'/],
      [["config", "set", "region", "atlantis"], /^opengateway: region cannot be 'atlantis'/],
      [["config", "set", "bootstrap", "not-a-multiaddr"], /^opengateway: bootstrap cannot be 'not-a-multiaddr'/],
      [["config", "get", "colour"], /'colour' is not a setting/],
    ];
    for (const [args, message] of cases) {
      const run = await opengateway(args, env);
      assert.notEqual(run.code, 0, args.join(" "));
      assert.match(run.stderr, message);
      assert.ok(!run.stderr.includes("    at "), "no stack without --verbose");
    }
    assert.equal(readFileSync(join(home, "config.json"), "utf8"), before);
  });

  it("is read by every command, which refuses a file with an unknown key or a bad value", async () => {
    const broken = mkdtempSync(join(tmpdir(), "opengateway-config-broken-"));
    try {
      writeFileSync(join(broken, "config.json"), JSON.stringify({ modle: "x.gguf" }));
      for (const args of [
        ["node", "start"],
        ["gateway", "start", "--api-key", "k"],
        ["wallet", "show"],
        ["config", "list"],
      ]) {
        const run = await opengateway(args, { OPENGATEWAY_HOME: broken });
        assert.notEqual(run.code, 0, args.join(" "));
        assert.match(run.stderr, /config\.json: 'modle' is not a setting/, `${args.join(" ")}: ${run.stderr}`);
      }
      writeFileSync(join(broken, "config.json"), JSON.stringify({ parallel: 0 }));
      const bad = await opengateway(["node", "start", "--home", broken]);
      assert.match(bad.stderr, /config\.json: parallel is invalid/);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });

  it("gives way to flags and to environment variables", async () => {
    const own = mkdtempSync(join(tmpdir(), "opengateway-config-order-"));
    try {
      writeFileSync(join(own, "config.json"), JSON.stringify({ model: join(own, "from-config.gguf"), port: 1 }));
      const fromConfig = await opengateway(["node", "start", "--no-credits"], { OPENGATEWAY_HOME: own });
      assert.match(fromConfig.stderr, /from-config\.gguf/, fromConfig.stderr);
      const fromFlag = await opengateway(["node", "start", "--no-credits", "--model", join(own, "from-flag.gguf")], {
        OPENGATEWAY_HOME: own,
      });
      assert.match(fromFlag.stderr, /from-flag\.gguf/, fromFlag.stderr);
      const fromEnv = await opengateway(["start"], {
        OPENGATEWAY_HOME: own,
        OPENGATEWAY_MODEL: join(own, "from-env.gguf"),
        OPENGATEWAY_PORT: "0",
      });
      assert.match(fromEnv.stderr, /from-env\.gguf/, fromEnv.stderr);
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });
});
