// A page that uses the SDK's browser build: it dials a full node over WebSockets and makes
// OpenAI calls with the official client, no gateway involved.
import { createClient } from "@opengateway/sdk";

declare global {
  interface Window {
    runSdk(peer: string): Promise<unknown>;
  }
}

window.runSdk = async (peer: string) => {
  // A local network's ledger (as `--local`): the page's new identity registers itself, then pays.
  const client = await createClient({
    peers: [peer],
    localNetwork: true,
    waitForProvidersMs: 15_000,
    openai: { dangerouslyAllowBrowser: true, maxRetries: 0 },
  });
  try {
    const models = await client.models.list();
    const completion = await client.chat.completions.create({
      model: models.data[0]?.id ?? "",
      messages: [{ role: "user", content: "Once upon a time" }],
      max_tokens: 12,
    });
    let streamed = "";
    const stream = await client.chat.completions.create({
      model: models.data[0]?.id ?? "",
      messages: [{ role: "user", content: "Once upon a time" }],
      max_tokens: 12,
      stream: true,
    });
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? "";
    return {
      models: models.data.map((model) => model.id),
      content: completion.choices[0]?.message.content,
      usage: completion.usage,
      streamed,
      payer: client.wallet.identity,
      balance: client.wallet.balance(),
      receipts: client.wallet.history().length,
      transports: client.libp2p.getConnections().map((connection) => connection.remoteAddr.toString()),
    };
  } finally {
    await client.close();
  }
};
document.getElementById("status")?.replaceChildren("ready");
