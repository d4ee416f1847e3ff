import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

// The ledger core runs in browsers too. Only these compiled modules may use Node: the SQLite
// adapter, the Node fingerprint collector, the data-directory lock and tests.
const NODE_ONLY = new Set(["sqlite-ledger-store.js", "node-machine-fingerprint.js", "data-dir-lock.js"]);
const directory = fileURLToPath(new URL(".", import.meta.url));

describe("isomorphic core", () => {
  it("imports no Node built-ins or Node-only packages outside the Node adapters", () => {
    const modules = readdirSync(directory).filter(
      (file) => file.endsWith(".js") && !file.endsWith(".test.js") && !NODE_ONLY.has(file),
    );
    assert.ok(modules.includes("ledger.js") && modules.includes("index.js"));
    for (const file of modules) {
      const source = readFileSync(new URL(file, import.meta.url), "utf8");
      const imports = [...source.matchAll(/from\s+["']([^"']+)["']/g)].map((match) => match[1] ?? "");
      for (const specifier of imports) {
        assert.ok(!specifier.startsWith("node:") && specifier !== "better-sqlite3", `${file} imports ${specifier}`);
        if (specifier.startsWith("./")) assert.ok(!NODE_ONLY.has(specifier.slice(2)), `${file} imports ${specifier}`);
      }
      assert.doesNotMatch(source, /\b(process|Buffer|require)\s*[.(]/, `${file} uses a Node global`);
    }
  });
});
