// The same OpenAI code with no gateway at all: the SDK's client signs each request with your
// identity and routes it over the P2P network to a provider.
//
//   OPENGATEWAY_LOCAL=1 OPENGATEWAY_PEERS=/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... node examples/chat-via-sdk.mjs "Once upon a time"
//
// OPENGATEWAY_BOOTSTRAP (comma-separated multiaddrs) joins through bootstrap peers instead;
// OPENGATEWAY_KEY_FILE keeps the paying identity across runs. The client pays from that identity's
// own ledger account, registering it first if the network does not know it yet (proof-of-work:
// about a minute and a half on the real network); OPENGATEWAY_LOCAL=1 joins a local network
// (`pnpm start`, `opengateway devnet`) with its ledger parameters, where that takes a moment.
import "@opengateway/p2p/node-runtime";
import { createClient } from "@opengateway/sdk";

const list = (value) => (value ? value.split(",").filter(Boolean) : []);
const client = await createClient({
  peers: list(process.env.OPENGATEWAY_PEERS),
  bootstrap: list(process.env.OPENGATEWAY_BOOTSTRAP),
  keyFile: process.env.OPENGATEWAY_KEY_FILE,
  localNetwork: process.env.OPENGATEWAY_LOCAL === "1",
});
try {
  const model = process.env.OPENGATEWAY_EXAMPLE_MODEL ?? (await client.models.list()).data[0]?.id;
  if (!model) throw new Error("the network serves no model right now");
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: process.argv[2] ?? "Once upon a time" }],
    max_tokens: 60,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    process.stdout.write(chunk.choices[0]?.delta.content ?? "");
    if (chunk.usage) {
      process.stdout.write(
        `\n\n[${model}: ${chunk.usage.prompt_tokens} prompt + ${chunk.usage.completion_tokens} completion tokens, paid by ${client.wallet.identity}]\n`,
      );
    }
  }
} finally {
  await client.close();
}
