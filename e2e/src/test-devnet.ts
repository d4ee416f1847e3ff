import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Devnet, DevnetOptions } from "@opengateway/cli";
import { startDevnet } from "@opengateway/cli";
import { testModelPath } from "./test-model.js";

/** A devnet whose `stop` also removes its home folder. */
export interface TestDevnet extends Devnet {
  home: string;
}

/**
 * A devnet on the test model in a fresh home folder, its gateway on a free loopback port, its output
 * silenced. Its full nodes run on the CPU with two slots and one thread (a loaded 2-core CI machine),
 * without audits unless `audits`, then `nodeArgs`.
 */
export async function startTestDevnet(
  options: Omit<DevnetOptions, "model" | "host" | "port" | "home" | "onOutput"> & {
    /** Full nodes audit each other (the CLI's default); off unless asked, so other suites see only their own traffic. */
    audits?: boolean;
  },
): Promise<TestDevnet> {
  const home = mkdtempSync(join(tmpdir(), "opengateway-devnet-"));
  const removeHome = () => rmSync(home, { recursive: true, force: true });
  try {
    const devnet = await startDevnet({
      ...options,
      model: testModelPath(),
      host: "127.0.0.1",
      port: 0,
      home,
      nodeArgs: [
        "--gpu",
        "off",
        "--parallel",
        "2",
        "--threads",
        "1",
        ...(options.audits ? [] : ["--no-audits"]),
        ...(options.nodeArgs ?? []),
      ],
      onOutput: () => {},
    });
    return {
      ...devnet,
      home,
      stop: async () => {
        await devnet.stop();
        removeHome();
      },
    };
  } catch (error) {
    removeHome();
    throw error;
  }
}
