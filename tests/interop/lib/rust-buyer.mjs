// Our Rust buyer as a client under test: the `buyer` example (`X402PayLayer` over hyper-util's
// client), run as a child process with the payer's key, its report parsed back.
//
//   const run = await rustBuy(ctx, url, ["--max-total", "1000", "--repeat", "2"]);
//   run.code, run.reports[0].status, run.reports[0].purchase.receipt, run.stderr

import { binary } from "./servers.mjs";
import { spawnTracked, stop } from "./procs.mjs";

/** The buyer must be done within this long (a scenario's own limit is 30 s). */
const BUYER_TIMEOUT_MS = 20_000;

/**
 * Parses the buyer's stdout: one report per request (`request I of N` starts each when
 * `--repeat` > 1), each `status: NNN`, `body:` and `purchase:` followed by JSON or `null …`.
 */
export function parseReports(stdout) {
  const sections = stdout.split(/^request \d+ of \d+\n/m).filter((s) => s.trim() !== "");
  return sections.map((section) => {
    const status = /^status: (\d{3})/.exec(section);
    if (!status) throw new Error(`buyer report without a status:\n${section.slice(0, 400)}`);
    const marker = section.lastIndexOf("\npurchase:");
    if (marker < 0) throw new Error(`buyer report without a purchase:\n${section.slice(0, 400)}`);
    const rest = section.slice(marker + "\npurchase:".length).trim();
    const purchase = rest.startsWith("null") ? null : JSON.parse(rest);
    return { status: Number(status[1]), purchase };
  });
}

/**
 * Runs the buyer on `url` with the environment's payer key on its network, plus `args`.
 * Resolves to `{ code, reports, stdout, stderr }` once it exited.
 */
export async function rustBuy(ctx, url, args = [], { key = ctx.payer.key } = {}) {
  const proc = await spawnTracked(
    "rust buyer",
    await binary("buyer"),
    [url, "--network", ctx.network, ...args],
    { env: { X402_BUYER_KEY: key, RUST_LOG: "warn" }, capture: true },
  );
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`buyer still running after ${BUYER_TIMEOUT_MS} ms`)), BUYER_TIMEOUT_MS);
  });
  let code;
  try {
    code = await Promise.race([proc.closed, timeout]);
  } finally {
    clearTimeout(timer);
    await stop(proc);
  }
  const stdout = proc.stdout();
  const stderr = proc.stderr();
  let reports;
  try {
    reports = parseReports(stdout);
  } catch (error) {
    throw new Error(`${error.message}\nbuyer exit ${code}, stderr: ${stderr.slice(0, 400)}`);
  }
  return { code, reports, stdout, stderr };
}
