// The scenarios. Each is `{ name, applies(target), run(ctx, target) }`; `run` throws (with
// `check`) on the first failed assertion and returns a one-line detail on success. `ctx` is the
// environment plus `reference` (the official @x402/express server for the same route). A
// target is `{ name, url, settles, failedHandlerCharged?, v1?, flow? }` and serves `GET /weather`
// (paid), `GET /broken` (paid, answers 500) and `GET /health` (free); a target with `streamUrl`
// also has a paid route there streaming `STREAM.chunks` chunks, one every `STREAM.everyMs` ms.
//
// Adding one: write `{ name, applies, run }` below (or in a file of your own) and add it to
// SCENARIOS; it runs against every target it applies to and gets a row in the table.

import { getAddress, parseEventLogs } from "viem";
import { authorizationTypes } from "@x402/evm";

import { erc20Abi, USDC } from "./chain.mjs";
import { STREAM } from "./forward-proxy.mjs";
import {
  decodePaymentRequiredHeader,
  decodePaymentResponseHeader,
  decodeXPaymentResponse,
  encodePaymentSignatureHeader,
  payV1,
  payV2,
  v2Core,
} from "./clients.mjs";
import { rustBuy } from "./rust-buyer.mjs";

/** The price of every paid route: $0.001 = 1000 atomic units of USDC. */
export const PRICE = 1000n;

/** Fails the scenario with `message` unless `condition`. */
export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** An unpaid GET: must be 402 with a decodable PAYMENT-REQUIRED header; returns it decoded. */
export async function challenge(url) {
  const response = await fetch(url);
  await response.arrayBuffer();
  check(response.status === 402, `unpaid GET ${url}: ${response.status}, expected 402`);
  const header = response.headers.get("payment-required");
  check(header, `unpaid GET ${url}: 402 without PAYMENT-REQUIRED`);
  return decodePaymentRequiredHeader(header);
}

/** The refusal reason of a 402: the `error` of its PAYMENT-REQUIRED (v2) or JSON body (v1). */
export async function refusal(response) {
  const body = await response.text();
  const header = response.headers.get("payment-required");
  if (header) return decodePaymentRequiredHeader(header).error ?? "";
  try {
    return JSON.parse(body).error ?? "";
  } catch {
    return "";
  }
}

/** Runs `action` and checks every balance moved by exactly `expected` (0 when absent). */
export async function moves(ctx, expected, action) {
  const before = await ctx.balances();
  const result = await action();
  const after = await ctx.balances();
  for (const who of Object.keys(before)) {
    const delta = after[who] - before[who];
    const want = expected[who] ?? 0n;
    check(delta === want, `${who} balance moved by ${delta}, expected ${want}`);
  }
  return result;
}

/** The settlement transaction is mined, succeeded, and moved PRICE from payer to payee. */
export async function checkMined(ctx, hash, payer) {
  check(/^0x[0-9a-f]{64}$/i.test(hash ?? ""), `receipt transaction ${hash} is not a tx hash`);
  const receipt = await ctx.chain.publicClient.getTransactionReceipt({ hash });
  check(receipt.status === "success", `tx ${hash} reverted`);
  const transfers = parseEventLogs({ abi: erc20Abi, logs: receipt.logs, eventName: "Transfer" });
  const paid = transfers.some(
    (log) =>
      getAddress(log.address) === getAddress(USDC) &&
      getAddress(log.args.from) === getAddress(payer) &&
      getAddress(log.args.to) === getAddress(ctx.payee.address) &&
      log.args.value === PRICE,
  );
  check(paid, `tx ${hash} has no USDC Transfer of ${PRICE} from the payer to the payee`);
  return receipt;
}

