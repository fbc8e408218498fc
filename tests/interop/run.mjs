// The interop harness: the official x402 clients pay our servers, and our Rust buyer pays the
// official @x402/express server and ours, settled by the official facilitator on a local anvil
// chain. Prints one row per (server, scenario) and exits non-zero
// if any failed. Needs the examples built first: `cargo build -p examples --examples`.
//
//   node run.mjs [--only SUBSTRING]    (SUBSTRING filters servers and scenarios by name)

import { parseArgs } from "node:util";

import { startReferenceServer } from "./express-server.mjs";
import { startEnvironment } from "./lib/env.mjs";
import { installCleanup, stopAll } from "./lib/procs.mjs";
import { DISCOVERY_SCENARIOS } from "./lib/discovery-scenarios.mjs";
import { PAYMENT_ID_SCENARIOS } from "./lib/payment-id-scenarios.mjs";
import { DEV_FACILITATOR_SCENARIOS, PERMIT2_SCENARIOS } from "./lib/permit2-scenarios.mjs";
import { SCENARIOS } from "./lib/scenarios.mjs";
import { examplesDir, startOurServers, uptoRoute } from "./lib/servers.mjs";

const { values } = parseArgs({ options: { only: { type: "string" } } });
/** One scenario may take this long; the whole run this long (then everything is stopped). */
const SCENARIO_TIMEOUT_MS = 30_000;
const RUN_TIMEOUT_MS = 240_000;
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const log = (message) => console.log(`[${elapsed()}] ${message}`);

function printTable(rows) {
  const headers = ["server", "scenario", "result", "ms", "detail"];
  const cells = rows.map((r) => [r.server, r.scenario, r.ok ? "PASS" : "FAIL", String(r.ms), r.detail]);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  widths[4] = headers[4].length; // the detail column is last: no padding
  const line = (c) => c.map((v, i) => v.padEnd(widths[i])).join(" | ");
  console.log(line(headers));
  console.log(widths.map((w) => "-".repeat(w)).join("-|-"));
  for (const c of cells) console.log(line(c));
}

async function main() {
  installCleanup();
  setTimeout(async () => {
    console.error(`interop harness: still running after ${RUN_TIMEOUT_MS} ms; stopping`);
    await stopAll();
    process.exit(1);
  }, RUN_TIMEOUT_MS).unref();
  log(`examples from ${examplesDir()}`);
  const env = await startEnvironment();
  const closers = [env.stop];
  const rows = [];
  try {
    log(`anvil ${env.rpcUrl} (chain ${env.chainId}), USDC ${env.usdc}, facilitator ${env.facilitatorUrl}`);
    log(`payer ${env.payer.address} (USDC only), payee ${env.payee.address}`);
    log(`Permit2 ${env.permit2.permit2}, proxies ${env.permit2.exactProxy} ${env.permit2.uptoProxy}; Permit2 payer ${env.permit2Payer.address} (approved)`);
    const reference = await startReferenceServer({
      facilitatorUrl: env.facilitatorUrl,
      payTo: env.payee.address,
    });
    closers.push(reference.close);
    log(`official @x402/express reference on ${reference.url}`);
    const servers = await startOurServers(env);
    closers.push(servers.stop);
    for (const t of servers.targets) log(`${t.name} on ${t.url}`);

    // The official server is a target too: a control showing each scenario passes against the
    // reference implementation, so a failure on our servers is ours. It speaks v2 only (its 402
    // body is `{}`), so the v1 client cannot pay it; our servers also answer v1 clients.
    const targets = [
      {
        name: "official express (control)",
        url: reference.url,
        settles: true,
        v1: false,
        official: true,
        streamUrl: `${reference.url}/stream`,
        permit2: `${reference.url}/permit2`,
        upto: uptoRoute(`${reference.url}/metered`, "charge", { header: true }),
      },
      ...servers.targets,
    ];
    const ctx = { ...env, reference };
    const selected = (name) => !values.only || name.includes(values.only);
    for (const target of targets) {
      // A server on our dev facilitator (nothing settles on chain) runs its own rows only, and
      // so does the gateway with a ledger (the payment-identifier rows).
      const scenarios = target.dev
        ? DEV_FACILITATOR_SCENARIOS
        : target.ledger
          ? PAYMENT_ID_SCENARIOS
          : [...SCENARIOS, ...PERMIT2_SCENARIOS, ...DISCOVERY_SCENARIOS];
      for (const scenario of scenarios) {
        if (!scenario.applies(target) || !(selected(target.name) || selected(scenario.name))) {
          continue;
        }
        const t0 = Date.now();
        let ok = true;
        let detail;
        let timer;
        try {
          const timeout = new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`timed out after ${SCENARIO_TIMEOUT_MS} ms`)),
              SCENARIO_TIMEOUT_MS,
            );
          });
          detail = await Promise.race([scenario.run(ctx, target), timeout]);
        } catch (error) {
          ok = false;
          detail = error.message.replace(/\s+/g, " ");
        } finally {
          clearTimeout(timer);
        }
        rows.push({ server: target.name, scenario: scenario.name, ok, ms: Date.now() - t0, detail });
      }
    }
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
    await stopAll();
  }
  console.log();
  printTable(rows);
  const failed = rows.filter((r) => !r.ok).length;
  console.log();
  log(`${rows.length - failed} passed, ${failed} failed`);
  if (rows.length === 0) throw new Error("no scenario ran");
  return failed === 0;
}

main().then(
  (passed) => process.exit(passed ? 0 : 1),
  async (error) => {
    console.error(`interop harness failed: ${error.stack ?? error}`);
    await stopAll();
    process.exit(1);
  },
);
