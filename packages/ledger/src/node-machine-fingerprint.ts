import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { arch, cpus, platform, totalmem } from "node:os";
import { machineFingerprintHash } from "./machine-fingerprint.js";

/** systemd's and D-Bus's per-installation ids: stable across reboots and app reinstalls. */
const MACHINE_ID_PATHS = ["/etc/machine-id", "/var/lib/dbus/machine-id"];

async function readMachineId(signal: AbortSignal | undefined): Promise<string | null> {
  for (const path of MACHINE_ID_PATHS) {
    try {
      const id = (await readFile(path, { encoding: "utf8", signal })).trim();
      if (id !== "") return id;
    } catch (error) {
      signal?.throwIfAborted();
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return null;
}

/**
 * Stable, low-identifying facts about this machine (Node only). The hostname is left out (it
 * changes, and identifies); the machine id is pre-hashed so not even the facts hold it raw.
 * Without a machine id (macOS, Windows, containers) only hardware facts remain, which identical
 * machines share: such machines may be refused a second grant.
 */
export async function collectNodeMachineFacts(options: { signal?: AbortSignal } = {}): Promise<Record<string, string>> {
  const machineId = await readMachineId(options.signal);
  const cpuList = cpus();
  const facts: Record<string, string> = {
    platform: platform(),
    arch: arch(),
    cpuModel: cpuList[0]?.model.trim() ?? "unknown",
    cpuCount: String(cpuList.length),
    // Rounded: the reported total moves by a few MiB between kernels and firmware updates.
    memoryGiB: String(Math.round(totalmem() / 2 ** 30)),
  };
  if (machineId !== null) facts.machineId = createHash("sha256").update(machineId).digest("hex");
  return facts;
}

export async function nodeMachineFingerprintHash(options: { signal?: AbortSignal } = {}): Promise<string> {
  return machineFingerprintHash(await collectNodeMachineFacts(options));
}