/** The official v2 client pays `url`; checks 200, the receipt, the mined tx. Returns the header. */
async function v2Purchase(ctx, url) {
  const { response, paymentHeader } = await payV2(url, ctx.payer.account, ctx.network);
  const body = await response.text();
  check(response.status === 200, `paid GET: ${response.status}, expected 200: ${body.slice(0, 200)}`);
  check(paymentHeader, "the client sent no PAYMENT-SIGNATURE");
  const header = response.headers.get("payment-response");
  check(header, "200 without PAYMENT-RESPONSE");
  const receipt = decodePaymentResponseHeader(header);
  check(receipt.success === true, `PAYMENT-RESPONSE success=${receipt.success}`);
  check(receipt.network === ctx.network, `PAYMENT-RESPONSE network ${receipt.network}`);
  const mined = await checkMined(ctx, receipt.transaction, ctx.payer.address);
  return { paymentHeader, receipt, mined };
}

/** A payload from the official v2 client for `url`'s challenge, for the tampering scenarios. */
export async function officialPayload(ctx, url) {
  const required = await challenge(url);
  return v2Core(ctx.payer.account, ctx.network).createPaymentPayload(required);
}

/** Sends a hand-made v2 payment to `url`: must be 402 naming a reason matching `reason`. */
async function expectRefused(url, payload, reason) {
  const response = await fetch(url, {
    headers: { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) },
  });
  const error = await refusal(response);
  check(response.status === 402, `${response.status}, expected 402 (reason ${error || "none"})`);
  check(error, "402 without a reason (`error`)");
  check(reason.test(error), `402 reason "${error}" does not match ${reason}`);
  return `402 ${error}`;
}

/** Canonical JSON: object keys sorted, so field order does not count. */
export const canonical = (value) =>
  JSON.stringify(value, (_, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );

const paying = (target) => target.settles;

/** One report of our Rust buyer is a paid request: 200, a success receipt, its tx mined. */
export async function checkRustPaid(ctx, report) {
  check(report.status === 200, `paid GET: ${report.status}, expected 200`);
  const { purchase } = report;
  check(purchase, "200 without a purchase: the buyer paid nothing");
  check(purchase.amount === String(PRICE), `paid ${purchase.amount}, expected ${PRICE}`);
  check(purchase.chain === ctx.network, `paid on ${purchase.chain}, expected ${ctx.network}`);
  const { receipt } = purchase;
  check(receipt, "no decoded receipt (PAYMENT-RESPONSE) in the purchase");
  check(receipt.success === true, `receipt success=${receipt.success}: ${JSON.stringify(receipt)}`);
  check(receipt.network === ctx.network, `receipt network ${receipt.network}`);
  return checkMined(ctx, receipt.transaction, ctx.payer.address);
}

/** Our buyer was refused before paying: exit 1, nothing printed, the error names `cap`. */
function checkRustRefused(run, cap) {
  check(run.code === 1, `buyer exit ${run.code}, expected 1 (stderr: ${run.stderr.trim()})`);
  check(new RegExp(`\\b${cap}\\b`).test(run.stderr), `the error does not name ${cap}: ${run.stderr.trim()}`);
  return run.stderr.trim().replace(/^error: /, "");
}

/**
 * Pays `url` (a streamed route) with a payment signed beforehand by the official client, and
 * times the paid request alone: `{ headersMs, firstByteMs, totalMs, chunks, receipt, mined }`,
 * from sending the request to its response headers, to the first body byte, to the last.
 */
async function timedStream(ctx, url) {
  const payload = await officialPayload(ctx, url);
  const headers = { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) };
  const t0 = performance.now();
  const response = await fetch(url, { headers });
  const headersMs = performance.now() - t0;
  if (response.status !== 200) {
    check(false, `paid GET: ${response.status}, expected 200: ${(await response.text()).slice(0, 200)}`);
  }
  const reader = response.body.getReader();
  let firstByteMs;
  let text = "";
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (firstByteMs === undefined && value.length > 0) firstByteMs = performance.now() - t0;
    text += decoder.decode(value, { stream: true });
  }
  const totalMs = performance.now() - t0;
  const chunks = text.split("\n").filter(Boolean);
  check(chunks.length === STREAM.chunks, `${chunks.length} chunks, expected ${STREAM.chunks}`);
  check(chunks.at(-1) === `token ${STREAM.chunks}`, `last chunk "${chunks.at(-1)}"`);
  const header = response.headers.get("payment-response");
  check(header, "200 without PAYMENT-RESPONSE");
  const receipt = decodePaymentResponseHeader(header);
  check(receipt.success === true, `PAYMENT-RESPONSE success=${receipt.success}`);
  const mined = await checkMined(ctx, receipt.transaction, ctx.payer.address);
  return { headersMs, firstByteMs, totalMs, chunks: chunks.length, receipt, mined };
}

