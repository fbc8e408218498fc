// The Permit2 rig on the local chain: the genuine Uniswap Permit2 at its canonical address, and
// our own test proxies (contracts/X402TestPermit2Proxies.sol) at the canonical x402 proxy
// addresses, so the official facilitator runs its real Permit2 path (`exact` by Permit2 and
// `upto`), 412 diagnosis included.
//
// - Permit2: its initcode ships in npm `@uniswap/uniswapx-sdk` (the `_bytecode` of its
//   typechain factory). It is created with CREATE2 through the deterministic deployer anvil
//   predeploys, with Permit2's own salt, so it lands at 0x000000000022D473…8BA3 with the
//   canonical code. Copying code there with setCode would not do: Permit2 caches its EIP-712
//   domain separator, which includes its own address, in immutables.
// - The proxies publish no bytecode. Ours implement the ABIs @x402/evm exports and are compiled
//   here with solc-js (npm `solc`, pinned); their runtime code is put at the canonical addresses
//   with `anvil_setCode` (they write no storage in a constructor and name Permit2 as a constant).

import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import {
  concat,
  createWalletClient,
  encodeAbiParameters,
  getAddress,
  http,
  keccak256,
  maxUint256,
  parseAbi,
  toHex,
} from "viem";
import {
  PERMIT2_ADDRESS,
  uptoPermit2WitnessTypes,
  x402ExactPermit2ProxyABI,
  x402ExactPermit2ProxyAddress,
  x402UptoPermit2ProxyABI,
  x402UptoPermit2ProxyAddress,
} from "@x402/evm";

import { devAccount, USDC } from "./chain.mjs";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

/** The deterministic deployer (anvil predeploys it) and Permit2's salt through it. */
export const CREATE2_DEPLOYER = "0x4e59b44847b379578588920cA78FbF26c0B4956C";
const PERMIT2_SALT = "0x0000000000000000000000000000000000000000d3af2663da51c10215000000";
/** Permit2's canonical address: where CREATE2 must put it (checked against @x402/evm's). */
export const PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3";
/** The Solidity compiler the proxies are built with (the `solc` npm version, pinned). */
const SOLC_VERSION = "0.8.37";

const permit2Abi = parseAbi([
  "function DOMAIN_SEPARATOR() view returns (bytes32)",
  "function nonceBitmap(address, uint256) view returns (uint256)",
]);
const erc20ApproveAbi = parseAbi([
  "function approve(address spender, uint256 value) returns (bool)",
  "function allowance(address owner, address spender) view returns (uint256)",
]);

/** Permit2's initcode, as @uniswap/uniswapx-sdk ships it (read from the file, not executed). */
async function permit2Initcode() {
  // The package's `exports` do not list the factory: read it by path.
  const file = path.join(
    here,
    "../node_modules/@uniswap/uniswapx-sdk/dist/cjs/src/contracts/factories/Permit2__factory.js",
  );
  const match = /const _bytecode\s*=\s*"(0x[0-9a-fA-F]+)"/.exec(await readFile(file, "utf8"));
  if (!match) throw new Error(`${file}: no _bytecode`);
  return match[1];
}

/**
 * Compiles contracts/X402TestPermit2Proxies.sol with solc-js. Resolves to
 * `{ exact, upto }`, each the runtime code (hex) of that proxy.
 */
