import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { errorMessage } from "@opengateway/protocol";

/**
 * WebRTC does not gather loopback ICE candidates (neither Chromium nor node-datachannel), so the
 * WebRTC tests run in a network namespace of their own: `unshare --net` gives the test process
 * an empty network stack, where it adds a veth pair with both ends inside (10.77.0.1 and
 * 10.77.0.2) and a default route over it. Nothing can leave the namespace, ICE works with
 * `iceServers: []`, and the namespace disappears with the last process in it, on failure too.
 */
export const NETNS_ENV = "OPENGATEWAY_TEST_IN_NETNS";
export const NETNS_HOST = "10.77.0.1";
export const NETNS_PEER = "10.77.0.2";

export function insideTestNetworkNamespace(): boolean {
  return process.env[NETNS_ENV] === "1";
}

/** Why this machine cannot make a network namespace, or null if it can. */
export function networkNamespaceUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "creating a network namespace needs root";
  try {
    execFileSync("unshare", ["--net", "true"], { stdio: "ignore" });
    return null;
  } catch (error) {
    return `unshare --net failed: ${errorMessage(error)}`;
  }
}

/** Inside the fresh namespace: loopback up, the veth pair, the addresses, the default route. */
export function setUpTestNetwork(): void {
  const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
  ip("link", "set", "lo", "up");
  ip("link", "add", "og-veth0", "type", "veth", "peer", "name", "og-veth1");
  ip("addr", "add", `${NETNS_HOST}/24`, "dev", "og-veth0");
  ip("addr", "add", `${NETNS_PEER}/24`, "dev", "og-veth1");
  ip("link", "set", "og-veth0", "up");
  ip("link", "set", "og-veth1", "up");
  ip("route", "add", "default", "dev", "og-veth0");
}

/**
 * Runs a compiled test file with Node's test runner inside a new network namespace and reports
 * its exit code and output. A run past the timeout is terminated (its after-hooks close what it
 * started), then killed.
 */
export function runTestFileInNetworkNamespace(
  testFile: string,
  options: { timeoutMs: number },
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // The outer runner marks its children with NODE_TEST_CONTEXT; a run that inherits it skips its files.
    const { NODE_TEST_CONTEXT: _outerRunner, ...env } = process.env;
    const child = spawn(
      "unshare",
      ["--net", "--", process.execPath, "--test", "--test-force-exit", "--test-reporter=spec", testFile],
      {
        env: { ...env, [NETNS_ENV]: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    const collect = (chunk: Buffer): void => {
      output += chunk.toString();
      // stderr passes through to the outer runner untouched (its stdout is the outer test's own protocol).
      process.stderr.write(chunk);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const terminate = setTimeout(() => {
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
    }, options.timeoutMs);
    child.once("error", (error) => {
      clearTimeout(terminate);
      reject(error);
    });
    child.once("exit", (code) => {
      clearTimeout(terminate);
      resolve({ code, output });
    });
  });
}

/**
 * A suite that runs only inside a network namespace of its own. Outside one (how the runner starts
 * the file), a single test starts the file again under `unshare --net` and passes when the suite
 * passed there; inside, `suite` runs. Where no namespace can be made the test skips, saying why,
 * except in CI, where that fails: a skipped suite would look like a passing one.
 */
export function describeInNetworkNamespace(
  title: string,
  testFileUrl: string,
  options: { timeoutMs: number; why: string },
  suite: () => void,
): void {
  if (insideTestNetworkNamespace()) {
    suite();
    return;
  }
  describe(title, { timeout: options.timeoutMs + 60_000 }, () => {
    it(`runs its suite inside a network namespace of its own (${options.why})`, async (t) => {
      const unavailable = networkNamespaceUnavailable();
      if (unavailable !== null) {
        if (process.env.CI === "true") assert.fail(`CI must run the suite '${title}', but ${unavailable}`);
        t.skip(unavailable);
        return;
      }
      const { code, output } = await runTestFileInNetworkNamespace(fileURLToPath(testFileUrl), { timeoutMs: options.timeoutMs });
      assert.equal(code, 0, `the suite '${title}' failed inside its namespace:\n${output.slice(-6000)}`);
    });
  });
}
