// The Permit2 and `upto` scenarios (issue 18): the official @x402/evm client pays `exact` by
// Permit2 and `upto` (a partial charge, a zero charge, a charge above the maximum) on every
// target with such routes, a payer who has not approved Permit2 gets 412 and then pays, and our
// Rust buyer pays both kinds. Each settles on the local chain through the genuine Permit2 and
// the test proxies of `lib/permit2.mjs`. A target with `permit2` (the URL of an `exact` route
// paid through Permit2) and `upto` (`(charge) => URL` of an `upto` route at most PRICE whose
// handler charges `charge`, see `uptoRoute` in lib/servers.mjs) runs them.

import { getAddress, parseEventLogs } from "viem";
import { x402ExactPermit2ProxyAddress, x402UptoPermit2ProxyAddress } from "@x402/evm";
import { x402Client } from "@x402/core/client";
import { decodePaymentSignatureHeader } from "@x402/core/http";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { UptoEvmScheme } from "@x402/evm/upto/client";

import { erc20Abi, USDC } from "./chain.mjs";
import {
  decodePaymentResponseHeader,
  encodePaymentSignatureHeader,
  payV2,
  v2Core,
} from "./clients.mjs";
import { freshAccount, PAYER_FUNDS } from "./env.mjs";
import { rustBuy } from "./rust-buyer.mjs";
import { canonical, challenge, check, moves, PRICE, refusal } from "./scenarios.mjs";

/** The partial `upto` charge: 40 % of the maximum (PRICE). */
const PARTIAL = { atomic: (PRICE * 40n) / 100n, header: "40%" };
/** The proxies' `settleWithPermit` selectors (Permit2 plus an EIP-2612 permit): exact, upto. */
const SETTLE_WITH_PERMIT = "0xfa340378";
const UPTO_SETTLE_WITH_PERMIT = "0x016c1748";
/** A charge one unit above the maximum the payer authorized. */
const ABOVE = { atomic: PRICE + 1n };

/** The settlement tx is mined, succeeded, and holds a USDC Transfer `from` → payee of `value`. */
async function checkTransfer(ctx, hash, from, value) {
  check(/^0x[0-9a-f]{64}$/i.test(hash ?? ""), `receipt transaction ${hash} is not a tx hash`);
  const receipt = await ctx.chain.publicClient.getTransactionReceipt({ hash });
  check(receipt.status === "success", `tx ${hash} reverted`);
  const transfers = parseEventLogs({ abi: erc20Abi, logs: receipt.logs, eventName: "Transfer" });
  const paid = transfers.filter(
    (log) =>
      getAddress(log.address) === getAddress(USDC) &&
      getAddress(log.args.from) === getAddress(from) &&
      getAddress(log.args.to) === getAddress(ctx.payee.address),
  );
  check(
    paid.length === 1 && paid[0].args.value === value,
    `tx ${hash}: USDC transfers to the payee ${paid.map((l) => l.args.value).join(", ") || "none"}, expected one of ${value}`,
  );
  return receipt;
}

/** The payment the client sent is a Permit2 one for `spender` (the exact or the upto proxy). */
function checkPermit2Payload(paymentHeader, spender, maximum) {
  check(paymentHeader, "the client sent no PAYMENT-SIGNATURE");
  const payload = decodePaymentSignatureHeader(paymentHeader);
  const authorization = payload.payload?.permit2Authorization;
  check(authorization, `not a Permit2 payload: ${JSON.stringify(payload.payload).slice(0, 200)}`);
  check(
    getAddress(authorization.spender) === getAddress(spender),
    `Permit2 spender ${authorization.spender}, expected ${spender}`,
  );
  check(
    BigInt(authorization.permitted.amount) === maximum,
    `permitted amount ${authorization.permitted.amount}, expected ${maximum}`,
  );
  return payload;
}