export const SCENARIOS = [
  {
    name: "402 accepts = official @x402/express",
    applies: () => true,
    async run(ctx, target) {
      const ours = await challenge(`${target.url}/weather`);
      const official = await challenge(`${ctx.reference.url}/weather`);
      check(ours.x402Version === 2, `x402Version ${ours.x402Version}`);
      // A target settling before its handler offers the `upfront` flow: the official offer
      // with `extra.paymentFlow: "upfront"` (the official server's flow is `authorization`,
      // which the wire leaves unsaid).
      const expected = official.accepts.map((option) =>
        target.flow ? { ...option, extra: { ...option.extra, paymentFlow: target.flow } } : option,
      );
      const a = ours.accepts.map(canonical).sort();
      const b = expected.map(canonical).sort();
      check(
        canonical(a) === canonical(b),
        `accepts differ:\n  ours:     ${a.join(", ")}\n  official: ${b.join(", ")}`,
      );
      const first = ours.accepts[0];
      const flow = target.flow ? `, paymentFlow ${target.flow}` : "";
      return `${a.length} option(s) identical (${first.amount} of ${first.asset.slice(0, 8)}… on ${first.network}, ${first.maxTimeoutSeconds} s${flow})`;
    },
  },
  {
    name: "v2 @x402/fetch pays",
    applies: paying,
    async run(ctx, target) {
      const { receipt, mined } = await moves(ctx, { payer: -PRICE, payee: PRICE }, () =>
        v2Purchase(ctx, `${target.url}/weather`),
      );
      return `200, PAYMENT-RESPONSE ok, tx ${receipt.transaction.slice(0, 10)}… in block ${mined.blockNumber}, payee +${PRICE}`;
    },
  },
  {
    name: "v1 x402-fetch pays",
    applies: (target) => paying(target) && target.v1 !== false,
    async run(ctx, target) {
      const result = await moves(ctx, { payer: -PRICE, payee: PRICE }, async () => {
        const { response, paymentHeader } = await payV1(`${target.url}/weather`, ctx.payer.account, ctx);
        const body = await response.text();
        check(response.status === 200, `paid GET: ${response.status}: ${body.slice(0, 200)}`);
        check(paymentHeader, "the v1 client sent no X-PAYMENT");
        const header = response.headers.get("x-payment-response");
        check(header, "200 without X-PAYMENT-RESPONSE");
        const receipt = decodeXPaymentResponse(header);
        check(receipt.success === true, `X-PAYMENT-RESPONSE success=${receipt.success}`);
        check(receipt.network === "base-sepolia", `X-PAYMENT-RESPONSE network ${receipt.network}`);
        const mined = await checkMined(ctx, receipt.transaction, ctx.payer.address);
        return { receipt, mined };
      });
      return `200, X-PAYMENT-RESPONSE ok, tx ${result.receipt.transaction.slice(0, 10)}…, payee +${PRICE}`;
    },
  },
  {
    name: "Rust buyer (X402PayLayer) pays",
    applies: paying,
    async run(ctx, target) {
      const { mined, run } = await moves(ctx, { payer: -PRICE, payee: PRICE }, async () => {
        const run = await rustBuy(ctx, `${target.url}/weather`);
        check(run.code === 0, `buyer exit ${run.code}, expected 0 (stderr: ${run.stderr.trim()})`);
        check(run.reports.length === 1, `${run.reports.length} reports, expected 1`);
        return { mined: await checkRustPaid(ctx, run.reports[0]), run };
      });
      const { receipt } = run.reports[0].purchase;
      return `exit 0, 200, receipt success, tx ${receipt.transaction.slice(0, 10)}… in block ${mined.blockNumber}, payee +${PRICE}`;
    },
  },
  {
    name: "Rust buyer: maxTotal refuses the 2nd",
    applies: (target) => target.official === true,
    async run(ctx, target) {
      // One process, two purchases, a total cap of one price: the first pays, the second is
      // refused before anything is signed, so the money moves once.
      return moves(ctx, { payer: -PRICE, payee: PRICE }, async () => {
        const run = await rustBuy(ctx, `${target.url}/weather`, ["--max-total", String(PRICE), "--repeat", "2"]);
        check(run.reports.length === 1, `${run.reports.length} reports, expected only the first`);
        await checkRustPaid(ctx, run.reports[0]);
        const refused = checkRustRefused(run, "maxTotal");
        check(/request 2 of 2/.test(run.stderr), `the refusal is not the 2nd request's: ${refused}`);
        return `1st paid (payee +${PRICE}), 2nd refused: ${refused}`;
      });
    },
  },
  {
    name: "Rust buyer: maxPerRequest < price refused",
    applies: (target) => target.official === true,
    async run(ctx, target) {
      return moves(ctx, {}, async () => {
        const run = await rustBuy(ctx, `${target.url}/weather`, ["--max-per-request", String(PRICE - 1n)]);
        check(run.reports.length === 0, `${run.reports.length} reports, expected none`);
        return `refused: ${checkRustRefused(run, "maxPerRequest")}, no balance moved`;
      });
    },
  },
  {
    name: "replayed payment refused",
    applies: paying,
    async run(ctx, target) {
      const url = `${target.url}/weather`;
      const { paymentHeader } = await moves(ctx, { payer: -PRICE, payee: PRICE }, () =>
        v2Purchase(ctx, url),
      );
      return moves(ctx, {}, async () => {
        const response = await fetch(url, { headers: { "PAYMENT-SIGNATURE": paymentHeader } });
        const error = await refusal(response);
        check(response.status === 402, `replay: ${response.status}, expected 402`);
        check(/nonce|replay|used|duplicate|settled/i.test(error), `replay reason "${error}"`);
        return `paid once, replay: 402 ${error}, no balance moved`;
      });
    },
  },
  {
    name: "payer without funds refused",
    applies: paying,
    async run(ctx, target) {
      return moves(ctx, {}, async () => {
        const { response } = await payV2(`${target.url}/weather`, ctx.brokePayer.account, ctx.network);
        const error = await refusal(response);
        check(response.status === 402, `${response.status}, expected 402 (reason ${error || "none"})`);
        check(/insufficient|balance|funds/i.test(error), `reason "${error}"`);
        return `402 ${error}, no balance moved`;
      });
    },
  },
  {
    name: "tampered amount refused",
    applies: paying,
    async run(ctx, target) {
      const url = `${target.url}/weather`;
      const payload = await officialPayload(ctx, url);
      // The payer edits the signed authorization to pay 1 unit instead of the price.
      payload.payload.authorization.value = "1";
      return moves(ctx, {}, async () => {
        const refused = await expectRefused(url, payload, /amount|value|signature|requirement|match/i);
        return `${refused}, no balance moved`;
      });
    },
  },
  {
    name: "expired authorization refused",
    applies: paying,
    async run(ctx, target) {
      const url = `${target.url}/weather`;
      const payload = await officialPayload(ctx, url);
      // A correctly signed authorization whose validity window closed a minute ago.
      const now = Math.floor(Date.now() / 1000);
      const authorization = {
        ...payload.payload.authorization,
        validAfter: String(now - 600),
        validBefore: String(now - 60),
      };
      const { accepted } = payload;
      const signature = await ctx.payer.account.signTypedData({
        domain: {
          name: accepted.extra.name,
          version: accepted.extra.version,
          chainId: ctx.chainId,
          verifyingContract: getAddress(accepted.asset),
        },
        types: authorizationTypes,
        primaryType: "TransferWithAuthorization",
        message: {
          from: authorization.from,
          to: authorization.to,
          value: BigInt(authorization.value),
          validAfter: BigInt(authorization.validAfter),
          validBefore: BigInt(authorization.validBefore),
          nonce: authorization.nonce,
        },
      });
      payload.payload = { authorization, signature };
      return moves(ctx, {}, async () => {
        const refused = await expectRefused(url, payload, /expire|valid_?before|deadline/i);
        return `${refused}, no balance moved`;
      });
    },
  },
  {
    name: "handler 500 not charged",
    applies: (target) => !target.failedHandlerCharged,
    async run(ctx, target) {
      return moves(ctx, {}, async () => {
        const { response, paymentHeader } = await payV2(`${target.url}/broken`, ctx.payer.account, ctx.network);
        await response.arrayBuffer();
        check(paymentHeader, "the client sent no payment");
        check(response.status === 500, `${response.status}, expected the handler's 500`);
        const receipt = response.headers.get("payment-response");
        check(!receipt || decodePaymentResponseHeader(receipt).success !== true, "a success receipt on a 500");
        return "paid request answered 500, no balance moved";
      });
    },
  },
  {
    name: "handler 500 charged at auth hop (documented)",
    applies: (target) => target.failedHandlerCharged === true,
    async run(ctx, target) {
      // Settling in forward-auth mode happens before the upstream runs: the gateway warns at
      // startup, and verify-only (the default) avoids it. This pins the documented behaviour.
      return moves(ctx, { payer: -PRICE, payee: PRICE }, async () => {
        const { response } = await payV2(`${target.url}/broken`, ctx.payer.account, ctx.network);
        await response.arrayBuffer();
        check(response.status === 500, `${response.status}, expected the upstream's 500`);
        return "upstream 500, charged as documented for settling at the auth hop";
      });
    },
  },
  {
    name: "streamed response: first byte",
    applies: (target) => target.streamUrl !== undefined,
    async run(ctx, target) {
      // The handler streams for STREAM.chunks * STREAM.everyMs (2 s). Settled before the
      // body starts, the first byte follows settlement; a server that holds the body back to
      // settle at its end (the official middleware does) sends it after the last chunk.
      const streamMs = STREAM.chunks * STREAM.everyMs;
      const t = await moves(ctx, { payer: -PRICE, payee: PRICE }, () => timedStream(ctx, target.streamUrl));
      const figures = `TTFB ${t.firstByteMs.toFixed(0)} ms (headers ${t.headersMs.toFixed(0)} ms), total ${t.totalMs.toFixed(0)} ms`;
      if (!target.official) {
        check(
          t.firstByteMs < streamMs / 2,
          `first byte after ${t.firstByteMs.toFixed(0)} ms of a ${streamMs} ms stream: the body was held back (${figures})`,
        );
      }
      return `${figures}, ${t.chunks} chunks, tx ${t.receipt.transaction.slice(0, 10)}…, payee +${PRICE}`;
    },
  },
  {
    name: "verify-only: served, not settled",
    applies: (target) => !target.settles,
    async run(ctx, target) {
      return moves(ctx, {}, async () => {
        const { response, paymentHeader } = await payV2(`${target.url}/weather`, ctx.payer.account, ctx.network);
        const body = await response.text();
        check(paymentHeader, "the client sent no payment");
        check(response.status === 200, `${response.status}, expected 200: ${body.slice(0, 200)}`);
        check(
          JSON.parse(body).paidBy === ctx.payer.address,
          `the upstream saw payer ${JSON.parse(body).paidBy}, expected ${ctx.payer.address}`,
        );
        return "verified, served with X-Payment-Payer, no balance moved";
      });
    },
  },
];
