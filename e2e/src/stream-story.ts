import type OpenAI from "openai";

/** What a streamed story came back as: its text, the chunks that carried text, the usage, and who served it. */
export interface StreamedStory {
  provider: string | null;
  text: string;
  chunks: number;
  usage: OpenAI.CompletionUsage | undefined;
}

/** Streams a completion of "Once upon a time", with usage, through the official client. */
export async function streamStory(
  client: OpenAI,
  params: { model: string; max_tokens: number; seed: number },
): Promise<StreamedStory> {
  const { data: stream, response } = await client.chat.completions
    .create({
      ...params,
      messages: [{ role: "user", content: "Once upon a time" }],
      stream: true,
      stream_options: { include_usage: true },
    })
    .withResponse();
  const story: StreamedStory = {
    provider: response.headers.get("x-opengateway-provider"),
    text: "",
    chunks: 0,
    usage: undefined,
  };
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta.content ?? "";
    story.text += delta;
    if (delta) story.chunks++;
    story.usage = chunk.usage ?? story.usage;
  }
  return story;
}
