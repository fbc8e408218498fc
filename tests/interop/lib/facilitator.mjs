// The official facilitator: @x402/core's `x402Facilitator` with @x402/evm's exact and upto
// schemes, served over HTTP (`POST /verify`, `POST /settle`, `GET /supported`). It settles for
// real on the local chain, gas paid by anvil dev account #1: `transferWithAuthorization`
// (exact by EIP-3009), or the x402 Permit2 proxies (exact by Permit2, upto; lib/permit2.mjs).
// It serves v2 (`eip155:84532`) and, registered by the same call, v1 (`base-sepolia`, EIP-3009).

import express from "express";
import { createWalletClient, http, publicActions } from "viem";
import { x402Facilitator } from "@x402/core/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { registerExactEvmScheme } from "@x402/evm/exact/facilitator";
import { UptoEvmScheme } from "@x402/evm/upto/facilitator";
import { EIP2612_GAS_SPONSORING } from "@x402/extensions";

import { devAccount } from "./chain.mjs";
import { listen } from "./procs.mjs";

/**
 * Starts the facilitator for `chain` on 127.0.0.1:0; resolves to `{ url, close, timings,
 * address }` (`address`: its signer, the `upto` `facilitatorAddress`).
 * `timings` is an array the facilitator appends `{ operation, ms }` to as each `/verify` and
 * `/settle` answers (the latency report reads it; clear it with `timings.length = 0`).
 */
export async function startFacilitator(chain) {
  const account = devAccount(1);
  const wallet = createWalletClient({
    account,
    chain: chain.chain,
    transport: http(chain.rpcUrl),
    pollingInterval: 100,
  }).extend(publicActions);
  const signer = toFacilitatorEvmSigner({
    address: account.address,
    readContract: (args) => wallet.readContract(args),
    verifyTypedData: (args) => wallet.verifyTypedData(args),
    writeContract: (args) => wallet.writeContract(args),
    sendTransaction: (args) => wallet.sendTransaction(args),
    waitForTransactionReceipt: (args) => wallet.waitForTransactionReceipt(args),
    getCode: (args) => wallet.getCode(args),
  });
  const facilitator = new x402Facilitator();
  registerExactEvmScheme(facilitator, { signer, networks: `eip155:${chain.chain.id}` });
  // `upto` (Permit2 only): `/supported` announces the signer as `extra.facilitatorAddress`,
  // which the payer signs into `witness.facilitator`; only that address may settle.
  facilitator.register(`eip155:${chain.chain.id}`, new UptoEvmScheme(signer));
  // EIP-2612 gas sponsoring: `/supported` lists `eip2612GasSponsoring`, so servers declare it
  // on Permit2 offers, and a payer without a Permit2 allowance (and without gas) can attach a
  // signed USDC `permit` for Permit2, which the facilitator sends through `settleWithPermit`.
  facilitator.registerExtension(EIP2612_GAS_SPONSORING);

  const app = express();
  app.use(express.json({ limit: "1mb" }));
  const timings = [];
  const route = (operation) => async (req, res) => {
    const t0 = performance.now();
    res.once("finish", () => timings.push({ operation, ms: performance.now() - t0 }));
    const { paymentPayload, paymentRequirements } = req.body ?? {};
    if (!paymentPayload || !paymentRequirements) {
      res.status(400).json({ error: "paymentPayload and paymentRequirements are required" });
      return;
    }
    try {
      res.json(await facilitator[operation](paymentPayload, paymentRequirements));
    } catch (error) {
      res.status(500).json({ error: `${operation} failed: ${error.message}` });
    }
  };
  app.post("/verify", route("verify"));
  app.post("/settle", route("settle"));
  app.get("/supported", (_req, res) => res.json(facilitator.getSupported()));
  return { ...(await listen(app)), timings, address: account.address };
}
