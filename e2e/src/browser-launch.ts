import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { chromium } from "playwright-core";

/** Debian's Chromium; playwright-core only drives it (no browser downloads). */
export const CHROMIUM_PATH = process.env.OPENGATEWAY_CHROMIUM ?? "/usr/bin/chromium";

export interface LaunchedBrowser {
  context: BrowserContext;
  /** Console lines and page errors of every page, for failure messages. */
  log: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Headless Chromium with its own profile directory (so IndexedDB survives reloads within a test
 * and nothing leaks between runs). `--enable-unsafe-webgpu` exposes WebGPU, which on these
 * machines is SwiftShader's software fallback adapter.
 */
export async function launchBrowser(): Promise<LaunchedBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "opengateway-chromium-"));
  const log: string[] = [];
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      viewport: { width: 1100, height: 900 },
      args: [
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--enable-unsafe-webgpu",
      ],
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  const watch = (page: Page): void => {
    page.on("console", (message) => log.push(`[${message.type()}] ${message.text()}`));
    page.on("pageerror", (error) => log.push(`[pageerror] ${error.message}`));
  };
  context.on("page", watch);
  for (const page of context.pages()) watch(page);
  return {
    context,
    log,
    newPage: async () => context.pages().find((page) => page.url() === "about:blank") ?? context.newPage(),
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
