import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Devnet } from "@opengateway/cli";
import { startDevnet } from "@opengateway/cli";
import { testModelPath } from "./test-model.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const APP = fileURLToPath(new URL("../sdk-package/", import.meta.url));
/** The SDK and the workspace packages it depends on, packed as they would be published. */
const PACKED = ["protocol", "ledger", "p2p", "sdk"];
const PNPM = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { packageManager: string }).packageManager;

const pnpm = (cwd: string, args: string[]) => run("npx", ["-y", PNPM, ...args], { cwd, timeout: 180_000 });

/**
 * `@opengateway/sdk` as an app developer gets it: the four packages are packed (`workspace:*`
 * rewritten to versions), installed from the tarballs into a project in a temp dir outside the
 * workspace, type-checked there, and a script there reaches a devnet with no workspace code.
 */
describe("the packed SDK in a project outside the workspace", { timeout: 400_000 }, () => {
  let scratch: string;
  let devnet: Devnet;
  let home: string;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "opengateway-sdk-package-"));
    const tarballs = join(scratch, "tarballs");
    mkdirSync(tarballs);
    const tarball: Record<string, string> = {};
    for (const name of PACKED) {
      const manifest = JSON.parse(readFileSync(join(ROOT, "packages", name, "package.json"), "utf8")) as { version: string };
      await pnpm(join(ROOT, "packages", name), ["pack", "--pack-destination", tarballs]);
      tarball[name] = `file:tarballs/opengateway-${name}-${manifest.version}.tgz`;
    }
    writeFileSync(
      join(scratch, "package.json"),
      JSON.stringify({ name: "sdk-app", private: true, type: "module", dependencies: { "@opengateway/sdk": tarball.sdk } }),
    );
    // The SDK's own dependencies on protocol, ledger and p2p name versions no registry has yet:
    // they come from the tarballs too. No native module is built (the SDK needs none).
    writeFileSync(
      join(scratch, "pnpm-workspace.yaml"),
      [
        "overrides:",
        ...["protocol", "ledger", "p2p"].map((name) => `  "@opengateway/${name}": "${tarball[name]}"`),
        "allowBuilds:",
        "  better-sqlite3: false",
        "  node-datachannel: false",
        "",
      ].join("\n"),
    );
    // The workspace's lockfile seeds resolution, so third-party packages resolve to versions the
    // store already holds and the install works offline; --prefer-offline only where it cannot.
    copyFileSync(join(ROOT, "pnpm-lock.yaml"), join(scratch, "pnpm-lock.yaml"));
    await pnpm(scratch, ["install", "--offline", "--no-frozen-lockfile"]).catch(() =>
      pnpm(scratch, ["install", "--prefer-offline", "--no-frozen-lockfile"]),
    );
    for (const file of ["reach-devnet.mjs", "typecheck.ts"]) copyFileSync(join(APP, file), join(scratch, file));

    home = mkdtempSync(join(tmpdir(), "opengateway-sdk-package-devnet-"));
    devnet = await startDevnet({
      nodes: 1,
      model: testModelPath(),
      host: "127.0.0.1",
      port: 0,
      apiKey: "og-unused",
      home,
      nodeArgs: ["--gpu", "off", "--threads", "1"],
      onOutput: () => {},
    });
  });

  after(async () => {
    await devnet?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("packs publishable manifests: versions instead of workspace:*, and no tests or build state", async () => {
    for (const name of PACKED) {
      const { stdout } = await run("tar", [
        "-xzOf",
        join(scratch, "tarballs", `opengateway-${name}-0.1.0.tgz`),
        "package/package.json",
      ]);
      assert.doesNotMatch(stdout, /workspace:/, `${name}'s packed package.json`);
      const { stdout: listing } = await run("tar", ["-tzf", join(scratch, "tarballs", `opengateway-${name}-0.1.0.tgz`)]);
      assert.doesNotMatch(listing, /\.test\.|tsbuildinfo/, `${name}'s tarball`);
      assert.match(listing, /package\/dist\/index\.d\.ts/);
    }
    const installed = realpathSync(join(scratch, "node_modules", "@opengateway", "sdk"));
    assert.ok(installed.startsWith(realpathSync(scratch)), `the SDK is installed in the project, at ${installed}`);
  });

  it("type-checks an app against the packed types (exports, declarations)", async () => {
    writeFileSync(
      join(scratch, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { target: "es2022", module: "nodenext", moduleResolution: "nodenext", strict: true, noEmit: true },
        files: ["typecheck.ts"],
      }),
    );
    await run(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", scratch], { cwd: scratch });
  });

  it("reaches the devnet through its relay and is served, with no workspace code loaded", async () => {
    const bootstrap = devnet.relay.addresses.filter((address) => !address.includes("/ws"));
    const { stdout } = await run(process.execPath, ["reach-devnet.mjs"], {
      cwd: scratch,
      env: { ...process.env, OPENGATEWAY_BOOTSTRAP: bootstrap.join(",") },
      timeout: 180_000,
    });
    const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as {
      sdk: string;
      models: string[];
      content: string;
      usage: { completion_tokens: number };
      streamed: string;
      payer: string;
      receipts: number;
    };
    assert.ok(fileURLToPath(result.sdk).startsWith(join(scratch, "node_modules")), `the SDK came from ${result.sdk}`);
    assert.deepEqual(result.models, ["stories260K"]);
    assert.ok(result.content.length > 0);
    assert.equal(result.usage.completion_tokens, 5);
    assert.ok(result.streamed.length > 0);
    assert.match(result.payer, /^12D3KooW/);
    assert.equal(result.receipts, 2);
  });
});
