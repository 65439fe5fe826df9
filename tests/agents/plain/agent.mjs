// A Blink-protocol agent with no dependencies, for testing what runs it (the wrapper, the Deployer's runtimes).
// /_agent/chat streams "tick N" text deltas TICK_MS apart (0: as fast as it can); a chat that mentions "hang forever"
// blocks the agent's only thread, so it stays up but answers nothing more. AGENT_MODE=crash exits at start with code 3
// after printing to stderr; AGENT_MODE=crash-later serves, then exits with code 4 after CRASH_AFTER_MS. Every start
// prints one line to stdout and one to stderr.
import http from "node:http";

const mode = process.env.AGENT_MODE ?? "serve";
const ticks = Number(process.env.TICKS ?? 3);
const tickMs = Number(process.env.TICK_MS ?? 300);
console.log(`plain agent starting (mode ${mode})`);
console.error("plain agent stderr line");
if (mode === "crash") {
  console.error("plain agent: crashing on purpose");
  process.exit(3);
}
if (mode === "crash-later") {
  setTimeout(() => {
    console.error("plain agent: crashing later on purpose");
    process.exit(4);
  }, Number(process.env.CRASH_AFTER_MS ?? 3000));
}

const server = http.createServer(async (req, res) => {
  if (req.url === "/_agent/health") {
    res.writeHead(200, { "content-type": "text/plain" }).end("OK");
    return;
  }
  if (req.url === "/_agent/chat" && req.method === "POST") {
    let body = "";
    for await (const chunk of req) body += chunk;
    if (body.includes("hang forever")) {
      console.log("plain agent: hanging on purpose");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    }
    res.writeHead(200, { "content-type": "text/event-stream", "x-vercel-ai-ui-message-stream": "v1" });
    const send = (chunk) => res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    send({ type: "start" });
    send({ type: "text-start", id: "t" });
    for (let i = 0; i < ticks; i++) {
      send({ type: "text-delta", id: "t", delta: `tick ${i} at ${Date.now()}\n` });
      if (tickMs > 0) await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
    send({ type: "text-end", id: "t" });
    send({ type: "finish" });
    res.end("data: [DONE]\n\n");
    return;
  }
  res.writeHead(404).end();
});

process.on("SIGTERM", () => {
  console.log("plain agent: SIGTERM, closing");
  server.close(() => process.exit(0));
});

server.listen(Number(process.env.PORT), process.env.HOST ?? "127.0.0.1", () => console.log(`plain agent listening on ${process.env.PORT}`));