export async function compileProxies() {
  const solc = require("solc");
  if (!solc.version().startsWith(`${SOLC_VERSION}+`)) {
    throw new Error(`solc ${solc.version()}, expected ${SOLC_VERSION} (npm ci in tests/interop)`);
  }
  const file = "X402TestPermit2Proxies.sol";
  const source = await readFile(path.join(here, "..", "contracts", file), "utf8");
  const input = {
    language: "Solidity",
    sources: { [file]: { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      outputSelection: { [file]: { "*": ["evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) {
    throw new Error(`solc: ${errors.map((e) => e.formattedMessage).join("\n")}`);
  }
  const runtime = (name) => {
    const object = output.contracts?.[file]?.[name]?.evm?.deployedBytecode?.object;
    if (!object) throw new Error(`solc produced no runtime code for ${name}`);
    return `0x${object}`;
  };
  return { exact: runtime("TestX402ExactPermit2Proxy"), upto: runtime("TestX402UptoPermit2Proxy") };
}

/** `keccak256(abi.encode(EIP712Domain(name,chainId,verifyingContract), "Permit2", id, PERMIT2))`. */
const expectedDomainSeparator = (chainId) =>
  keccak256(
    encodeAbiParameters(
      [{ type: "bytes32" }, { type: "bytes32" }, { type: "uint256" }, { type: "address" }],
      [
        keccak256(toHex("EIP712Domain(string name,uint256 chainId,address verifyingContract)")),
        keccak256(toHex("Permit2")),
        BigInt(chainId),
        PERMIT2,
      ],
    ),
  );

/** The witness type string of a proxy, from @x402/evm's typed-data types (as Permit2 wants it). */
const witnessTypeString = (witnessFields) =>
  `Witness witness)TokenPermissions(address token,uint256 amount)Witness(${witnessFields
    .map((f) => `${f.type} ${f.name}`)
    .join(",")})`;

/**
 * Installs Permit2 and the two proxies on `chain` (the handle of `startChain`) and checks them:
 * Permit2 at its canonical address with the expected domain separator; each proxy answering
 * `PERMIT2()`, `WITNESS_TYPE_STRING()` and `WITNESS_TYPEHASH()` as @x402/evm's types say.
 * `proxies` is `compileProxies()`'s result (or its promise: compile while the chain starts).
 * Resolves to `{ permit2, exactProxy, uptoProxy, approve(account), allowance(address) }`.
 */
export async function installPermit2(chain, proxies = compileProxies()) {
  const { publicClient, testClient } = chain;
  check(getAddress(PERMIT2_ADDRESS) === getAddress(PERMIT2), `@x402/evm's PERMIT2_ADDRESS is ${PERMIT2_ADDRESS}`);
  const deployerCode = await publicClient.getCode({ address: CREATE2_DEPLOYER });
  check(deployerCode && deployerCode !== "0x", "anvil has no deterministic deployer (CREATE2)");

  const deployer = devAccount(3);
  const wallet = createWalletClient({
    account: deployer,
    chain: chain.chain,
    transport: http(chain.rpcUrl),
    pollingInterval: 100,
  });
  const initcode = await permit2Initcode();
  const hash = await wallet.sendTransaction({
    to: CREATE2_DEPLOYER,
    data: concat([PERMIT2_SALT, initcode]),
    gas: 3_000_000n,
  });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  check(receipt.status === "success", `Permit2 CREATE2 deployment reverted (tx ${hash})`);
  const permit2Code = await publicClient.getCode({ address: PERMIT2 });
  check(permit2Code && permit2Code.length > 2, `no code at ${PERMIT2} after the CREATE2 deployment`);
  const domain = await publicClient.readContract({
    address: PERMIT2,
    abi: permit2Abi,
    functionName: "DOMAIN_SEPARATOR",
  });
  const expected = expectedDomainSeparator(chain.chain.id);
  check(domain === expected, `Permit2 DOMAIN_SEPARATOR ${domain}, expected ${expected}`);

  const { exact, upto } = await proxies;
  await testClient.setCode({ address: x402ExactPermit2ProxyAddress, bytecode: exact });
  await testClient.setCode({ address: x402UptoPermit2ProxyAddress, bytecode: upto });
  const exactFields = [
    { name: "to", type: "address" },
    { name: "validAfter", type: "uint256" },
  ];
  for (const [address, abi, fields] of [
    [x402ExactPermit2ProxyAddress, x402ExactPermit2ProxyABI, exactFields],
    [x402UptoPermit2ProxyAddress, x402UptoPermit2ProxyABI, uptoPermit2WitnessTypes.Witness],
  ]) {
    const read = (functionName) => publicClient.readContract({ address, abi, functionName });
    const [permit2, typeString, typehash] = await Promise.all([
      read("PERMIT2"),
      read("WITNESS_TYPE_STRING"),
      read("WITNESS_TYPEHASH"),
    ]);
    check(getAddress(permit2) === getAddress(PERMIT2), `proxy ${address}: PERMIT2() ${permit2}`);
    const wantType = witnessTypeString(fields);
    check(typeString === wantType, `proxy ${address}: WITNESS_TYPE_STRING ${typeString}, expected ${wantType}`);
    const wantHash = keccak256(toHex(wantType.slice(wantType.lastIndexOf("Witness("))));
    check(typehash === wantHash, `proxy ${address}: WITNESS_TYPEHASH ${typehash}, expected ${wantHash}`);
  }

  return {
    permit2: PERMIT2,
    exactProxy: x402ExactPermit2ProxyAddress,
    uptoProxy: x402UptoPermit2ProxyAddress,
    /**
     * `approve(Permit2, max)` of USDC from `account` (a viem local account): gives it 0.01 test
     * ETH for the gas first (anvil_setBalance), as a wallet would need.
     */
    approve: async (account) => {
      await testClient.setBalance({ address: account.address, value: 10n ** 16n });
      const payer = createWalletClient({
        account,
        chain: chain.chain,
        transport: http(chain.rpcUrl),
        pollingInterval: 100,
      });
      const tx = await payer.writeContract({
        address: USDC,
        abi: erc20ApproveAbi,
        functionName: "approve",
        args: [PERMIT2, maxUint256],
      });
      const mined = await publicClient.waitForTransactionReceipt({ hash: tx });
      check(mined.status === "success", `approve(Permit2) from ${account.address} reverted`);
      return mined;
    },
    /** The USDC allowance `owner` gave Permit2. */
    allowance: (owner) =>
      publicClient.readContract({
        address: USDC,
        abi: erc20ApproveAbi,
        functionName: "allowance",
        args: [owner, PERMIT2],
      }),
  };
}

function check(condition, message) {
  if (!condition) throw new Error(`Permit2 rig: ${message}`);
}
