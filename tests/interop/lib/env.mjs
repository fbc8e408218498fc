// The reusable environment every scenario runs in: the local chain with USDC, Permit2 and the
// x402 Permit2 proxies, a payer holding test USDC only (no ETH), a Permit2 payer (test USDC,
// and an `approve(Permit2, max)` it sent), a payer holding nothing, a payee, and the official
// facilitator.
//
//   const env = await startEnvironment();
//   ... env.facilitatorUrl, env.payer.key, await env.balances() ...
//   await env.stop();

import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

import { startChain, USDC } from "./chain.mjs";
import { startFacilitator } from "./facilitator.mjs";
import { compileProxies, installPermit2 } from "./permit2.mjs";

/** What the payer starts with: 10 USDC, in atomic units (6 decimals). */
export const PAYER_FUNDS = 10_000_000n;

export const freshAccount = () => {
  const key = generatePrivateKey();
  return { key, account: privateKeyToAccount(key), address: privateKeyToAccount(key).address };
};

/**
 * Starts the chain (with Permit2, `lib/permit2.mjs`) and the facilitator and funds the payers.
 * Resolves to `{ chain, permit2, rpcUrl, chainId, network, usdc, facilitatorUrl,
 *    facilitatorTimings, facilitatorAddress, payer, permit2Payer, brokePayer, payee, balanceOf,
 *    balances, stop }`
 * (`facilitatorTimings`: see `startFacilitator`; `permit2`: see `installPermit2`);
 * `payer`/`permit2Payer`/`brokePayer` are `{ key, account, address }`.
 */
export async function startEnvironment() {
  // solc-js takes seconds: compile the proxies while anvil starts.
  const proxies = compileProxies();
  proxies.catch(() => {});
  const chain = await startChain();
  let facilitator;
  try {
    const permit2 = await installPermit2(chain, proxies);
    facilitator = await startFacilitator(chain);
    const payer = freshAccount();
    const permit2Payer = freshAccount();
    const brokePayer = freshAccount();
    const payee = freshAccount();
    await chain.mint(payer.address, PAYER_FUNDS);
    await chain.mint(permit2Payer.address, PAYER_FUNDS);
    await permit2.approve(permit2Payer.account);
    return {
      chain,
      permit2,
      rpcUrl: chain.rpcUrl,
      chainId: chain.chain.id,
      network: `eip155:${chain.chain.id}`,
      usdc: USDC,
      facilitatorUrl: facilitator.url,
      facilitatorTimings: facilitator.timings,
      facilitatorAddress: facilitator.address,
      payer,
      permit2Payer,
      brokePayer,
      payee,
      balanceOf: chain.balanceOf,
      /** The USDC balances of the payer, the Permit2 payer, the broke payer and the payee. */
      balances: async () => ({
        payer: await chain.balanceOf(payer.address),
        permit2Payer: await chain.balanceOf(permit2Payer.address),
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
