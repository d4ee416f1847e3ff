import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BrowserEnvironment } from "./browser-machine-fingerprint.js";
import { browserFingerprintHash, browserMachineFacts } from "./browser-machine-fingerprint.js";
import { machineFingerprintHash } from "./machine-fingerprint.js";

const laptop: BrowserEnvironment = {
  navigator: { hardwareConcurrency: 8, deviceMemory: 8, platform: "Linux x86_64", userAgentData: { platform: "Linux" } },
  screen: { width: 1920, height: 1080, colorDepth: 24 },
  timeZone: "Europe/Paris",
  webgpu: { vendor: "intel", architecture: "gen-12lp" },
};

describe("browser fingerprint", () => {
  it("hashes stable device facts, preferring userAgentData's platform and ignoring the screen's orientation", () => {
    assert.deepEqual(browserMachineFacts(laptop), {
      kind: "browser",
      cores: "8",
      memory: "8",
      platform: "Linux",
      screen: "1080x1920x24",
      timeZone: "Europe/Paris",
      gpu: "intel/gen-12lp",
    });
    const rotated = { ...laptop, screen: { width: 1080, height: 1920, colorDepth: 24 } };
    assert.equal(browserFingerprintHash(rotated), browserFingerprintHash(laptop));
    assert.equal(browserFingerprintHash(laptop), machineFingerprintHash(browserMachineFacts(laptop)));
  });

  it("leaves out what the browser does not say, and differs when a fact differs", () => {
    const bare: BrowserEnvironment = { navigator: { hardwareConcurrency: 4, platform: "MacIntel" }, webgpu: null };
    assert.deepEqual(browserMachineFacts(bare), { kind: "browser", cores: "4", platform: "MacIntel" });
    assert.notEqual(browserFingerprintHash(laptop), browserFingerprintHash({ ...laptop, timeZone: "Asia/Tokyo" }));
    assert.notEqual(browserFingerprintHash(laptop), browserFingerprintHash({ ...laptop, webgpu: null }));
  });

  it("adds the account only for per-account grants (devnets), as devnet full nodes do", () => {
    const machine = browserFingerprintHash(laptop);
    assert.equal(browserFingerprintHash(laptop, { account: "acc-1" }), machineFingerprintHash({ machine, account: "acc-1" }));
    assert.notEqual(browserFingerprintHash(laptop, { account: "acc-1" }), browserFingerprintHash(laptop, { account: "acc-2" }));
    assert.doesNotMatch(machine, /Linux|Paris|intel/);
  });
});
