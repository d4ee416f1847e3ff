import { machineFingerprintHash } from "./machine-fingerprint.js";

/** The stable facts a page can read about the device it runs on (never hardware serials: browsers hide them). */
export interface BrowserEnvironment {
  navigator?: {
    hardwareConcurrency?: number;
    deviceMemory?: number;
    platform?: string;
    userAgentData?: { platform?: string };
  };
  screen?: { width?: number; height?: number; colorDepth?: number };
  timeZone?: string;
  /** The WebGPU adapter a device probe found (null: none, or not probed). */
  webgpu?: { vendor: string; architecture: string } | null;
}

/**
 * The device's facts as strings, for `machineFingerprintHash`: CPU threads, `deviceMemory` where
 * the browser gives it, the platform, the screen's size and colour depth, the time zone and the
 * WebGPU adapter's vendor/architecture. Absent facts are left out. These stay in the tab: only
 * their hash goes into the open block.
 */
export function browserMachineFacts(environment: BrowserEnvironment): Record<string, string> {
  const facts: Record<string, string> = { kind: "browser" };
  const nav = environment.navigator;
  if (typeof nav?.hardwareConcurrency === "number") facts.cores = String(nav.hardwareConcurrency);
  if (typeof nav?.deviceMemory === "number") facts.memory = String(nav.deviceMemory);
  const platform = nav?.userAgentData?.platform || nav?.platform;
  if (platform) facts.platform = platform;
  const screen = environment.screen;
  if (screen && typeof screen.width === "number" && typeof screen.height === "number") {
    // Portrait and landscape are one screen.
    const [short, long] = [screen.width, screen.height].sort((a, b) => a - b);
    facts.screen = `${short}x${long}x${screen.colorDepth ?? 0}`;
  }
  if (environment.timeZone) facts.timeZone = environment.timeZone;
  if (environment.webgpu) facts.gpu = `${environment.webgpu.vendor}/${environment.webgpu.architecture}`;
  return facts;
}

/** The running page's environment (main thread or worker). */
export function currentBrowserEnvironment(webgpu: BrowserEnvironment["webgpu"]): BrowserEnvironment {
  const scope = globalThis as unknown as { navigator?: BrowserEnvironment["navigator"]; screen?: BrowserEnvironment["screen"] };
  return {
    navigator: scope.navigator,
    screen: scope.screen,
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    webgpu,
  };
}

/**
 * The tab's registration fingerprint: one grant per device. With `account` (devnets, where one
 * test browser runs many tabs) the account id joins the facts, as devnet full nodes do, so each
 * identity gets its own grant; never on a real network.
 */
export function browserFingerprintHash(environment: BrowserEnvironment, options: { account?: string } = {}): string {
  const machine = machineFingerprintHash(browserMachineFacts(environment));
  return options.account === undefined ? machine : machineFingerprintHash({ machine, account: options.account });
}
