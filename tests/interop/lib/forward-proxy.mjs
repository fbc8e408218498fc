// A small forwarding proxy doing what Traefik `forwardAuth` / nginx `auth_request` do: ask the
// gateway (forward-auth mode) about each request, with the original request in
// X-Forwarded-Method/-Proto/-Host/-Uri and the client's headers; on 200 forward the request to
// the upstream with the gateway's X-Payment-Payer and return the upstream's answer plus the
// gateway's receipt headers; otherwise return the gateway's answer to the client as is.

import { listen } from "./procs.mjs";

// Hop-by-hop and framing headers are not copied between the legs.
const HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "content-length",
  "content-encoding",
  "host",
  "upgrade",
]);
// What the gateway's 200 hands on to the client (Traefik `authResponseHeaders`).
const RECEIPT_HEADERS = ["payment-response", "x-payment-response"];

const requestHeaders = (incoming) =>
  Object.fromEntries(Object.entries(incoming).filter(([name]) => !HOP.has(name)));

async function relay(from, res, extra = []) {
  const body = Buffer.from(await from.arrayBuffer());
  for (const [name, value] of from.headers) {
    if (!HOP.has(name)) res.setHeader(name, value);
  }
  for (const [name, value] of extra) res.setHeader(name, value);
  res.writeHead(from.status);
  res.end(body);
}

/** Starts the proxy on 127.0.0.1:0 in front of `upstream`, authorising with `gateway`. */
export function startForwardProxy({ gateway, upstream }) {
  return listen(async (req, res) => {
    try {
      const client = requestHeaders(req.headers);
      const auth = await fetch(`${gateway}/`, {
        headers: {
          ...client,
          "x-forwarded-method": req.method,
          "x-forwarded-proto": "http",
          "x-forwarded-host": req.headers.host,
          "x-forwarded-uri": req.url,
        },
      });
      if (auth.status !== 200) {
        await relay(auth, res);
        return;
      }
      await auth.arrayBuffer();
      delete client["payment-signature"];
      delete client["x-payment"];
      const answer = await fetch(`${upstream}${req.url}`, {
        method: req.method,
        headers: { ...client, "x-payment-payer": auth.headers.get("x-payment-payer") ?? "" },
      });
      const receipts = RECEIPT_HEADERS.flatMap((name) =>
        auth.headers.has(name) ? [[name, auth.headers.get(name)]] : [],
      );
      await relay(answer, res, receipts);
    } catch (error) {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`forwarding proxy: ${error.message}`);
    }
  });
}

/**
 * The upstream behind the gateway: `GET /weather` 200 JSON naming the payer the gateway
 * asserted, `GET /stream` 200 with a chunk every 50 ms for 2 s (see `streamChunks`),
 * `GET /metered?charge=C` 200 with `Settlement-Overrides: {"amount":"C"}` (an `upto` charge),
 * `GET /permit2` 200 JSON, `GET /broken` 500, `GET /health` 200.
 */
export function startUpstream() {
  return listen((req, res) => {
    const path = new URL(req.url, "http://upstream").pathname;
    if (path === "/stream") {
      streamChunks(res);
    } else if (path === "/weather") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ weather: "sunny", paidBy: req.headers["x-payment-payer"] ?? null }));
    } else if (path === "/metered") {
      // A metering upstream: it says what the request cost in a `Settlement-Overrides`
      // response header (the gateway settles that much of an `upto` payment and removes the
      // header); here the charge is the query's `charge`, e.g. `40%`, `0` or `1001`.
      const charge = new URL(req.url, "http://upstream").searchParams.get("charge") ?? "0";
      res.writeHead(200, {
        "content-type": "application/json",
        "settlement-overrides": JSON.stringify({ amount: charge }),
      });
      res.end(JSON.stringify({ charged: charge }));
    } else if (path === "/permit2") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ via: "permit2", paidBy: req.headers["x-payment-payer"] ?? null }));
    } else if (path === "/broken") {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end("the upstream failed");
    } else if (path === "/health") {
      res.end("ok");
    } else {
      res.writeHead(404);
      res.end();
    }
  });
}

/** How the streamed routes answer: `token 1\n` … `token 40\n`, one chunk every 50 ms. */
export const STREAM = { chunks: 40, everyMs: 50 };

/**
 * Answers an LLM-style stream on `res`: status and headers at once, then one chunk every
 * `STREAM.everyMs` ms, `STREAM.chunks` of them (the upstream's and the official server's
 * `/stream`, and what our `streaming` example sends).
 */
export function streamChunks(res) {
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
  res.flushHeaders();
  let n = 0;
  const timer = setInterval(() => {
    n += 1;
    res.write(`token ${n}\n`);
    if (n === STREAM.chunks) {
      clearInterval(timer);
      res.end();
    }
  }, STREAM.everyMs);
  res.on("close", () => clearInterval(timer));
}
