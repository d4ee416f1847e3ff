// An app outside the workspace: it depends on the packed @opengateway/sdk alone, joins a devnet
// through its relay and prints what it got as one JSON line (e2e/src/sdk-package.test.ts runs it).
import { createClient } from "@opengateway/sdk";

const client = await createClient({
  bootstrap: process.env.OPENGATEWAY_BOOTSTRAP.split(","),
  localNetwork: true,
  waitForProvidersMs: 60_000,
  openai: { maxRetries: 2, timeout: 60_000 },
});
try {
  const models = (await client.models.list()).data.map((model) => model.id);
  const answer = await client.chat.completions.create({
    model: models[0],
    messages: [{ role: "user", content: "Once upon a time" }],
    max_tokens: 5,
  });
  let streamed = "";
  for await (const chunk of await client.chat.completions.create({
    model: models[0],
    messages: [{ role: "user", content: "Once upon a time" }],
    max_tokens: 5,
    stream: true,
  })) {
    streamed += chunk.choices[0]?.delta.content ?? "";
  }
  console.log(
    JSON.stringify({
      sdk: import.meta.resolve("@opengateway/sdk"),
      models,
      content: answer.choices[0]?.message.content,
      usage: answer.usage,
      streamed,
      payer: client.wallet.identity,
      receipts: client.wallet.history().length,
    }),
  );
} finally {
  await client.close();
}
