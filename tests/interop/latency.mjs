// End-to-end latency of a paid request through the official facilitator on the local chain:
// our servers against the official @x402/express server, the same route, the same facilitator,
// one request at a time. Prints one table and exits non-zero if any payment failed.
//
//   node latency.mjs [--payments N]     (default 200 per server)
//
// Each payment is signed beforehand by the official client (so signing is not timed), then
// sent alone: the time is from sending the paid `GET /weather` to its last byte. The
// facilitator records how long each `/verify` and `/settle` took; "the rest" is the request's
// time minus both: the server itself, its HTTP client to the facilitator, loopback and the
// client. Settling is a real `transferWithAuthorization` on anvil, mined at once (automine), the
// facilitator waiting for its receipt (lib/facilitator.mjs).
//
// The servers are the builds in X402_EXAMPLES_DIR (default target/debug/examples, as the
// interop harness): for figures worth comparing, build them optimized and point it there,
//   cargo build --profile bench -p examples --examples && cargo build --profile bench -p x402-gateway
//   X402_EXAMPLES_DIR=target/release/examples node tests/interop/latency.mjs

import { parseArgs } from "node:util";

import { startReferenceServer } from "./express-server.mjs";
import { encodePaymentSignatureHeader, decodePaymentResponseHeader } from "./lib/clients.mjs";
import { startEnvironment } from "./lib/env.mjs";
import { installCleanup, stopAll } from "./lib/procs.mjs";
import { check, checkMined, officialPayload, PRICE } from "./lib/scenarios.mjs";
import { examplesDir, startOurServers } from "./lib/servers.mjs";

const { values } = parseArgs({ options: { payments: { type: "string", default: "200" } } });
const PAYMENTS = Number(values.payments);
if (!Number.isInteger(PAYMENTS) || PAYMENTS < 1) throw new Error(`--payments ${values.payments}: not a positive integer`);

/** The q-quantile (0..1) of `values` (nearest rank). */
function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/**
 * Pays each of `urls` PAYMENTS times, one request at a time, interleaved: round `i` pays every
 * server once, starting at a different server each round. The facilitator and anvil get slower
 * as payments accumulate over a run (settle medians rose by ~100 ms after some 600 settlements,
 * whichever server came then), so measuring the servers one after another would charge that to
 * whichever came last. Resolves to per-URL arrays of `{ totalMs, verifyMs, settleMs, tx }`.
 */
async function measure(env, urls) {
  const payloads = new Map();
  for (const url of urls) {
    const signed = [];
    for (let i = 0; i < PAYMENTS; i += 1) signed.push(await officialPayload(env, url));
    payloads.set(url, signed);
  }
  const samples = new Map(urls.map((url) => [url, []]));
  const before = await env.balanceOf(env.payee.address);
  for (let i = 0; i < PAYMENTS; i += 1) {
    for (let k = 0; k < urls.length; k += 1) {
      const url = urls[(i + k) % urls.length];
      const payload = payloads.get(url)[i];
      env.facilitatorTimings.length = 0;
      const t0 = performance.now();
      const response = await fetch(url, { headers: { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) } });
      const body = await response.text();
      const totalMs = performance.now() - t0;
      check(response.status === 200, `${url}: ${response.status}, expected 200: ${body.slice(0, 200)}`);
      const receipt = decodePaymentResponseHeader(response.headers.get("payment-response") ?? "");
      check(receipt.success === true, `${url}: receipt success=${receipt.success}`);
      const spent = (operation) =>
        env.facilitatorTimings.filter((t) => t.operation === operation).reduce((sum, t) => sum + t.ms, 0);
      samples.get(url).push({ totalMs, verifyMs: spent("verify"), settleMs: spent("settle"), tx: receipt.transaction });
    }
  }
  // Every payment moved the price, and each server's last one is a mined USDC transfer.
  const after = await env.balanceOf(env.payee.address);
  const expected = PRICE * BigInt(PAYMENTS * urls.length);
  check(after - before === expected, `payee +${after - before}, expected ${expected}`);
  for (const url of urls) await checkMined(env, samples.get(url).at(-1).tx, env.payer.address);
  return samples;
}

async function main() {
  installCleanup();
  const env = await startEnvironment();
  const closers = [env.stop];
  const rows = [];
  try {
    const reference = await startReferenceServer({ facilitatorUrl: env.facilitatorUrl, payTo: env.payee.address });
    closers.push(reference.close);
    const servers = await startOurServers(env);
    closers.push(servers.stop);
    const ours = servers.targets.filter((t) => ["axum (quickstart)", "actix", "gateway proxy"].includes(t.name));
    const targets = [{ name: "official express", url: reference.url }, ...ours];
    const measured = await measure(env, targets.map((t) => `${t.url}/weather`));
    for (const target of targets) {
      const samples = measured.get(`${target.url}/weather`);
      const pick = (field) => samples.map((s) => s[field]);
      const rest = samples.map((s) => s.totalMs - s.verifyMs - s.settleMs);
      rows.push({
        server: target.name,
        p50: quantile(pick("totalMs"), 0.5),
        p99: quantile(pick("totalMs"), 0.99),
        verify: quantile(pick("verifyMs"), 0.5),
        settle: quantile(pick("settleMs"), 0.5),
        rest: quantile(rest, 0.5),
        restP99: quantile(rest, 0.99),
      });
      console.error(`${target.name}: ${PAYMENTS} payments settled (interleaved with the others)`);
    }
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
    await stopAll();
  }
  const official = rows[0];
  console.log(`\npaid GET /weather, ${PAYMENTS} payments per server, one at a time, the servers interleaved, official facilitator on anvil`);
  console.log(`our servers: the builds in ${examplesDir()}`);
  console.log("| server | p50 ms | p99 ms | p50 vs official | verify p50 | settle p50 | the rest p50 · p99 |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    const f = (ms) => ms.toFixed(1);
    console.log(
      `| ${r.server} | ${f(r.p50)} | ${f(r.p99)} | ${(r.p50 / official.p50).toFixed(2)}× | ${f(r.verify)} | ${f(r.settle)} | ${f(r.rest)} · ${f(r.restP99)} |`,
    );
  }
}

main().then(
  () => process.exit(0),
  async (error) => {
    console.error(`latency report failed: ${error.stack ?? error}`);
    await stopAll();
    process.exit(1);
  },
);
