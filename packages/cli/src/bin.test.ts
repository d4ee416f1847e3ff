import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { opengateway } from "./test-support/run-cli.js";

const README = fileURLToPath(new URL("../../../README.md", import.meta.url));

/** The `--flags` the README lists in the paragraph that starts with `opener`, up to the next command's. */
function documentedFlags(opener: string, next: string): string[] {
  const readme = readFileSync(README, "utf8");
  const start = readme.indexOf(opener);
  assert.ok(start >= 0, `README has no '${opener}'`);
  const paragraph = readme.slice(start, readme.indexOf(next, start + opener.length));
  return [...new Set(paragraph.match(/`(--[a-z][a-z-]*)/g)?.map((flag) => flag.slice(1)))];
}

describe("the opengateway command", () => {
  let home: string;
  before(() => {
    home = mkdtempSync(join(tmpdir(), "opengateway-cli-"));
  });
  after(() => rmSync(home, { recursive: true, force: true }));

  it("prints its commands with --help, and its version", async () => {
    const help = await opengateway(["--help"]);
    assert.equal(help.code, 0);
    for (const command of [
      "node",
      "gateway",
      "relay",
      "wallet",
      "devnet",
      "start",
      "setup",
      "config",
      "status",
      "service",
      "models",
      "chat",
      "identity",
      "doctor",
    ])
      assert.match(help.stdout, new RegExp(`^\\s+${command}\\b`, "m"), `--help lists '${command}'`);
    const version = await opengateway(["--version"]);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it("gives every command --help with an example", async () => {
    const commands = [
      ["node", "start"],
      ["gateway", "start"],
      ["relay", "start"],
      ["wallet", "balance"],
      ["wallet", "import"],
      ["start"],
      ["devnet"],
      ["config"],
      ["config", "set"],
      ["setup"],
      ["status"],
      ["service", "install"],
      ["service", "status"],
      ["models", "list"],
      ["models", "pull"],
      ["models", "rm"],
      ["models", "recommend"],
      ["chat"],
      ["identity", "show"],
      ["identity", "export"],
      ["identity", "import"],
      ["doctor"],
    ];
    for (const command of commands) {
      const help = await opengateway([...command, "--help"]);
      assert.equal(help.code, 0, `${command.join(" ")}: ${help.stderr}`);
      assert.match(
        help.stdout,
        new RegExp(`Examples?:\\n {2}\\$ (\\S+=\\S+ )?opengateway ${command[0]}`),
        `${command.join(" ")} --help has an example`,
      );
    }
  });

  it("offers every flag the README documents for node start and gateway start", async () => {
    const nodeFlags = documentedFlags("`opengateway node start` options:", "`opengateway gateway start`");
    const gatewayFlags = documentedFlags("`opengateway gateway start`:", "`opengateway relay start`");
    assert.ok(nodeFlags.length > 10 && gatewayFlags.length > 8, "the README's flag lists were found");
    const nodeHelp = await opengateway(["node", "start", "--help"]);
    const gatewayHelp = await opengateway(["gateway", "start", "--help"]);
    assert.equal(nodeHelp.code, 0);
    assert.equal(gatewayHelp.code, 0);
    for (const flag of nodeFlags) assert.ok(nodeHelp.stdout.includes(flag), `node start --help lacks ${flag}`);
    for (const flag of gatewayFlags) assert.ok(gatewayHelp.stdout.includes(flag), `gateway start --help lacks ${flag}`);
  });

  it("refuses bad input with a clear message and a non-zero exit, before starting anything", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["gateway", "start", "--bogus"], /unknown option '--bogus'/],
      [["node", "start", "--model", "m.gguf", "--parallel", "many"], /--parallel must be an integer/],
      [["node", "start", "--model", "m.gguf", "--region", "atlantis"], /--region.*atlantis.*choices/s],
      [["node", "start"], /exactly one of --model and --upstream/],
      [["node", "start", "--model", "m.gguf", "--upstream", "http://127.0.0.1:1/v1"], /exactly one of --model and --upstream/],
      [["node", "start", "--upstream", "http://127.0.0.1:1/v1", "--contribute-port", "0"], /--contribute-port needs --model/],
      [
        ["node", "start", "--upstream", "http://127.0.0.1:1/v1", "--upstream-api-key-env", "OPENGATEWAY_TEST_UNSET_KEY"],
        /OPENGATEWAY_TEST_UNSET_KEY is not set/,
      ],
      [["frobnicate"], /unknown command 'frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const run = await opengateway(args, { OPENGATEWAY_HOME: home });
      assert.notEqual(run.code, 0, `${args.join(" ")} exited 0`);
      assert.match(run.stderr, message, `${args.join(" ")}: ${run.stderr}`);
    }
  });

  it("fails fast, in one plain sentence, on a port in use or a model it cannot get, before starting anything", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const env = { OPENGATEWAY_HOME: home, OPENGATEWAY_MODEL: process.env.OPENGATEWAY_TEST_MODEL ?? "m.gguf" };
      const busy = await opengateway(["start"], { ...env, OPENGATEWAY_PORT: String(port) });
      assert.equal(busy.code, 1);
      assert.equal(
        busy.stderr,
        `opengateway: Port ${port} is already in use: stop what is using it, or choose another port with OPENGATEWAY_PORT=${port + 1}.\n`,
      );
      const gateway = await opengateway(["gateway", "start", "--api-key", "k", "--port", String(port)], env);
      assert.match(gateway.stderr, new RegExp(`^opengateway: Port ${port} is already in use.*OPENGATEWAY_PORT=`));
    } finally {
      server.close();
    }
    // A closed port stands for a host this machine cannot reach (offline).
    const started = Date.now();
    const offline = await opengateway(["start"], {
      OPENGATEWAY_HOME: home,
      OPENGATEWAY_MODEL: "http://127.0.0.1:1/model.gguf",
      OPENGATEWAY_PORT: "0",
    });
    assert.equal(offline.code, 1);
    assert.match(
      offline.stderr,
      /^opengateway: The model http:\/\/127\.0\.0\.1:1\/model\.gguf is not downloaded yet and 127\.0\.0\.1 cannot be reached: .*OPENGATEWAY_MODEL.*\n$/,
    );
    assert.ok(Date.now() - started < 25_000, "no spinner and no ready-timeout first");
    const verbose = await opengateway(["start", "--verbose"], {
      OPENGATEWAY_HOME: home,
      OPENGATEWAY_MODEL: "/nonexistent/model.gguf",
      OPENGATEWAY_PORT: "0",
    });
    assert.match(
      verbose.stderr,
      /^opengateway: There is no model file at \/nonexistent\/model\.gguf: .*\n.*ModelNotAvailableError.*\n\s+at /s,
    );
  });

  it("creates a wallet in its home, shows it, refuses a wrong passphrase, and moves it by export and import", async () => {
    const env = { OPENGATEWAY_HOME: home, OPENGATEWAY_PASSPHRASE: "cli test passphrase" };
    const created = await opengateway(["wallet", "create", "--json"], env);
    assert.equal(created.code, 0, created.stderr);
    const made = JSON.parse(created.stdout) as { identity: string; keyFile: string; encrypted: boolean };
    assert.match(made.identity, /^12D3KooW/);
    assert.equal(made.keyFile, join(home, "wallet-key.json"), "the key file lives in OPENGATEWAY_HOME by default");
    assert.equal(made.encrypted, true);
    assert.ok(!readFileSync(made.keyFile, "utf8").includes('"seed"'), "the key file is encrypted");

    const shown = await opengateway(["wallet", "show", "--json"], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual(JSON.parse(shown.stdout), { identity: made.identity, keyFile: made.keyFile, encrypted: true });

    const again = await opengateway(["wallet", "create"], env);
    assert.notEqual(again.code, 0, "a second create must not overwrite the key");
    const wrong = await opengateway(["wallet", "show"], { ...env, OPENGATEWAY_PASSPHRASE: "not it" });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /wrong passphrase/);

    const exported = await opengateway(["wallet", "export"], env);
    assert.equal(exported.code, 0, exported.stderr);
    const moved = join(home, "moved.json");
    writeFileSync(join(home, "exported.json"), exported.stdout);
    const imported = await opengateway(
      ["wallet", "import", "--from", join(home, "exported.json"), "--key-file", moved, "--json"],
      {
        ...env,
        OPENGATEWAY_PASSPHRASE: "a new passphrase",
        OPENGATEWAY_IMPORT_PASSPHRASE: env.OPENGATEWAY_PASSPHRASE,
      },
    );
    assert.equal(imported.code, 0, imported.stderr);
    const reread = await opengateway(["wallet", "show", "--key-file", moved, "--json"], {
      ...env,
      OPENGATEWAY_PASSPHRASE: "a new passphrase",
    });
    assert.equal((JSON.parse(reread.stdout) as { identity: string }).identity, made.identity);
  });

  it("finds its way into the network without --bootstrap, or says in one sentence how to give one", async () => {
    const env = { OPENGATEWAY_HOME: home, OPENGATEWAY_PASSPHRASE: "cli test passphrase" };
    // The wallet of the test above; no node runs in this home, the built-in lists are empty, mDNS is off.
    const lost = await opengateway(["wallet", "balance", "--no-mdns"], env);
    assert.equal(lost.code, 1);
    assert.match(lost.stderr, /^opengateway: The wallet knows no peer: pass --bootstrap <multiaddr> .*\n$/);
    const bad = await opengateway(["wallet", "balance"], { ...env, OPENGATEWAY_BOOTSTRAP: "/ip4/127.0.0.1/tcp/1,nonsense" });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--bootstrap: 'nonsense' is not a multiaddr/);
  });

  it("doctor reports which bootstrap peers answer: given by flag, by OPENGATEWAY_BOOTSTRAP, or none built in", async () => {
    const listening = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const peer = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNxZzPdX2ZzwW4pgt6hBPGM";
    const up = `/ip4/127.0.0.1/tcp/${(listening.address() as AddressInfo).port}/p2p/${peer}`;
    const down = `/ip4/127.0.0.1/tcp/${closedPort}/p2p/${peer}`;
    const bootstrapCheck = async (args: string[], env: Record<string, string> = {}) => {
      const doctor = await opengateway(["doctor", "--json", ...args], { OPENGATEWAY_HOME: home, ...env });
      assert.equal(doctor.code, 0, doctor.stderr);
      return (JSON.parse(doctor.stdout) as Array<{ name: string; level: string; detail: string }>).find(
        (check) => check.name === "bootstrap peers",
      );
    };
    try {
      const flagged = await bootstrapCheck(["--bootstrap", up, down]);
      assert.equal(flagged?.level, "ok");
      assert.match(flagged?.detail ?? "", new RegExp(`^1 of 2 reachable \\(given\\): ${up} \\d+ ms$`));
      const fromEnv = await bootstrapCheck([], { OPENGATEWAY_BOOTSTRAP: `${down},${down}` });
      assert.equal(fromEnv?.level, "fail");
      assert.match(fromEnv?.detail ?? "", /^none of 2 reachable \(given\)$/);
      const none = await bootstrapCheck([]);
      assert.equal(none?.level, "warn");
      assert.match(none?.detail ?? "", /the built-in list.* is empty \(no public bootstrap relay runs yet\)/);
    } finally {
      listening.close();
    }
  });
});
