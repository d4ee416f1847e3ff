import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Logger } from "@opengateway/protocol";
import { OverloadedError } from "@opengateway/protocol";

export type ThermalState = "normal" | "throttled" | "paused";

export interface ThermalGuardOptions {
  /** At or above this (°C) the node takes half as many requests at once (default 85). */
  throttleC?: number;
  /** At or above this it takes none until it has cooled below `pauseC` (default 95). */
  pauseC?: number;
  /** It returns to normal below `throttleC` minus this (default 5 °C), so it does not flap. */
  hysteresisC?: number;
  /**
   * Files holding a temperature, as the kernel's thermal zones do (millidegrees; plain degrees
   * below 1000). Given, only these are read; otherwise the thermal zones and nvidia-smi.
   */
  sensorPaths?: string[];
  /** How often the sensors are read (default 5 s). */
  intervalMs?: number;
  logger?: Logger;
}

const THERMAL_ZONES = "/sys/class/thermal";
const run = promisify(execFile);

function parseCelsius(text: string): number | null {
  const value = Number(text.trim());
  if (!Number.isFinite(value) || text.trim() === "") return null;
  return Math.abs(value) >= 1000 ? value / 1000 : value;
}

async function readSensor(path: string): Promise<number | null> {
  return readFile(path, "utf8").then(parseCelsius, () => null);
}

/** The kernel's thermal zones (CPU packages, SoCs), and each NVIDIA GPU through nvidia-smi. */
async function systemTemperatures(): Promise<number[]> {
  const zones = await readdir(THERMAL_ZONES).catch(() => [] as string[]);
  const cpu = await Promise.all(
    zones.filter((zone) => zone.startsWith("thermal_zone")).map((zone) => readSensor(join(THERMAL_ZONES, zone, "temp"))),
  );
  const gpu = await run("nvidia-smi", ["--query-gpu=temperature.gpu", "--format=csv,noheader,nounits"], { timeout: 5_000 }).then(
    ({ stdout }) => stdout.split("\n").map(parseCelsius),
    () => [],
  );
  return [...cpu, ...gpu].filter((celsius): celsius is number => celsius !== null && celsius > 0);
}

/**
 * Watches the hottest of the machine's sensors and decides how much work the node takes:
 * all of it, half (throttled), or none (paused) until it has cooled. The inference service asks
 * it before each request; adverts carry the lowered capacity, so routers send less.
 */
export class ThermalGuard {
  readonly #options: Required<Omit<ThermalGuardOptions, "sensorPaths" | "logger">> &
    Pick<ThermalGuardOptions, "sensorPaths" | "logger">;
  #state: ThermalState = "normal";
  #celsius: number | null = null;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ThermalGuardOptions = {}) {
    this.#options = { throttleC: 85, pauseC: 95, hysteresisC: 5, intervalMs: 5_000, ...options };
    if (this.#options.pauseC < this.#options.throttleC)
      throw new RangeError("the pause temperature is below the throttle temperature");
  }

  get state(): ThermalState {
    return this.#state;
  }

  /** The hottest sensor at the last reading; null when none could be read. */
  get celsius(): number | null {
    return this.#celsius;
  }

  /** Reads the sensors now and moves between normal, throttled and paused. */
  async check(): Promise<ThermalState> {
    const readings = this.#options.sensorPaths
      ? (await Promise.all(this.#options.sensorPaths.map(readSensor))).filter((celsius): celsius is number => celsius !== null)
      : await systemTemperatures();
    const celsius = readings.length > 0 ? Math.max(...readings) : null;
    this.#celsius = celsius;
    if (celsius === null) return this.#state;
    const { throttleC, pauseC, hysteresisC } = this.#options;
    const next: ThermalState =
      celsius >= pauseC
        ? "paused"
        : celsius >= throttleC
          ? "throttled"
          : celsius < throttleC - hysteresisC
            ? "normal"
            : this.#state === "normal"
              ? "normal"
              : "throttled";
    if (next !== this.#state) {
      this.#options.logger?.warn({ celsius, from: this.#state, to: next }, `temperature ${celsius.toFixed(0)} °C: ${next}`);
      this.#state = next;
    }
    return next;
  }

  /** Reads the sensors now, then every interval. */
  async start(): Promise<void> {
    await this.check();
    this.#timer = setInterval(() => void this.check().catch(() => undefined), this.#options.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** How many requests at once the node may take now, of `parallel`. */
  limit(parallel: number): number {
    if (this.#state === "paused") return 0;
    return this.#state === "throttled" ? Math.max(1, Math.floor(parallel / 2)) : parallel;
  }

  /** Refuses a request the node is too hot to take (the router then tries another provider). */
  admit(active: number, parallel: number): void {
    // At normal temperature the engine's own queue decides; only heat refuses work here.
    if (this.#state === "normal" || active < this.limit(parallel)) return;
    throw new OverloadedError(
      this.#state === "paused"
        ? `the node is paused until it cools (${this.#celsius?.toFixed(0)} °C)`
        : `the node is throttled by its temperature (${this.#celsius?.toFixed(0)} °C)`,
    );
  }
}
