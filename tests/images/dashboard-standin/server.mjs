// The Aspire dashboard's contract as the AppHost uses it, and no more:
// - OTLP/HTTP at ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL: POST /v1/{traces,metrics,logs}; with
//   Dashboard__Otlp__AuthMode=ApiKey, a request without the x-otlp-api-key header Dashboard__Otlp__PrimaryApiKey is
//   refused with 401, as the dashboard does.
// - The frontend at ASPNETCORE_URLS: /login?t=<Dashboard__Frontend__BrowserToken> answers 200, another token 401.
// - GET /received on the frontend (the stand-in's own, for tests): what arrived, per signal, and the
//   service.instance.id values seen in the exports.
import http from "node:http";

const env = process.env;
const received = { traces: 0, metrics: 0, logs: 0, refused: 0, instances: [] };

function listen(url, handler) {
  const { hostname, port } = new URL(url);
  http.createServer(handler).listen(Number(port), hostname, () => console.log(`listening on ${url}`));
}

listen(env.ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL, async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const signal = /^\/v1\/(traces|metrics|logs)$/.exec(req.url)?.[1];
  if (req.method !== "POST" || !signal) return res.writeHead(404).end();
  if (env.Dashboard__Otlp__AuthMode === "ApiKey" && req.headers["x-otlp-api-key"] !== env.Dashboard__Otlp__PrimaryApiKey) {
    received.refused++;
    return res.writeHead(401).end();
  }
  received[signal]++;
  // In OTLP protobuf a string attribute is its key, four bytes of framing, then its value.
  for (const match of Buffer.concat(chunks).toString("latin1").matchAll(/service\.instance\.id[\s\S]{4}([a-z0-9-]+)/g)) {
    if (!received.instances.includes(match[1])) received.instances.push(match[1]);
  }
  res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
});

listen(env.ASPNETCORE_URLS, (req, res) => {
  const url = new URL(req.url, "http://dashboard");
  if (url.pathname === "/login") {
    const ok = env.Dashboard__Frontend__AuthMode !== "BrowserToken" || url.searchParams.get("t") === env.Dashboard__Frontend__BrowserToken;
    return res.writeHead(ok ? 200 : 401, { "content-type": "text/plain" }).end(ok ? "logged in" : "invalid token");
  }
  if (url.pathname === "/received") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(received));
  res.writeHead(200, { "content-type": "text/plain" }).end("dashboard stand-in");
});
