import { nodeMachineFingerprintHash } from "@opengateway/ledger/node-machine-fingerprint";

/**
 * This machine's registration fingerprint (Node: the machine id and hardware facts; the browser
 * build, `client-fingerprint.browser.ts`, hashes the device's facts instead).
 */
export function clientMachineFingerprintHash(options: { signal?: AbortSignal } = {}): Promise<string> {
  return nodeMachineFingerprintHash(options);
}
