// Folds a recorded UI message stream (the SSE body an agent sent, on stdin) into the UIMessage the AI SDK itself
// builds from it, with `readUIMessageStream`, and prints that message as JSON. The compatibility tests compare it
// with the message Hangar stored for the same stream.
import { readUIMessageStream } from "ai";

let body = "";
for await (const part of process.stdin) body += part;

const chunks = body
  .split(/\r?\n/)
  .filter((line) => line.startsWith("data: ") && line !== "data: [DONE]")
  .map((line) => JSON.parse(line.slice(6)));

const stream = new ReadableStream({
  start(controller) {
    for (const chunk of chunks) controller.enqueue(chunk);
    controller.close();
  },
});

let message;
for await (const snapshot of readUIMessageStream({ stream })) message = snapshot;
process.stdout.write(JSON.stringify(message));
