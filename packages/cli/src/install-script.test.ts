import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { hasCommand } from "./test-support/run-cli.js";

const CHECKOUT = fileURLToPath(new URL("../../../", import.meta.url));
const INSTALL_SH = join(CHECKOUT, "install.sh");
/** A PATH as bare as a new machine's, plus the directory of the node running the tests. */
const BARE_PATH = `${dirname(process.execPath)}:/usr/bin:/bin`;

function bash(
  args: string[],
  env: Record<string, string>,
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile("bash", args, { env, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
    child.stdin?.end(input ?? "");
  });
}

describe("install.sh", () => {
  let home: string;
  let env: Record<string, string>;
  before(() => {
    home = mkdtempSync(join(tmpdir(), "opengateway-install-"));
    env = { HOME: home, PATH: BARE_PATH };
  });
  after(() => rmSync(home, { recursive: true, force: true }));

  it("passes shellcheck (CI installs it; elsewhere the check is skipped when it is missing)", (t) => {
    if (!hasCommand("shellcheck")) {
      assert.notEqual(process.env.CI, "true", "CI must have shellcheck (.ci/run installs it)");
      t.skip("shellcheck is not installed");
      return;
    }
    execFileSync("shellcheck", [INSTALL_SH], { stdio: "pipe" });
  });

  it("installs from a checkout into a clean HOME so that `opengateway` is on a new shell's PATH, and a second run changes nothing", async () => {
    const first = await bash([INSTALL_SH], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /system {5}(linux|macos|wsl) (x64|arm64)/);
    assert.match(first.stdout, /Next: opengateway setup/, "without a terminal it says what comes next instead of asking");
    const wrapper = join(home, ".local", "bin", "opengateway");
    assert.match(readFileSync(wrapper, "utf8"), /packages\/cli\/dist\/bin\.js/);

    // A new login shell reads ~/.profile, as a new terminal does.
    const help = await bash(["-lc", "opengateway --help"], env);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: opengateway/);
    assert.match(help.stdout, /^\s+setup\b/m);

    const profile = readFileSync(join(home, ".profile"), "utf8");
    const second = await bash([INSTALL_SH, "--no-setup"], env);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /\(unchanged\)/);
    assert.equal(readFileSync(join(home, ".profile"), "utf8"), profile, "the PATH line is added once");
  });

  it("runs piped into bash, as from curl", async () => {
    const piped = await bash(
      ["-s"],
      { ...env, OPENGATEWAY_SOURCE_DIR: CHECKOUT, OPENGATEWAY_NO_SETUP: "1" },
      readFileSync(INSTALL_SH, "utf8"),
    );
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(piped.stdout, /Installed: \d+\.\d+\.\d+/);
    // With nothing to install from (no checkout, no OPENGATEWAY_REPO) it says so, and clones nothing.
    const nowhere = mkdtempSync(join(tmpdir(), "opengateway-install-nowhere-"));
    try {
      const lost = await bash(
        ["-s"],
        { HOME: nowhere, PATH: BARE_PATH, OPENGATEWAY_NO_SETUP: "1" },
        readFileSync(INSTALL_SH, "utf8"),
      );
      assert.notEqual(lost.code, 0);
      assert.match(
        lost.stderr,
        /no OpenGateway repository is published yet: run \.\/install\.sh from a checkout, or set OPENGATEWAY_REPO/,
      );
      assert.equal(existsSync(join(nowhere, ".opengateway", "src")), false);
    } finally {
      rmSync(nowhere, { recursive: true, force: true });
    }
  });

  it("refuses a Node.js older than 20 with the command that installs a newer one, and never asks for sudo itself", async () => {
    const fake = join(home, "old-node");
    mkdirSync(fake, { recursive: true });
    writeFileSync(join(fake, "node"), "#!/bin/sh\necho 18\n");
    chmodSync(join(fake, "node"), 0o755);
    const old = await bash([INSTALL_SH], { HOME: home, PATH: `${fake}:/usr/bin:/bin` });
    assert.notEqual(old.code, 0);
    assert.match(old.stderr, /^opengateway install: Node\.js 20 or newer is needed, this is 18: .*nvm install 22\n$/);
    // sudo appears only in the advice it prints, never as a command of its own.
    assert.doesNotMatch(readFileSync(INSTALL_SH, "utf8"), /^\s*sudo\b/m);
  });
});