/** A paid 200 with a success receipt (no `Settlement-Overrides` header); the receipt decoded. */
async function paidReceipt(response, network) {
  const body = await response.text();
  check(response.status === 200, `paid GET: ${response.status}, expected 200: ${body.slice(0, 200)}`);
  check(!response.headers.has("settlement-overrides"), "the Settlement-Overrides header reached the client");
  const header = response.headers.get("payment-response");
  check(header, "200 without PAYMENT-RESPONSE");
  const receipt = decodePaymentResponseHeader(header);
  check(receipt.success === true, `PAYMENT-RESPONSE success=${receipt.success}: ${JSON.stringify(receipt)}`);
  check(receipt.network === network, `PAYMENT-RESPONSE network ${receipt.network}`);
  return { receipt, body };
}

const permit2 = (target) => target.permit2 !== undefined;
const upto = (target) => target.upto !== undefined;

/** Our Rust buyer paid `url` with `key`: one report, 200, a success receipt for `amount`. */
async function rustPaid(ctx, url, payer, amount) {
  const run = await rustBuy(ctx, url, [], { key: payer.key });
  check(run.code === 0, `buyer exit ${run.code}, expected 0 (stderr: ${run.stderr.trim()})`);
  check(run.reports.length === 1, `${run.reports.length} reports, expected 1`);
  const [report] = run.reports;
  check(report.status === 200, `paid GET: ${report.status}, expected 200`);
  const { purchase } = report;
  check(purchase, "200 without a purchase: the buyer paid nothing");
  check(purchase.amount === String(amount), `purchase amount ${purchase.amount}, expected ${amount}`);
  const { receipt } = purchase;
  check(receipt?.success === true, `receipt ${JSON.stringify(receipt)}`);
  check(receipt.network === ctx.network, `receipt network ${receipt.network}`);
  const mined = await checkTransfer(ctx, receipt.transaction, payer.address, amount);
  return { purchase, mined };
}

/** A fresh payer with USDC, no ETH and no Permit2 allowance; its scheme's arguments. */
function gaslessSigner(ctx) {
  const payer = freshAccount();
  return [payer.account, { rpcUrl: ctx.rpcUrl }];
}

/**
 * Pays `url` with `scheme` (the official exact or upto client of a fresh payer holding USDC,
 * no ETH and no Permit2 allowance, given an RPC to read its allowance): the offer declares
 * `eip2612GasSponsoring` (the facilitator announces it), so the client signs a USDC `permit` of
 * `permitted` for Permit2 beside its Permit2 signature, and the facilitator settles both in
 * one `settleWithPermit`, moving `charge`.
 */
async function gasless(ctx, url, scheme, permitted, charge) {
  const payer = scheme.signer;
  await ctx.chain.mint(payer.address, PAYER_FUNDS);
  const withPayer = {
    ...ctx,
    balances: async () => ({ ...(await ctx.balances()), fresh: await ctx.balanceOf(payer.address) }),
  };
  const required = await challenge(url);
  check(
    required.extensions?.eip2612GasSponsoring,
    `the 402 does not declare eip2612GasSponsoring: ${Object.keys(required.extensions ?? {}).join(", ") || "no extensions"}`,
  );
  const payload = await new x402Client().register(ctx.network, scheme).createPaymentPayload(required);
  const permit = payload.extensions?.eip2612GasSponsoring?.info;
  check(permit?.signature, `the official client attached no EIP-2612 permit: ${JSON.stringify(payload.extensions ?? {}).slice(0, 200)}`);
  check(BigInt(permit.amount) === permitted, `the permit is for ${permit.amount}, expected ${permitted}`);
  return moves(withPayer, { fresh: -charge, payee: charge }, async () => {
    const response = await fetch(url, {
      headers: { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) },
    });
    const { receipt } = await paidReceipt(response, ctx.network);
    await checkTransfer(ctx, receipt.transaction, payer.address, charge);
    const tx = await ctx.chain.publicClient.getTransaction({ hash: receipt.transaction });
    const selector = scheme.scheme === "upto" ? UPTO_SETTLE_WITH_PERMIT : SETTLE_WITH_PERMIT;
    check(tx.input.startsWith(selector), `tx ${receipt.transaction} calls ${tx.input.slice(0, 10)}, not settleWithPermit`);
    const eth = await ctx.chain.publicClient.getBalance({ address: payer.address });
    check(eth === 0n, `the payer holds ${eth} wei: not gasless`);
    return `402 declares eip2612GasSponsoring; permit of ${permit.amount} attached; 200 via settleWithPermit, payer without ETH, payee +${charge}`;
  });
}

