// The streaming benchmark's agent, written against the public `blink` SDK like any Blink agent: `new blink.Agent()`,
// an `agent.on("chat")` handler returning a UI message stream, and `agent.serve()` ($HOST:$PORT).
//
// The last user text decides the reply:
//   "bench N S" -> N text deltas of S bytes each, as fast as the SDK streams them. Delta i is i in decimal, padded
//                  with zeros to S bytes (its last S digits when longer), so a client can check every one.
//   "tool"      -> one step that calls the `noop` tool and carries its output: Hangar calls the agent again, and the
//                  second call (the last message holds the tool's output) answers as "bench 1 8" would.
//   otherwise   -> the same one delta.
import * as blink from "blink";
import { createUIMessageStream } from "ai";

const agent = new blink.Agent();

function lastUserText(messages) {
  const user = messages.findLast((m) => m.role === "user");
  return (user?.parts ?? []).filter((p) => p.type === "text").map((p) => p.text).join("");
}

const delta = (i, size) => String(i).padStart(size, "0").slice(-size);

agent.on("chat", async ({ messages }) => {
  const last = messages[messages.length - 1];
  const toolDone = last?.role === "assistant" && (last.parts ?? []).some((p) => p.type === "tool-noop" && p.state === "output-available");
  const text = lastUserText(messages);
  const [command, count, size] = text.split(" ");
  return createUIMessageStream({
    execute: async ({ writer }) => {
      writer.write({ type: "start" });
      writer.write({ type: "start-step" });
      if (!toolDone && command === "tool") {
        writer.write({ type: "tool-input-available", toolCallId: "call-1", toolName: "noop", input: {} });
        writer.write({ type: "tool-output-available", toolCallId: "call-1", output: { ok: true } });
      } else {
        writer.write({ type: "text-start", id: "t1" });
        if (!toolDone && command === "bench") {
          const n = Number(count);
          const s = Number(size);
          for (let i = 0; i < n; i++) writer.write({ type: "text-delta", id: "t1", delta: delta(i, s) });
        } else {
          writer.write({ type: "text-delta", id: "t1", delta: delta(0, 8) });
        }
        writer.write({ type: "text-end", id: "t1" });
      }
      writer.write({ type: "finish-step" });
      writer.write({ type: "finish" });
    },
  });
});

const server = agent.serve();
server.on("listening", () => {
  const a = server.address();
  console.log(`bench agent listening on http://${a.address}:${a.port}`);
});
