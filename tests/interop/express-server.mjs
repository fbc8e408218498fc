// The official x402 server (@x402/express 2.27) selling one route, as a reference: the harness
// compares our challenges with its own, and a buyer under test can pay it.
//
// As a module:  const ref = await startReferenceServer({ facilitatorUrl, payTo });
//               ref.url, ref.close()
// As a script:  node express-server.mjs --facilitator URL --pay-to 0x... [--port N]
//                 [--route "GET /weather"] [--price '$0.001'] [--network eip155:84532]
//               prints one JSON line {"url": ...} once listening, serves until SIGTERM.

import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

import express from "express";
import { HTTPFacilitatorClient, x402ResourceServer } from "@x402/core/server";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { UptoEvmScheme } from "@x402/evm/upto/server";
import { paymentMiddleware, setSettlementOverrides } from "@x402/express";
import { declareEip2612GasSponsoringExtension } from "@x402/extensions";

import { streamChunks } from "./lib/forward-proxy.mjs";
import { listen } from "./lib/procs.mjs";

/**
 * Starts the reference server on 127.0.0.1 (port 0 unless `port` is given). `route` is
 * "METHOD /path"; its handler answers JSON like our weather example. `failingRoute` is priced
 * the same but its handler answers 500, as our servers' `/broken`. `streamRoute` is priced the
 * same and streams a chunk every 50 ms for 2 s (`streamChunks`), as our `/stream`; the
 * middleware holds the body back until the handler ends, then settles and sends it.
 * `permit2Route` is `exact` at `price` paid through Permit2 (`extra.assetTransferMethod`),
 * declaring EIP-2612 gas sponsoring (as does `uptoRoute`);
 * `uptoRoute` is `upto` with `price` as the maximum, its handler charging the query's `charge`
 * (e.g. `40%`) with `setSettlementOverrides`. Resolves to `{ url, close }`.
 */
export async function startReferenceServer({
  facilitatorUrl,
  payTo,
  route = "GET /weather",
  price = "$0.001",
  network = "eip155:84532",
  description = "Weather data",
  mimeType = "application/json",
  failingRoute = "GET /broken",
  streamRoute = "GET /stream",
  permit2Route = "GET /permit2",
  uptoRoute = "GET /metered",
  port = 0,
}) {
  const server = new x402ResourceServer(new HTTPFacilitatorClient({ url: facilitatorUrl }))
    .register(network, new ExactEvmScheme())
    .register(network, new UptoEvmScheme());
  const accepts = { scheme: "exact", price, network, payTo };
  const routes = {
    [route]: { accepts, description, mimeType },
    [failingRoute]: { accepts, description: "Always fails with 500" },
    [streamRoute]: { accepts, description: "A streamed completion", mimeType: "text/plain" },
    [permit2Route]: {
      accepts: { ...accepts, extra: { assetTransferMethod: "permit2" } },
      // The facilitator sponsors the approval by EIP-2612 (its /supported says so).
      extensions: declareEip2612GasSponsoringExtension(),
      description: "Paid through Permit2",
      mimeType: "application/json",
    },
    [uptoRoute]: {
      accepts: { ...accepts, scheme: "upto" },
      extensions: declareEip2612GasSponsoringExtension(),
      description: "At most the price; the handler sets the charge",
      mimeType: "application/json",
    },
  };
  const handle = (methodAndPath, handler) => {
    const [method, path] = methodAndPath.split(" ");
    app[method.toLowerCase()](path, handler);
  };
  const app = express();
  app.use(paymentMiddleware(routes, server));
  handle(route, (_req, res) => res.json({ weather: "sunny", temperatureC: 21 }));
  handle(failingRoute, (_req, res) => res.status(500).send("the handler failed"));
  handle(streamRoute, (_req, res) => streamChunks(res));
  handle(permit2Route, (_req, res) => res.json({ via: "permit2" }));
  handle(uptoRoute, (req, res) => {
    const charge = String(req.query.charge ?? "0");
    setSettlementOverrides(res, { amount: charge });
    res.json({ charged: charge });
  });
  app.get("/health", (_req, res) => res.send("ok"));
  return listen(app, port);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      facilitator: { type: "string" },
      "pay-to": { type: "string" },
      port: { type: "string", default: "0" },
      route: { type: "string", default: "GET /weather" },
      price: { type: "string", default: "$0.001" },
      network: { type: "string", default: "eip155:84532" },
    },
  });
  if (!values.facilitator || !values["pay-to"]) {
    console.error("usage: node express-server.mjs --facilitator URL --pay-to 0x... [--port N]");
    process.exit(2);
  }
  const ref = await startReferenceServer({
    facilitatorUrl: values.facilitator,
    payTo: values["pay-to"],
    route: values.route,
    price: values.price,
    network: values.network,
    port: Number(values.port),
  });
  console.log(JSON.stringify({ url: ref.url }));
  const shutdown = () => ref.close().then(() => process.exit(0));
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}