/**
 * An official Permit2 payment (exact by Permit2 on `url`) from the Permit2 payer, its signed
 * `nonce` then changed: the signature no longer recovers to the payer.
 */
async function tamperedPermit2(ctx, url) {
  const required = await challenge(url);
  const payload = await v2Core(ctx.permit2Payer.account, ctx.network).createPaymentPayload(required);
  const authorization = payload.payload.permit2Authorization;
  check(authorization, "the official client made no Permit2 payload");
  authorization.nonce = String(BigInt(authorization.nonce) ^ 1n);
  return payload;
}

/** The 402 of a tampered payment: its reason names the signature. */
async function expectSignatureRefused(url, payload) {
  const response = await fetch(url, {
    headers: { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) },
  });
  const error = await refusal(response);
  check(response.status === 402, `${response.status}, expected 402 (reason ${error || "none"})`);
  check(/signature/i.test(error), `402 reason "${error}" does not name the signature`);
  return error;
}

export const PERMIT2_SCENARIOS = [
  {
    name: "402 (Permit2, upto) = official",
    applies: (target) => permit2(target) && upto(target) && !target.official,
    async run(ctx, target) {
      const pairs = [
        [target.permit2, `${ctx.reference.url}/permit2`],
        [target.upto(PARTIAL), `${ctx.reference.url}/metered?charge=40%25`],
      ];
      const said = [];
      for (const [ours, official] of pairs) {
        const [mine, theirs] = [await challenge(ours), await challenge(official)];
        // The extensions the offers declare (EIP-2612 gas sponsoring on `exact` by Permit2).
        const [ma, mb] = [canonical(mine.extensions ?? {}), canonical(theirs.extensions ?? {})];
        check(ma === mb, `extensions differ for ${new URL(ours).pathname}:\n  ours:     ${ma}\n  official: ${mb}`);
        const a = mine.accepts.map(canonical).sort();
        const b = theirs.accepts.map(canonical).sort();
        check(
          canonical(a) === canonical(b),
          `accepts differ for ${new URL(ours).pathname}:\n  ours:     ${a.join(", ")}\n  official: ${b.join(", ")}`,
        );
        const first = JSON.parse(a[0]);
        check(first.extra?.assetTransferMethod === "permit2", `${first.scheme}: assetTransferMethod ${first.extra?.assetTransferMethod}`);
        if (first.scheme === "upto") {
          const named = first.extra.facilitatorAddress ?? "";
          check(
            named && getAddress(named) === getAddress(ctx.facilitatorAddress),
            `upto facilitatorAddress ${named}, expected the facilitator's signer ${ctx.facilitatorAddress}`,
          );
        }
        said.push(`${first.scheme} ${first.amount} by ${first.extra.assetTransferMethod}`);
      }
      return `accepts and extensions identical: ${said.join("; ")}, naming facilitator ${ctx.facilitatorAddress.slice(0, 10)}…`;
    },
  },
  {
    name: "Permit2 exact: @x402/fetch pays",
    applies: permit2,
    async run(ctx, target) {
      const payer = ctx.permit2Payer;
      return moves(ctx, { permit2Payer: -PRICE, payee: PRICE }, async () => {
        const { response, paymentHeader } = await payV2(target.permit2, payer.account, ctx.network);
        const { receipt } = await paidReceipt(response, ctx.network);
        checkPermit2Payload(paymentHeader, x402ExactPermit2ProxyAddress, PRICE);
        const mined = await checkTransfer(ctx, receipt.transaction, payer.address, PRICE);
        return `200, Permit2 via the exact proxy, tx ${receipt.transaction.slice(0, 10)}… in block ${mined.blockNumber}, payee +${PRICE}`;
      });
    },
  },
  {
    name: "upto: 40 % of the maximum charged",
    applies: upto,
    async run(ctx, target) {
      const payer = ctx.permit2Payer;
      const charge = PARTIAL.atomic;
      return moves(ctx, { permit2Payer: -charge, payee: charge }, async () => {
        const { response, paymentHeader } = await payV2(target.upto(PARTIAL), payer.account, ctx.network);
        const { receipt } = await paidReceipt(response, ctx.network);
        checkPermit2Payload(paymentHeader, x402UptoPermit2ProxyAddress, PRICE);
        check(receipt.amount === String(charge), `receipt amount ${receipt.amount}, expected ${charge}`);
        const mined = await checkTransfer(ctx, receipt.transaction, payer.address, charge);
        return `200, authorized ${PRICE}, receipt amount ${receipt.amount}, tx ${receipt.transaction.slice(0, 10)}… in block ${mined.blockNumber}, payee +${charge}`;
      });
    },
  },
  {
    name: "upto: Settlement-Overrides forms",
    // Targets whose handler sends a `Settlement-Overrides` header (the gateway's upstream, the
    // official server): each form of the header settles what the reference's rules give.
    applies: (target) => upto(target) && target.upto.header,
    async run(ctx, target) {
      const forms = [
        ["250", 250n], // atomic units
        ["33.33%", 333n], // floor(1000 × 3333 / 10000)
        ["$0.0004", 400n], // 0.0004 × 10^6
      ];
      const total = forms.reduce((sum, [, amount]) => sum + amount, 0n);
      const payer = ctx.permit2Payer;
      return moves(ctx, { permit2Payer: -total, payee: total }, async () => {
        const said = [];
        for (const [header, amount] of forms) {
          const { response } = await payV2(target.upto({ atomic: amount, header }), payer.account, ctx.network);
          const { receipt } = await paidReceipt(response, ctx.network);
          check(receipt.amount === String(amount), `${header}: receipt amount ${receipt.amount}, expected ${amount}`);
          await checkTransfer(ctx, receipt.transaction, payer.address, amount);
          said.push(`${header} → ${receipt.amount}`);
        }
        return `${said.join(", ")} of ${PRICE}; payee +${total}`;
      });
    },
  },
  {
    name: "upto: zero charge moves nothing",
    applies: upto,
    async run(ctx, target) {
      return moves(ctx, {}, async () => {
        const { response } = await payV2(target.upto({ atomic: 0n }), ctx.permit2Payer.account, ctx.network);
        const { receipt } = await paidReceipt(response, ctx.network);
        check(receipt.amount === "0", `receipt amount ${receipt.amount}, expected "0"`);
        check(!receipt.transaction, `a zero charge has transaction ${receipt.transaction}`);
        return `200, receipt success with amount "0" and no transaction, no balance moved`;
      });
    },
  },
  {
    name: "upto: charge above the maximum refused",
    // The official server does not check the ceiling (x402 #3334): the facilitator refuses it.
    applies: (target) => upto(target) && !target.official,
    async run(ctx, target) {
      return moves(ctx, {}, async () => {
        const { response } = await payV2(target.upto(ABOVE), ctx.permit2Payer.account, ctx.network);
        const body = await response.text();
        check(response.status >= 500, `${response.status}, expected 5xx: ${body.slice(0, 200)}`);
        check(!/tokens|charged/.test(body), `the handler's output reached the client: ${body.slice(0, 200)}`);
        check(!response.headers.has("settlement-overrides"), "the Settlement-Overrides header reached the client");
        const header = response.headers.get("payment-response");
        check(!header || decodePaymentResponseHeader(header).success !== true, "a success receipt");
        return `${response.status} for a charge of ${ABOVE.atomic} > ${PRICE}, no content, no balance moved`;
      });
    },
  },
  {
    name: "upto: malformed Settlement-Overrides refused",
    // Ours only, through the gateway: an upstream's header that is no amount is not guessed at.
    applies: (target) => upto(target) && target.upto.header && !target.official,
    async run(ctx, target) {
      return moves(ctx, {}, async () => {
        const { response } = await payV2(target.upto({ atomic: 0n, header: "lots" }), ctx.permit2Payer.account, ctx.network);
        const body = await response.text();
        check(response.status >= 500, `${response.status}, expected 5xx: ${body.slice(0, 200)}`);
        check(!/charged/.test(body), `the upstream's output reached the client: ${body.slice(0, 200)}`);
        check(!response.headers.has("settlement-overrides"), "the Settlement-Overrides header reached the client");
        return `${response.status} for Settlement-Overrides {"amount":"lots"}, no content, no balance moved`;
      });
    },
  },
  {
    name: "Permit2 not approved: 412, then paid",
    applies: permit2,
    async run(ctx, target) {
      // A fresh payer with USDC but no allowance for Permit2.
      const payer = freshAccount();
      await ctx.chain.mint(payer.address, PAYER_FUNDS);
      const withPayer = {
        ...ctx,
        balances: async () => ({ ...(await ctx.balances()), fresh: await ctx.balanceOf(payer.address) }),
      };
      const required = await challenge(target.permit2);
      const payload = await v2Core(payer.account, ctx.network).createPaymentPayload(required);
      const headers = { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) };
      const reason = await moves(withPayer, {}, async () => {
        const response = await fetch(target.permit2, { headers });
        const error = await refusal(response);
        check(response.status === 412, `${response.status}, expected 412 (reason ${error || "none"})`);
        check(/permit2_allowance_required/i.test(error), `412 reason "${error}"`);
        return error;
      });
      await ctx.permit2.approve(payer.account);
      return moves(withPayer, { fresh: -PRICE, payee: PRICE }, async () => {
        // The same payment again: its nonce is unused and its deadline still ahead.
        const response = await fetch(target.permit2, { headers });
        const { receipt } = await paidReceipt(response, ctx.network);
        await checkTransfer(ctx, receipt.transaction, payer.address, PRICE);
        return `412 ${reason}; after approve(Permit2) the same payment: 200, payee +${PRICE}`;
      });
    },
  },
  {
    name: "Permit2: gasless approval by EIP-2612",
    applies: permit2,
    run: (ctx, target) =>
      gasless(ctx, target.permit2, new ExactEvmScheme(...gaslessSigner(ctx)), PRICE, PRICE),
  },
  {
    name: "upto: gasless approval by EIP-2612",
    applies: upto,
    run: (ctx, target) =>
      gasless(ctx, target.upto(PARTIAL), new UptoEvmScheme(...gaslessSigner(ctx)), PRICE, PARTIAL.atomic),
  },
  {
    name: "tampered Permit2 nonce refused",
    applies: permit2,
    async run(ctx, target) {
      const payload = await tamperedPermit2(ctx, target.permit2);
      return moves(ctx, {}, async () => {
        const error = await expectSignatureRefused(target.permit2, payload);
        return `402 ${error}, no balance moved`;
      });
    },
  },
  {
    name: "Rust buyer pays Permit2 exact",
    applies: permit2,
    async run(ctx, target) {
      const payer = ctx.permit2Payer;
      return moves(ctx, { permit2Payer: -PRICE, payee: PRICE }, async () => {
        const { purchase, mined } = await rustPaid(ctx, target.permit2, payer, PRICE);
        return `exit 0, 200, paid ${purchase.amount}, tx ${purchase.receipt.transaction.slice(0, 10)}… in block ${mined.blockNumber}, payee +${PRICE}`;
      });
    },
  },
  {
    name: "Rust buyer pays upto (40 %)",
    applies: upto,
    async run(ctx, target) {
      const payer = ctx.permit2Payer;
      const charge = PARTIAL.atomic;
      return moves(ctx, { permit2Payer: -charge, payee: charge }, async () => {
        const { purchase, mined } = await rustPaid(ctx, target.upto(PARTIAL), payer, charge);
        check(
          purchase.receipt.amount === String(charge),
          `receipt amount ${purchase.receipt.amount}, expected ${charge}`,
        );
        return `exit 0, 200, paid ${purchase.amount} of ${PRICE}, tx ${purchase.receipt.transaction.slice(0, 10)}… in block ${mined.blockNumber}, payee +${charge}`;
      });
    },
  },
  {
    name: "Rust buyer: upto zero charge",
    applies: upto,
    async run(ctx, target) {
      return moves(ctx, {}, async () => {
        const run = await rustBuy(ctx, target.upto({ atomic: 0n }), [], { key: ctx.permit2Payer.key });
        check(run.code === 0, `buyer exit ${run.code}, expected 0 (stderr: ${run.stderr.trim()})`);
        check(run.reports.length === 1, `${run.reports.length} reports, expected 1`);
        const [{ status, purchase }] = run.reports;
        check(status === 200, `paid GET: ${status}, expected 200`);
        check(purchase, "200 without a purchase");
        check(purchase.amount === "0", `purchase amount ${purchase.amount}, expected 0`);
        check(purchase.receipt?.success === true, `receipt ${JSON.stringify(purchase.receipt)}`);
        check(purchase.receipt.amount === "0", `receipt amount ${purchase.receipt.amount}, expected "0"`);
        return `exit 0, 200, paid 0 (receipt success, amount "0", no transaction), no balance moved`;
      });
    },
  },
];

