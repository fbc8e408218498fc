// The `payment-identifier` scenarios (issue 19): the official client, with the official
// extension helpers of @x402/extensions, pays a route that requires an id, through a gateway
// whose ledger keeps the ids, and so does our Rust buyer. A target with `paymentIds` (the URL
// of such a route) runs them.

import {
  appendPaymentIdentifierToExtensions,
  declarePaymentIdentifierExtension,
  generatePaymentId,
} from "@x402/extensions/payment-identifier";

import { decodePaymentResponseHeader, encodePaymentSignatureHeader, v2Core } from "./clients.mjs";
import { rustBuy } from "./rust-buyer.mjs";
import { canonical, challenge, check, checkMined, checkRustPaid, moves, PRICE } from "./scenarios.mjs";

/**
 * The official client's payment for `url`'s challenge carrying `id` as its payment-identifier
 * (`appendPaymentIdentifierToExtensions` on the challenge's `extensions`, then
 * `x402Client.createPaymentPayload`, which echoes them), as a `PAYMENT-SIGNATURE` value.
 * Without `id`, the payment carries none.
 */
async function paymentWithId(ctx, url, id) {
  const required = await challenge(url);
  if (id) appendPaymentIdentifierToExtensions(required.extensions, id);
  const payload = await v2Core(ctx.payer.account, ctx.network).createPaymentPayload(required);
  return encodePaymentSignatureHeader(payload);
}

/** Sends `header` to `url`; resolves `{ status, body, receipt }` (the decoded receipt if any). */
async function send(url, header) {
  const response = await fetch(url, { headers: { "PAYMENT-SIGNATURE": header } });
  const body = await response.text();
  const receiptHeader = response.headers.get("payment-response");
  const receipt = receiptHeader ? decodePaymentResponseHeader(receiptHeader) : undefined;
  return { status: response.status, body, receipt };
}

/** The `reason` of one of our JSON error bodies. */
function reason(body) {
  try {
    return JSON.parse(body).reason ?? "";
  } catch {
    return "";
  }
}

const withIds = (target) => Boolean(target.paymentIds);

export const PAYMENT_ID_SCENARIOS = [
  {
    name: "payment-identifier: 402 declares it = @x402/extensions",
    applies: withIds,
    async run(ctx, target) {
      const ours = await challenge(target.paymentIds);
      const declared = ours.extensions?.["payment-identifier"];
      const official = declarePaymentIdentifierExtension(true);
      check(
        canonical(declared) === canonical(official),
        `declaration differs:\n  ours:     ${canonical(declared)}\n  official: ${canonical(official)}`,
      );
      return "extensions[\"payment-identifier\"] identical (required: true, schema)";
    },
  },
  {
    name: "payment-identifier: paid with an id, resent → same receipt, charged once",
    applies: withIds,
    async run(ctx, target) {
      const id = generatePaymentId();
      const header = await paymentWithId(ctx, target.paymentIds, id);
      const [first, again] = await moves(ctx, { payer: -PRICE, payee: PRICE }, async () => {
        const first = await send(target.paymentIds, header);
        check(first.status === 200, `paid GET: ${first.status}: ${first.body.slice(0, 200)}`);
        check(first.receipt?.success === true, "200 without a success PAYMENT-RESPONSE");
        await checkMined(ctx, first.receipt.transaction, ctx.payer.address);
        const again = await send(target.paymentIds, header);
        check(again.status === 200, `resent: ${again.status}: ${again.body.slice(0, 200)}`);
        return [first, again];
      });
      check(
        again.receipt?.transaction === first.receipt.transaction,
        `resent: receipt tx ${again.receipt?.transaction}, expected ${first.receipt.transaction}`,
      );
      return `${id}: 200, resent 200 with tx ${first.receipt.transaction.slice(0, 10)}… again, payee +${PRICE} once`;
    },
  },
  {
    name: "payment-identifier: same id on a new payment → 409, not charged",
    applies: withIds,
    async run(ctx, target) {
      const id = generatePaymentId("order_");
      return moves(ctx, { payer: -PRICE, payee: PRICE }, async () => {
        const first = await send(target.paymentIds, await paymentWithId(ctx, target.paymentIds, id));
        check(first.status === 200, `paid GET: ${first.status}: ${first.body.slice(0, 200)}`);
        const second = await send(target.paymentIds, await paymentWithId(ctx, target.paymentIds, id));
        check(second.status === 409, `a new payment with the same id: ${second.status}, expected 409`);
        check(
          reason(second.body) === "payment_identifier_conflict",
          `409 reason "${reason(second.body)}", expected payment_identifier_conflict`,
        );
        return `1st 200, 2nd payment with ${id}: 409 payment_identifier_conflict, payee +${PRICE} once`;
      });
    },
  },
  {
    name: "payment-identifier: Rust buyer (X402PayLayer) pays with a fresh id",
    applies: withIds,
    async run(ctx, target) {
      const { mined } = await moves(ctx, { payer: -PRICE, payee: PRICE }, async () => {
        const run = await rustBuy(ctx, target.paymentIds);
        check(run.code === 0, `buyer exit ${run.code}, expected 0 (stderr: ${run.stderr.trim()})`);
        check(run.reports.length === 1, `${run.reports.length} reports, expected 1`);
        return { mined: await checkRustPaid(ctx, run.reports[0]) };
      });
      return `exit 0, 200, tx in block ${mined.blockNumber}, payee +${PRICE}`;
    },
  },
  {
    name: "payment-identifier: no id where required → 400, not charged",
    applies: withIds,
    async run(ctx, target) {
      return moves(ctx, {}, async () => {
        const response = await send(target.paymentIds, await paymentWithId(ctx, target.paymentIds));
        check(response.status === 400, `a payment without an id: ${response.status}, expected 400`);
        check(
          reason(response.body) === "payment_identifier_required",
          `400 reason "${reason(response.body)}", expected payment_identifier_required`,
        );
        return "400 payment_identifier_required, no balance moved";
      });
    },
  },
];
