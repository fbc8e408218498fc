// Our servers, built by cargo (`cargo build -p examples --examples`), started on free loopback
// ports and pointed at the official facilitator on network base-sepolia. Each becomes a target
// of the scenarios: `{ name, url, settles, failedHandlerCharged, streamUrl, flow, permit2,
// upto, ledger, paymentIds }`.

import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { startForwardProxy, startUpstream } from "./forward-proxy.mjs";
import { freePort, spawnTracked, waitForHttp } from "./procs.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const configs = path.join(here, "..", "configs");

/** The directory holding the built examples (`X402_EXAMPLES_DIR`, default target/debug/examples). */
export const examplesDir = () =>
  process.env.X402_EXAMPLES_DIR ??
  path.resolve(here, "..", "..", "..", "target", "debug", "examples");

/** The path of a built example; an error saying how to build it if it is missing. */
export async function binary(name) {
  const file = path.join(examplesDir(), name);
  try {
    await access(file);
  } catch {
    throw new Error(`${file} not found: build the examples first (cargo build -p examples --examples)`);
  }
  return file;
}

/**
 * The path of the built gateway (package x402-gateway): the `x402-gateway` binary next to the
 * examples directory (default target/debug/x402-gateway); an error saying how to build it.
 */
export async function gatewayBinary() {
  const file = path.join(examplesDir(), "..", "x402-gateway");
  try {
    await access(file);
  } catch {
    throw new Error(`${file} not found: build the gateway first (cargo build -p x402-gateway)`);
  }
  return file;
}

/** Fills `${NAME}` placeholders of a config template; an unknown name is an error. */
async function fillTemplate(file, values) {
  const text = await readFile(path.join(configs, file), "utf8");
  return text.replace(/\$\{([A-Z_]+)\}/g, (_, name) => {
    if (!(name in values)) throw new Error(`${file}: no value for \${${name}}`);
    return values[name];
  });
}

/**
 * Starts one example binary with PORT/X402_PAY_TO/X402_FACILITATOR_URL; waits for /health.
 * With `devFacilitator`, X402_FACILITATOR_URL is left unset: the example then uses the
 * in-process dev facilitator (which settles nothing on chain).
 */
