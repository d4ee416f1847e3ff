import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hasCommand, opengateway } from "./test-support/run-cli.js";

/** The file a dry run prints: everything between its `# <path>` line and `# then:`. */
function printedFile(stdout: string): { path: string; text: string } {
  const match = /^# (\S+)\n([\s\S]*)\n# then:\n/.exec(stdout);
  assert.ok(match, stdout);
  return { path: match[1] as string, text: match[2] as string };
}

describe("opengateway service", () => {
  let home: string;
  let env: Record<string, string>;
  before(() => {
    home = mkdtempSync(join(tmpdir(), "opengateway-service-"));
    writeFileSync(join(home, "secret"), "a service passphrase\n");
    env = { HOME: home, OPENGATEWAY_HOME: join(home, ".opengateway"), OPENGATEWAY_PASSPHRASE_FILE: join(home, "secret") };
  });
  after(() => rmSync(home, { recursive: true, force: true }));

  it("prints a systemd user unit that restarts on failure, logs to journald and passes systemd-analyze verify", async (t) => {
    const dry = await opengateway(["service", "install", "--dry-run", "--platform", "systemd"], env);
    assert.equal(dry.code, 0, dry.stderr);
    const unit = printedFile(dry.stdout);
    assert.equal(unit.path, join(home, ".config", "systemd", "user", "opengateway.service"));
    assert.match(unit.text, /^ExecStart="[^"]+node[^"]*" "[^"]+bin\.js" "node" "start" "--home" "[^"]+\.opengateway"$/m);
    assert.match(unit.text, /^Restart=on-failure$/m);
    assert.match(unit.text, /^StandardOutput=journal$/m);
    assert.match(unit.text, new RegExp(`^Environment="OPENGATEWAY_PASSPHRASE_FILE=${join(home, "secret")}"$`, "m"));
    assert.match(dry.stdout, /systemctl --user enable --now opengateway\.service/);
    assert.ok(!existsSync(unit.path), "a dry run writes nothing");
    if (!hasCommand("systemd-analyze")) {
      t.skip("systemd-analyze is not installed");
      return;
    }
    const file = join(home, "opengateway.service");
    writeFileSync(file, unit.text);
    // verify exits non-zero and warns for unknown keys, bad quoting or a missing executable.
    const output = execFileSync("systemd-analyze", ["verify", file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    assert.equal(output, "");
  });

  it("prints a launchd agent that starts at login and again after a failure", async () => {
    const dry = await opengateway(["service", "install", "--dry-run", "--platform", "launchd"], env);
    assert.equal(dry.code, 0, dry.stderr);
    const plist = printedFile(dry.stdout);
    assert.equal(plist.path, join(home, "Library", "LaunchAgents", "network.opengateway.node.plist"));
    assert.match(plist.text, /<key>Label<\/key>\n\s*<string>network\.opengateway\.node<\/string>/);
    assert.match(plist.text, /<key>RunAtLoad<\/key>\n\s*<true\/>/);
    assert.match(plist.text, /<key>SuccessfulExit<\/key>\n\s*<false\/>/);
    assert.match(plist.text, /<string>node<\/string>\n\s*<string>start<\/string>\n\s*<string>--home<\/string>/);
    // Every element that opens is closed, in order.
    const stack: string[] = [];
    for (const [, closing, name, selfClosing] of plist.text.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
      if (selfClosing) continue;
      if (closing) assert.equal(stack.pop(), name);
      else stack.push(name as string);
    }
    assert.deepEqual(stack, []);
  });

  it("prints a WSL2 launcher and the Task Scheduler entry that runs it at logon", async () => {
    const dry = await opengateway(["service", "install", "--dry-run", "--platform", "wsl"], {
      ...env,
      WSL_DISTRO_NAME: "Debian",
    });
    assert.equal(dry.code, 0, dry.stderr);
    const script = printedFile(dry.stdout);
    assert.equal(script.path, join(home, ".opengateway", "start-node.sh"));
    const file = join(home, "start-node.sh");
    writeFileSync(file, script.text);
    execFileSync("sh", ["-n", file]);
    assert.match(
      dry.stdout,
      /^schtasks\.exe \/Create \/F \/TN OpenGateway \/SC ONLOGON \/RL LIMITED \/TR "wsl\.exe -d Debian --exec \/bin\/sh .+start-node\.sh"$/m,
    );
  });

  it("installs, reports and uninstalls the unit, saying plainly when systemd cannot start it here", async () => {
    const unit = join(home, ".config", "systemd", "user", "opengateway.service");
    const installed = await opengateway(["service", "install", "--platform", "systemd"], env);
    assert.ok(existsSync(unit), installed.stderr);
    if (installed.code !== 0)
      assert.match(installed.stderr, /^opengateway: .*opengateway\.service is written, but systemctl --user .*failed/);
    const status = await opengateway(["service", "status", "--platform", "systemd", "--json"], env);
    assert.equal(JSON.parse(status.stdout).installed, true);
    const removed = await opengateway(["service", "uninstall", "--platform", "systemd"], env);
    assert.equal(removed.code, 0, removed.stderr);
    assert.ok(!existsSync(unit));
    const after = await opengateway(["service", "status", "--platform", "systemd", "--json"], env);
    assert.equal(JSON.parse(after.stdout).installed, false);
  });
});
