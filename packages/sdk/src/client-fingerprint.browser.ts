import { browserFingerprintHash, currentBrowserEnvironment } from "@opengateway/ledger";

/** The browser build of `client-fingerprint.ts`: a hash of the device's facts (no WebGPU probe here). */
export async function clientMachineFingerprintHash(_options: { signal?: AbortSignal } = {}): Promise<string> {
  return browserFingerprintHash(currentBrowserEnvironment(null));
}
