import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { OverloadedError } from "@opengateway/protocol";
import { ThermalGuard } from "./thermal-guard.js";

describe("ThermalGuard", () => {
  let dir: string;
  let cpu: string;
  let gpu: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "thermal-"));
    cpu = join(dir, "cpu-temp");
    gpu = join(dir, "gpu-temp");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("throttles, pauses and resumes as the hottest sensor crosses its limits", async () => {
    const guard = new ThermalGuard({ throttleC: 80, pauseC: 90, hysteresisC: 5, sensorPaths: [cpu, gpu] });
    writeFileSync(cpu, "50000\n"); // millidegrees, as /sys/class/thermal/thermal_zone*/temp
    writeFileSync(gpu, "45\n"); // plain degrees, as nvidia-smi prints
    assert.equal(await guard.check(), "normal");
    assert.equal(guard.limit(4), 4);
    guard.admit(3, 4);
    guard.admit(4, 4); // all slots busy: the engine queues it, heat is not the reason to refuse

    writeFileSync(gpu, "82\n");
    assert.equal(await guard.check(), "throttled");
    assert.equal(guard.celsius, 82);
    assert.equal(guard.limit(4), 2);
    guard.admit(1, 4);
    assert.throws(
      () => guard.admit(2, 4),
      (error) => OverloadedError.isInstance(error) && /throttled.*82 °C/.test(error.message),
    );

    writeFileSync(cpu, "93500\n");
    assert.equal(await guard.check(), "paused");
    assert.equal(guard.limit(4), 0);
    assert.throws(
      () => guard.admit(0, 4),
      (error) => OverloadedError.isInstance(error) && /paused/.test(error.message),
    );

    // Cooled below the pause limit but not below throttle − hysteresis: still throttled, not flapping back.
    writeFileSync(cpu, "77000\n");
    writeFileSync(gpu, "60\n");
    assert.equal(await guard.check(), "throttled");
    writeFileSync(cpu, "74000\n");
    assert.equal(await guard.check(), "normal");
    guard.admit(3, 4);
  });

  it("keeps its state when no sensor can be read, and refuses limits in the wrong order", async () => {
    const guard = new ThermalGuard({ sensorPaths: [join(dir, "missing")] });
    assert.equal(await guard.check(), "normal");
    assert.equal(guard.celsius, null);
    assert.throws(() => new ThermalGuard({ throttleC: 90, pauseC: 80 }), RangeError);
  });
});
