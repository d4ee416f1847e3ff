import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parsePageConfig } from "../page-config.js";
import { createContributePage, InvalidModelUrlError } from "./contribute-page.js";
import type { ContributeServer } from "./start-contribute-server.js";
import { startContributeServer } from "./start-contribute-server.js";

describe("the contributor page server", () => {
  let pageDir: string;
  let server: ContributeServer;

  before(async () => {
    pageDir = mkdtempSync(join(tmpdir(), "opengateway-page-"));
    writeFileSync(join(pageDir, "index.html"), "<!doctype html><title>Contribute</title>");
    writeFileSync(join(pageDir, "tiny.gguf"), Buffer.alloc(1234));
    server = await startContributeServer({
      pageDir,
      bootstrap: () => ["/ip4/127.0.0.1/tcp/1/ws/p2p/x"],
      modelFiles: [join(pageDir, "tiny.gguf")],
      region: "europe",
      ledger: null,
    });
  });
  after(async () => {
    await server?.close();
    rmSync(pageDir, { recursive: true, force: true });
  });

  it("sends / to the page, and writes a config.json the page accepts", async () => {
    const root = await fetch(new URL("/", server.url), { redirect: "manual" });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get("location"), "/contribute/");
    assert.match(await (await fetch(server.url)).text(), /Contribute/);
    const config = parsePageConfig(await (await fetch(new URL("config.json", server.url))).json());
    assert.deepEqual(config.models, [{ id: "tiny", url: "models/tiny.gguf", sizeBytes: 1234 }]);
    assert.deepEqual([config.bootstrap, config.region, config.ledger], [["/ip4/127.0.0.1/tcp/1/ws/p2p/x"], "europe", null]);
    const head = await fetch(new URL("models/tiny.gguf", server.url), { method: "HEAD" });
    assert.equal(head.headers.get("content-length"), "1234");
  });

  it("offers tabs only http(s) URLs of GGUF files from elsewhere", () => {
    const page = (modelUrls: string[]) => () => createContributePage({ pageDir, bootstrap: () => [], modelFiles: [], modelUrls });
    assert.throws(page(["file:///etc/passwd"]), InvalidModelUrlError);
    assert.throws(page(["javascript:alert(1)//x.gguf"]), InvalidModelUrlError);
    assert.throws(page(["https://models.example/readme.txt"]), InvalidModelUrlError);
    assert.doesNotThrow(page(["http://127.0.0.1:9000/m.gguf"]));
  });
});