async function startExample(name, example, args, env, { devFacilitator = false } = {}) {
  const port = await freePort();
  const proc = await spawnTracked(name, await binary(example), args, {
    env: {
      PORT: String(port),
      X402_PAY_TO: env.payee.address,
      // undefined: not passed to the child at all.
      X402_FACILITATOR_URL: devFacilitator ? undefined : env.facilitatorUrl,
      RUST_LOG: "warn",
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/health`, { proc });
  return url;
}

/** Starts a gateway from a config template; waits until it answers HTTP. */
async function startGateway(name, template, values, workDir) {
  const port = await freePort();
  const file = path.join(workDir, `${name.replace(/[^a-z0-9]+/gi, "-")}.yaml`);
  await writeFile(file, await fillTemplate(template, { ...values, PORT: String(port) }));
  const proc = await spawnTracked(name, await gatewayBinary(), ["--config", file], {
    env: { RUST_LOG: "warn" },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/health`, { proc });
  return url;
}

/**
 * The `upto` route `url` of a target, as the scenarios use it: `(charge) => URL` where `charge`
 * is `{ atomic, header? }` (e.g. `{ atomic: 400n, header: "40%" }`). The handler is told the
 * charge in the query parameter `param`: with `header`, the target's handler puts the value in
 * a `Settlement-Overrides` header verbatim, so `charge.header` is sent when there is one (any
 * form: `"40%"`, `"$0.0004"`, `"250"`); otherwise the handler charges atomic units by the typed
 * API and `charge.atomic` is sent. `(charge) => URL` also has `header` (whether the target takes
 * header values).
 */
export function uptoRoute(url, param, { header = false } = {}) {
  const route = (charge) =>
    `${url}?${param}=${encodeURIComponent(header && charge.header ? charge.header : String(charge.atomic))}`;
  route.header = header;
  return route;
}

/**
 * Starts every server under test. Resolves to `{ targets, stop }`; `stop` closes the in-process
 * helpers (the binaries are children, stopped by `stopAll`).
 */
export async function startOurServers(env) {
  const closers = [];
  const workDir = await mkdtemp(path.join(tmpdir(), "x402-interop-"));
  closers.push(() => rm(workDir, { recursive: true, force: true }));
  const stop = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    const upstream = await startUpstream();
    closers.push(upstream.close);
    const payment = { PAY_TO: env.payee.address, FACILITATOR_URL: env.facilitatorUrl };
    const forwardAuth = async (name, settlement) => {
      const gateway = await startGateway(
        name,
        "gateway-forward-auth.yaml",
        { ...payment, SETTLEMENT: settlement },
        workDir,
      );
      const proxy = await startForwardProxy({ gateway, upstream: upstream.url });
      closers.push(proxy.close);
      return proxy.url;
    };
    const [axum, streaming, metered, meteredDev, actix, proxy, ledgered, faSettle, faVerify] = await Promise.all([
      startExample("axum (quickstart)", "quickstart", ["--serve-only"], env),
      startExample("axum (streaming)", "streaming", [], env),
      startExample("axum (metered)", "metered", [], env),
      startExample("axum (metered, dev facilitator)", "metered", [], env, { devFacilitator: true }),
      startExample("actix", "actix", [], env),
      startGateway(
        "gateway proxy",
        "gateway-proxy.yaml",
        { ...payment, UPSTREAM: upstream.url },
        workDir,
      ),
      startGateway(
        "gateway proxy (ledger)",
        "gateway-ledger.yaml",
        { ...payment, UPSTREAM: upstream.url, LEDGER: path.join(workDir, "ledger.db") },
        workDir,
      ),
      forwardAuth("gateway forward-auth", "before"),
      forwardAuth("gateway forward-auth verify-only", "verify-only"),
    ]);
    const targets = [
      // `streamUrl`: a paid route streaming a chunk every 50 ms for 2 s (the streaming
      // example for our tower layer; the upstream's /stream through the gateway).
      // `permit2`: the URL of an `exact` route paid through Permit2; `upto(charge)`: the URL of
      // an `upto` route (at most PRICE) whose handler charges `charge`, a string the
      // scenarios pass as "400" or "40%" style (see `uptoRoute`): the metered example and
      // actix take atomic units in `?tokens=` and charge them by the typed API (the
      // response's `SettlementOverrides` extension); through the gateway, the upstream sets
      // `Settlement-Overrides: {"amount": charge}`.
      {
        name: "axum (quickstart)",
        url: axum,
        settles: true,
        streamUrl: `${streaming}/stream`,
        permit2: `${metered}/permit2`,
        upto: uptoRoute(`${metered}/metered`, "tokens"),
      },
      {
        name: "actix",
        url: actix,
        settles: true,
        permit2: `${actix}/permit2`,
        upto: uptoRoute(`${actix}/metered`, "tokens"),
      },
      {
        name: "gateway proxy",
        url: proxy,
        settles: true,
        streamUrl: `${proxy}/stream`,
        permit2: `${proxy}/permit2`,
        upto: uptoRoute(`${proxy}/metered`, "charge", { header: true }),
        discovery: proxy,
      },
      // Settling at the auth hop: the hop cannot see the upstream's status, so a failing
      // upstream is charged. The gateway warns about it at startup; verify-only is the default.
      // Settling before the upstream is the `upfront` flow, said on the wire as
      // `extra.paymentFlow: "upfront"` (the official server offers `authorization`).
      {
        name: "gateway fwd-auth (before)",
        url: faSettle,
        settles: true,
        failedHandlerCharged: true,
        flow: "upfront",
      },
      { name: "gateway fwd-auth (verify-only)", url: faVerify, settles: false },
      // The gateway with a SQLite ledger, `/weather` requiring a payment-identifier id: its
      // own rows only (`ledger`), since with a ledger a resent payment is served again rather
      // than refused as a replay.
      {
        name: "gateway proxy (ledger)",
        url: ledgered,
        ledger: true,
        settles: true,
        paymentIds: `${ledgered}/weather`,
      },
      // Our dev facilitator (in process) checking the official client's Permit2 and upto
      // signatures: it settles nothing on chain, so only its own rows apply (`dev`).
      {
        name: "axum metered (dev facilitator)",
        url: meteredDev,
        dev: true,
        settles: false,
        permit2: `${meteredDev}/permit2`,
        upto: uptoRoute(`${meteredDev}/metered`, "tokens"),
      },
    ];
    return { targets, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