/**
 * The rows of a target whose server uses our dev facilitator (`dev: true`): it checks the
 * official client's Permit2 and upto signatures itself and settles nothing on chain, so no
 * balance may move.
 */
export const DEV_FACILITATOR_SCENARIOS = [
  {
    name: "dev facilitator: official Permit2 exact accepted",
    applies: permit2,
    async run(ctx, target) {
      return moves(ctx, {}, async () => {
        const { response, paymentHeader } = await payV2(target.permit2, ctx.permit2Payer.account, ctx.network);
        const { receipt } = await paidReceipt(response, ctx.network);
        checkPermit2Payload(paymentHeader, x402ExactPermit2ProxyAddress, PRICE);
        check(receipt.payer && getAddress(receipt.payer) === getAddress(ctx.permit2Payer.address), `receipt payer ${receipt.payer}`);
        return `200, receipt success for payer ${receipt.payer.slice(0, 10)}… (dev: nothing on chain, no balance moved)`;
      });
    },
  },
  {
    name: "dev facilitator: official upto 40 % recorded",
    applies: upto,
    async run(ctx, target) {
      return moves(ctx, {}, async () => {
        const { response, paymentHeader } = await payV2(target.upto(PARTIAL), ctx.permit2Payer.account, ctx.network);
        const { receipt } = await paidReceipt(response, ctx.network);
        checkPermit2Payload(paymentHeader, x402UptoPermit2ProxyAddress, PRICE);
        check(receipt.amount === String(PARTIAL.atomic), `receipt amount ${receipt.amount}, expected ${PARTIAL.atomic}`);
        return `200, receipt amount ${receipt.amount} of ${PRICE} (dev: nothing on chain, no balance moved)`;
      });
    },
  },
  {
    name: "dev facilitator: tampered Permit2 refused",
    applies: permit2,
    async run(ctx, target) {
      const payload = await tamperedPermit2(ctx, target.permit2);
      return moves(ctx, {}, async () => `402 ${await expectSignatureRefused(target.permit2, payload)}`);
    },
  },
];
