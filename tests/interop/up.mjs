// Starts the shared environment (anvil with USDC, a funded payer, the official facilitator) and
// the official @x402/express reference server, prints it as one JSON line, and keeps it up until
// SIGINT/SIGTERM or until stdin closes. For scenarios driven from outside node, e.g. a Rust
// buyer paying the official server:
//
//   node tests/interop/up.mjs
//   {"rpcUrl":"http://127.0.0.1:…","chainId":84532,"usdc":"0x036C…","facilitatorUrl":"…",
//    "referenceUrl":"http://127.0.0.1:…/weather","payerKey":"0x…","payer":"0x…","payee":"0x…",
//    "price":"1000"}
//
// Balances: `balanceOf(address)` on `usdc` at `rpcUrl` (e.g. `cast call` or any JSON-RPC client).

import { startReferenceServer } from "./express-server.mjs";
import { startEnvironment } from "./lib/env.mjs";
import { installCleanup, stopAll } from "./lib/procs.mjs";
import { PRICE } from "./lib/scenarios.mjs";

installCleanup();
const env = await startEnvironment();
let reference;
try {
  reference = await startReferenceServer({ facilitatorUrl: env.facilitatorUrl, payTo: env.payee.address });
} catch (error) {
  await env.stop();
  throw error;
}
console.log(
  JSON.stringify({
    rpcUrl: env.rpcUrl,
    chainId: env.chainId,
    usdc: env.usdc,
    facilitatorUrl: env.facilitatorUrl,
    referenceUrl: `${reference.url}/weather`,
    payerKey: env.payer.key,
    payer: env.payer.address,
    payee: env.payee.address,
    price: String(PRICE),
  }),
);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  await reference.close();
  await env.stop();
  await stopAll();
  process.exit(0);
}
// SIGINT/SIGTERM: installCleanup stops anvil by its PID and exits.
process.stdin.on("end", shutdown);
process.stdin.resume();
