// The official clients, set up the way their READMEs show, plus what the harness needs to look
// at the exchange: the payment headers they actually sent.

import { createWalletClient, http, publicActions } from "viem";
import { x402Client } from "@x402/core/client";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { UptoEvmScheme } from "@x402/evm/upto/client";
import { decodePaymentResponseHeader, wrapFetchWithPayment } from "@x402/fetch";
import { decodeXPaymentResponse, wrapFetchWithPayment as wrapFetchWithPaymentV1 } from "x402-fetch";

export { decodePaymentRequiredHeader, decodePaymentResponseHeader, decodeXPaymentResponse };
export { encodePaymentSignatureHeader };

/** A fetch that records the request headers of every call in `sent`. */
function recordingFetch() {
  const sent = [];
  const spy = async (input, init) => {
    sent.push(new Request(input, init).headers);
    return fetch(input, init);
  };
  return { spy, sent };
}

/**
 * The official v2 client core for `account`: `x402Client` with the EVM exact scheme (which signs
 * EIP-3009, or Permit2 when the offer says `assetTransferMethod: "permit2"`) and the EVM upto
 * scheme (Permit2, from `@x402/evm/upto/client`).
 */
export function v2Core(account, network) {
  return new x402Client()
    .register(network, new ExactEvmScheme(account))
    .register(network, new UptoEvmScheme(account));
}

/**
 * The official v2 client (`@x402/fetch` `wrapFetchWithPayment`) paying with `account`.
 * Resolves `{ response, paymentHeader }`: the final response and the `PAYMENT-SIGNATURE` it
 * sent (undefined if it sent none).
 */
export async function payV2(url, account, network) {
  const { spy, sent } = recordingFetch();
  const response = await wrapFetchWithPayment(spy, v2Core(account, network))(url);
  const paymentHeader = sent.map((h) => h.get("payment-signature")).find(Boolean);
  return { response, paymentHeader };
}

/**
 * The official v1 client (`x402-fetch` 1.2.0) paying with `account`: a viem wallet client on
 * the local chain, as its README builds one. Resolves `{ response, paymentHeader }` (`X-PAYMENT`).
 */
export async function payV1(url, account, env) {
  const wallet = createWalletClient({
    account,
    chain: env.chain.chain,
    transport: http(env.rpcUrl),
  }).extend(publicActions);
  const { spy, sent } = recordingFetch();
  const response = await wrapFetchWithPaymentV1(spy, wallet)(url);
  const paymentHeader = sent.map((h) => h.get("x-payment")).find(Boolean);
  return { response, paymentHeader };
}
