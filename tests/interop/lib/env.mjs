// The reusable environment every scenario runs in: the local chain with USDC, a payer holding
// test USDC only (no ETH), a payer holding nothing, a payee, and the official facilitator.
//
//   const env = await startEnvironment();
//   ... env.facilitatorUrl, env.payer.key, await env.balances() ...
//   await env.stop();

import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

import { startChain, USDC } from "./chain.mjs";
import { startFacilitator } from "./facilitator.mjs";

/** What the payer starts with: 10 USDC, in atomic units (6 decimals). */
export const PAYER_FUNDS = 10_000_000n;

const freshAccount = () => {
  const key = generatePrivateKey();
  return { key, account: privateKeyToAccount(key), address: privateKeyToAccount(key).address };
};

/**
 * Starts the chain and the facilitator and funds the payer. Resolves to
 * `{ chain, rpcUrl, chainId, network, usdc, facilitatorUrl, facilitatorTimings, payer,
 *    brokePayer, payee, balanceOf, balances, stop }` (`facilitatorTimings`: see
 * `startFacilitator`); `payer`/`brokePayer` are `{ key, account, address }`.
 */
export async function startEnvironment() {
  const chain = await startChain();
  let facilitator;
  try {
    facilitator = await startFacilitator(chain);
    const payer = freshAccount();
    const brokePayer = freshAccount();
    const payee = freshAccount();
    await chain.mint(payer.address, PAYER_FUNDS);
    return {
      chain,
      rpcUrl: chain.rpcUrl,
      chainId: chain.chain.id,
      network: `eip155:${chain.chain.id}`,
      usdc: USDC,
      facilitatorUrl: facilitator.url,
      facilitatorTimings: facilitator.timings,
      payer,
      brokePayer,
      payee,
      balanceOf: chain.balanceOf,
      /** The USDC balances of the payer, the broke payer and the payee. */
      balances: async () => ({
        payer: await chain.balanceOf(payer.address),
        brokePayer: await chain.balanceOf(brokePayer.address),
        payee: await chain.balanceOf(payee.address),
      }),
      stop: async () => {
        await facilitator.close();
        await chain.stop();
      },
    };
  } catch (error) {
    await facilitator?.close();
    await chain.stop();
    throw error;
  }
}
