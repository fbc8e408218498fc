//! EVM networks and their default assets.
//!
//! A [`Network`] is an EVM chain, written in route configuration either as a legacy x402 v1
//! name (`base-sepolia`) or as a CAIP-2 id (`eip155:84532`). Whatever the spelling, it
//! resolves to the same value, whose canonical form is the CAIP-2 id: that is what v2
//! requirements carry, what metrics label and what equality compares.
//!
//! The built-in table covers the EVM networks the official SDKs know (x402 1.2 and
//! `@x402/evm` 2.27), with the asset a `$` price is paid in on each ([`Network::default_asset`]).
//! Any other `eip155:<chain id>` is accepted too; it has no v1 name and no default asset, so
//! routes on it must price in an explicit token amount. Non-EVM networks (Solana, Aptos, …) are
//! rejected as not supported.
//!
//! # Example
//!
//! ```
//! use x402_core::network::Network;
//!
//! let network = Network::parse("base-sepolia").unwrap();
//! assert_eq!(network, Network::parse("eip155:84532").unwrap());
//! assert_eq!(network.caip2(), "eip155:84532");
//! assert_eq!(network.chain_id(), 84532);
//! assert_eq!(network.v1_name(), Some("base-sepolia"));
//!
//! let usdc = network.default_asset().unwrap();
//! assert_eq!(usdc.address.to_string(), "0x036CbD53842c5426634e7929541eC2318f3dCF7e");
//! assert_eq!(usdc.decimals, 6);
//! let extra = usdc.extra().unwrap();
//! assert_eq!(extra["name"], "USDC");
//! assert_eq!(extra["version"], "2");
//!
//! assert!(Network::parse("solana").is_err());
//! ```

use std::{borrow::Cow, fmt, hash, str::FromStr, sync::Arc};

use alloy_primitives::{Address, B256, U256, address, b256, keccak256};
use serde_json::Value;

use crate::wire::JsonObject;

/// An EVM network (chain), identified by its chain id.
///
/// Build one with [`Network::parse`] (or `str::parse`). Two networks are equal when their chain
/// ids are equal, however they were spelled. [`Display`](fmt::Display) writes the CAIP-2 id.
///
/// Cloning a built-in network copies a pointer; cloning any other one bumps a reference count.
#[derive(Clone)]
pub struct Network(Repr);

#[derive(Clone)]
enum Repr {
    /// A network of the built-in table.
    Known(&'static Entry),
    /// Any other `eip155:<chain id>`.
    Other { chain_id: u64, caip2: Arc<str> },
}

impl Network {
    /// Parses a network name or CAIP-2 id.
    ///
    /// Accepted spellings:
    /// - a name of the built-in table: the legacy v1 names (`base`, `base-sepolia`,
    ///   `avalanche-fuji`, `ethereum`, …), `arbitrum-one` and `arbitrum-sepolia`, and the aliases
    ///   other x402 gateways accept (`base-mainnet`, `mainnet`, `ethereum-mainnet`, `arbitrum`,
    ///   `polygon-mainnet`, `avalanche-mainnet`);
    /// - `eip155:<chain id>` for any chain id from 1 to 2⁶⁴−1, written in decimal without
    ///   leading zeros (`eip155:8453`). A chain id outside the table is accepted: it has no v1
    ///   name and no default asset.
    ///
    /// Names and the `eip155` prefix are matched ASCII case-insensitively (`Base-Sepolia`,
    /// `EIP155:8453`); surrounding whitespace is not trimmed. The canonical spelling is always
    /// the lower-case CAIP-2 id returned by [`caip2`](Self::caip2).
    ///
    /// # Errors
    ///
    /// - [`NetworkError::InvalidChainId`] for `eip155:` followed by anything but a canonical
    ///   decimal chain id (`eip155:`, `eip155:abc`, `eip155:01`, `eip155:0`, an id that does
    ///   not fit in 64 bits);
    /// - [`NetworkError::Unsupported`] for non-EVM networks (`solana`, `solana-devnet`, any
    ///   other CAIP-2 namespace such as `solana:…`);
    /// - [`NetworkError::Unknown`] for anything else.
    pub fn parse(s: &str) -> Result<Self, NetworkError> {
        if let Some((namespace, reference)) = s.split_once(':') {
            if !namespace.eq_ignore_ascii_case("eip155") {
                return Err(NetworkError::Unsupported {
                    value: s.to_owned(),
                });
            }
            let chain_id =
                parse_chain_id(reference).map_err(|reason| NetworkError::InvalidChainId {
                    value: s.to_owned(),
                    reason,
                })?;
            return Ok(Self::with_chain_id(chain_id));
        }
        if let Some(entry) = NETWORKS.iter().find(|entry| entry.is_named(s)) {
            return Ok(Self(Repr::Known(entry)));
        }
        if NON_EVM_NAMES
            .iter()
            .any(|name| name.eq_ignore_ascii_case(s))
        {
            return Err(NetworkError::Unsupported {
                value: s.to_owned(),
            });
        }
        Err(NetworkError::Unknown {
            value: s.to_owned(),
        })
    }

    /// The network with this chain id (`eip155:<chain_id>`).
    ///
    /// # Errors
    ///
    /// [`NetworkError::InvalidChainId`] for chain id 0, which no EVM chain uses.
    pub fn from_chain_id(chain_id: u64) -> Result<Self, NetworkError> {
        if chain_id == 0 {
            return Err(NetworkError::InvalidChainId {
                value: "eip155:0".to_owned(),
                reason: ZERO_CHAIN_ID,
            });
        }
        Ok(Self::with_chain_id(chain_id))
    }

    fn with_chain_id(chain_id: u64) -> Self {
        match NETWORKS.iter().find(|entry| entry.chain_id == chain_id) {
            Some(entry) => Self(Repr::Known(entry)),
            None => Self(Repr::Other {
                chain_id,
                caip2: format!("eip155:{chain_id}").into(),
            }),
        }
    }

    /// Every network of the built-in table (each chain id once), in table order.
    pub fn known() -> impl ExactSizeIterator<Item = Self> {
        NETWORKS.iter().map(|entry| Self(Repr::Known(entry)))
    }

    /// The canonical CAIP-2 id, e.g. `eip155:84532`, also when parsed from a legacy name.
    pub fn caip2(&self) -> &str {
        match &self.0 {
            Repr::Known(entry) => entry.caip2,
            Repr::Other { caip2, .. } => caip2,
        }
    }

    /// The EIP-155 chain id, e.g. `84532`.
    pub fn chain_id(&self) -> u64 {
        match &self.0 {
            Repr::Known(entry) => entry.chain_id,
            Repr::Other { chain_id, .. } => *chain_id,
        }
    }

    /// The canonical name of a built-in network (`base-sepolia`, `ethereum`, `arbitrum-one`),
    /// whether or not v1 clients know it.
    ///
    /// `None` for networks known only by their CAIP-2 id. For the name to put on the v1 wire,
    /// use [`v1_name`](Self::v1_name).
    pub fn name(&self) -> Option<&'static str> {
        match &self.0 {
            Repr::Known(entry) => entry.name,
            Repr::Other { .. } => None,
        }
    }

    /// The network name v1 clients accept, for the `network` field of v1 requirements.
    ///
    /// Only the names of the EVM networks in the `x402@1.2.0` `NetworkSchema` enum qualify
    /// (`base`, `base-sepolia`, `avalanche`, `avalanche-fuji`, `polygon`, `polygon-amoy`,
    /// `abstract`, `abstract-testnet`, `iotex`, `sei`, `sei-testnet`, `peaq`, `story`,
    /// `educhain`, `skale-base-sepolia`): a v1 client rejects a requirement with any other
    /// name. Everything else, `ethereum` included, is `None`, and the network cannot be
    /// offered to v1 clients.
    pub fn v1_name(&self) -> Option<&'static str> {
        match &self.0 {
            Repr::Known(entry) if entry.in_v1_enum => entry.name,
            Repr::Known(_) | Repr::Other { .. } => None,
        }
    }

    /// The asset a `$` price is paid in on this network, if it has one.
    ///
    /// It is the first entry for the network in `DEFAULT_ASSETS` of `@x402/evm` 2.27 (a USD
    /// stablecoin, mostly USDC, with the EIP-712 `name` and `version` of its contract; Base
    /// Sepolia's name is `"USDC"`, Base mainnet's `"USD Coin"`). Networks absent from that
    /// table fall back to the USDC config of `x402` 1.2 (version `"2"`, 6 decimals), which
    /// covers Avalanche Fuji, Polygon Amoy, Abstract, IoTeX, Peaq, Story, EDU Chain and SKALE
    /// Base Sepolia.
    ///
    /// Only EIP-3009 (`transferWithAuthorization`) assets are used, since that is the only
    /// transfer method this library supports. The SDK's defaults that are Permit2-only (MegaETH's
    /// MegaUSD on `eip155:4326`, Mezo USD on `eip155:31611`/`31612`, Stable Coin on
    /// `eip155:72344`/`723487`, USDC on `eip155:38833`) are left out, so those networks have no
    /// default asset; neither do Ethereum Sepolia and chains outside the table.
    pub fn default_asset(&self) -> Option<Asset> {
        match &self.0 {
            Repr::Known(entry) => entry.asset.clone(),
            Repr::Other { .. } => None,
        }
    }
}

impl PartialEq for Network {
    fn eq(&self, other: &Self) -> bool {
        self.chain_id() == other.chain_id()
    }
}

impl Eq for Network {}

impl hash::Hash for Network {
    fn hash<H: hash::Hasher>(&self, state: &mut H) {
        self.chain_id().hash(state);
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Network").field(&self.caip2()).finish()
    }
}

/// Writes the CAIP-2 id.
impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.caip2())
    }
}

impl FromStr for Network {
    type Err = NetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Why a network could not be parsed. Every variant carries the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// Neither a known name nor a CAIP-2 id.
    #[error(
        "unknown network {value:?}: expected a name such as \"base\" or \"base-sepolia\", \
         or a CAIP-2 id \"eip155:<chain id>\""
    )]
    Unknown {
        /// The text that was parsed.
        value: String,
    },
    /// A known non-EVM network, or a CAIP-2 namespace other than `eip155`.
    #[error("network {value:?} is not supported: only EVM networks (\"eip155:<chain id>\") are")]
    Unsupported {
        /// The text that was parsed.
        value: String,
    },
    /// `eip155:` followed by something that is not a canonical chain id.
    #[error("invalid network {value:?}: {reason}")]
    InvalidChainId {
        /// The text that was parsed.
        value: String,
        /// What is wrong with the chain id.
        reason: &'static str,
    },
}

const ZERO_CHAIN_ID: &str = "chain id 0 is not a valid EVM chain id";

/// Parses the reference part of `eip155:<chain id>`: decimal digits, no sign, no leading zero,
/// not zero, at most `u64::MAX`. (`u64::from_str` would accept a leading `+` and zeros.)
fn parse_chain_id(reference: &str) -> Result<u64, &'static str> {
    if reference.is_empty() {
        return Err("the chain id after \"eip155:\" is missing");
    }
    if !reference.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the chain id must be written in decimal digits only");
    }
    if reference == "0" {
        return Err(ZERO_CHAIN_ID);
    }
    if reference.starts_with('0') {
        return Err("the chain id must not have leading zeros");
    }
    reference.bytes().try_fold(0_u64, |id, digit| {
        id.checked_mul(10)
            .and_then(|id| id.checked_add(u64::from(digit - b'0')))
            .ok_or("the chain id does not fit in 64 bits")
    })
}

/// The EIP-712 domain `name` and `version` of a token contract: the `extra` of an EVM `exact`
/// requirement, and half of the inputs of the domain separator (the other half is the chain id
/// and the token address, see [`Eip712Domain::separator`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
// Exhaustive on purpose: the two EIP-712 fields a token fixes; users write it.
pub struct Eip712Domain {
    /// The domain `name`, e.g. `"USD Coin"`. Must match the contract byte for byte.
    pub name: Cow<'static, str>,
    /// The domain `version`, e.g. `"2"`.
    pub version: Cow<'static, str>,
}

/// The EIP-712 type hash of the domain: `keccak256` of
/// `EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)`.
pub const EIP712_DOMAIN_TYPEHASH: B256 =
    b256!("0x8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f");

impl Eip712Domain {
    /// A domain from its `name` and `version`.
    pub fn new(name: impl Into<Cow<'static, str>>, version: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
        }
    }

    const fn borrowed(name: &'static str, version: &'static str) -> Self {
        Self {
            name: Cow::Borrowed(name),
            version: Cow::Borrowed(version),
        }
    }

    /// The EIP-712 domain separator of this domain for a token contract on a chain:
    /// `keccak256(abi.encode(EIP712_DOMAIN_TYPEHASH, keccak256(name), keccak256(version),
    /// chainId, verifyingContract))`. For USDC it equals the contract's `DOMAIN_SEPARATOR()`.
    ///
    /// It hashes; compute it once per asset, not per request.
    pub fn separator(&self, chain_id: u64, verifying_contract: Address) -> B256 {
        let mut encoded = [0_u8; 5 * 32];
        encoded[..32].copy_from_slice(EIP712_DOMAIN_TYPEHASH.as_slice());
        encoded[32..64].copy_from_slice(keccak256(self.name.as_bytes()).as_slice());
        encoded[64..96].copy_from_slice(keccak256(self.version.as_bytes()).as_slice());
        encoded[96..128].copy_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
        encoded[140..160].copy_from_slice(verifying_contract.as_slice());
        keccak256(encoded)
    }
}

/// A token that payments are made in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
// Exhaustive on purpose: users describe custom tokens as a literal.
pub struct Asset {
    /// The token contract (the requirement's `asset`; written EIP-55 checksummed).
    pub address: Address,
    /// The token's decimals: a price of 1 is `10^decimals` atomic units.
    pub decimals: u8,
    /// The EIP-712 domain used to sign EIP-3009 authorizations for this token. `None` for a
    /// token without one, whose requirements then carry no `name`/`version` in `extra`.
    pub eip712: Option<Eip712Domain>,
}

impl Asset {
    /// The requirement's `extra` for this asset: `{"name": …, "version": …}`, or `None` when
    /// the asset has no EIP-712 domain.
    pub fn extra(&self) -> Option<JsonObject> {
        let domain = self.eip712.as_ref()?;
        let mut extra = JsonObject::new();
        extra.insert("name".to_owned(), Value::from(domain.name.as_ref()));
        extra.insert("version".to_owned(), Value::from(domain.version.as_ref()));
        Some(extra)
    }

    /// The EIP-712 domain separator of this token on the chain `chain_id`, or `None` when the
    /// asset has no EIP-712 domain. See [`Eip712Domain::separator`].
    pub fn domain_separator(&self, chain_id: u64) -> Option<B256> {
        Some(self.eip712.as_ref()?.separator(chain_id, self.address))
    }
}

/// One row of the built-in table.
struct Entry {
    chain_id: u64,
    caip2: &'static str,
    /// The canonical name; `None` for networks the sources name only by CAIP-2 id.
    name: Option<&'static str>,
    /// Other names accepted by [`Network::parse`].
    aliases: &'static [&'static str],
    /// Whether `name` is in the `x402@1.2.0` network enum, i.e. v1 clients accept it.
    in_v1_enum: bool,
    asset: Option<Asset>,
}

impl Entry {
    fn is_named(&self, s: &str) -> bool {
        self.name
            .into_iter()
            .chain(self.aliases.iter().copied())
            .any(|name| name.eq_ignore_ascii_case(s))
    }
}

/// v1 names of networks that exist in x402 but are not EVM.
const NON_EVM_NAMES: &[&str] = &["solana", "solana-devnet"];

/// An EIP-3009 token (the only kind [`Network::default_asset`] returns); the address is parsed
/// at compile time.
macro_rules! eip3009 {
    ($address:literal, $name:literal, $version:literal, $decimals:literal) => {
        Some(Asset {
            address: address!($address),
            decimals: $decimals,
            eip712: Some(Eip712Domain::borrowed($name, $version)),
        })
    };
}

/// A table row; the CAIP-2 id is spelled from the chain id at compile time, so the two cannot
/// disagree.
macro_rules! entry {
    (
        $chain_id:literal, $name:expr, v1: $v1:literal, aliases: [$($alias:literal),*],
        asset: $asset:expr $(,)?
    ) => {
        Entry {
            chain_id: $chain_id,
            caip2: concat!("eip155:", $chain_id),
            name: $name,
            aliases: &[$($alias),*],
            in_v1_enum: $v1,
            asset: $asset,
        }
    };
}

/// The built-in networks.
///
/// Sources (protocol reference §5): names and chain ids from `EVM_NETWORK_CHAIN_ID_MAP` of
/// `@x402/evm` 2.27; `v1: true` for the names in the `NetworkSchema` enum of `x402` 1.2; default
/// assets from `DEFAULT_ASSETS` of `@x402/evm` 2.27, else (rows marked `x402 1.2`) the USDC
/// `config` of `x402` 1.2. Aliases are those other x402 gateways accept. Addresses are written
/// EIP-55 checksummed (the 1.2 config has some in lower case).
static NETWORKS: [Entry; 31] = [
    // Names v1 clients accept.
    entry!(8453, Some("base"), v1: true, aliases: ["base-mainnet"],
        asset: eip3009!("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USD Coin", "2", 6)),
    entry!(84532, Some("base-sepolia"), v1: true, aliases: [],
        asset: eip3009!("0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC", "2", 6)),
    entry!(43114, Some("avalanche"), v1: true, aliases: ["avalanche-mainnet"],
        asset: eip3009!("0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", "USD Coin", "2", 6)),
    entry!(43113, Some("avalanche-fuji"), v1: true, aliases: [], // x402 1.2
        asset: eip3009!("0x5425890298aed601595a70AB815c96711a31Bc65", "USD Coin", "2", 6)),
    entry!(137, Some("polygon"), v1: true, aliases: ["polygon-mainnet"],
        asset: eip3009!("0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", "USD Coin", "2", 6)),
    entry!(80002, Some("polygon-amoy"), v1: true, aliases: [], // x402 1.2
        asset: eip3009!("0x41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582", "USDC", "2", 6)),
    entry!(2741, Some("abstract"), v1: true, aliases: [], // x402 1.2
        asset: eip3009!("0x84A71ccD554Cc1b02749b35d22F684CC8ec987e1", "Bridged USDC", "2", 6)),
    entry!(11124, Some("abstract-testnet"), v1: true, aliases: [], // x402 1.2
        asset: eip3009!("0xe4C7fBB0a626ed208021ccabA6Be1566905E2dFc", "Bridged USDC", "2", 6)),
    entry!(4689, Some("iotex"), v1: true, aliases: [], // x402 1.2
        asset: eip3009!("0xcDf79194C6C285077A58da47641D4dBe51F63542", "Bridged USDC", "2", 6)),
    entry!(1329, Some("sei"), v1: true, aliases: [],
        asset: eip3009!("0xe15fC38F6D8c56aF07bbCBe3BAf5708A2Bf42392", "USDC", "2", 6)),
    entry!(1328, Some("sei-testnet"), v1: true, aliases: [],
        asset: eip3009!("0x4fCF1784B31630811181f670Aea7A7bEF803eaED", "USDC", "2", 6)),
    entry!(3338, Some("peaq"), v1: true, aliases: [], // x402 1.2
        asset: eip3009!("0xbbA60da06c2c5424f03f7434542280FCAd453d10", "USDC", "2", 6)),
    entry!(1514, Some("story"), v1: true, aliases: [], // x402 1.2
        asset: eip3009!("0xF1815bd50389c46847f0Bda824eC8da914045D14", "Bridged USDC", "2", 6)),
    entry!(41923, Some("educhain"), v1: true, aliases: [], // x402 1.2
    asset: eip3009!(
        "0x12a272A581feE5577A5dFa371afEB4b2F3a8C2F8", "Bridged USDC (Stargate)", "2", 6
    )),
    entry!(324705682, Some("skale-base-sepolia"), v1: true, aliases: [], // x402 1.2
    asset: eip3009!(
        "0x2e08028E3C4c2356572E096d8EF835cD5C6030bD", "Bridged USDC (SKALE Bridge)", "2", 6
    )),
    // Names of the 2.x map that v1 clients reject.
    entry!(1, Some("ethereum"), v1: false, aliases: ["ethereum-mainnet", "mainnet"],
        asset: eip3009!("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USD Coin", "2", 6)),
    // Not in 2.27's DEFAULT_ASSETS nor in the 1.2 config.
    entry!(11155111, Some("sepolia"), v1: false, aliases: [], asset: None),
    // 2.27's default, MegaUSD, is Permit2-only.
    entry!(4326, Some("megaeth"), v1: false, aliases: [], asset: None),
    entry!(143, Some("monad"), v1: false, aliases: [],
        asset: eip3009!("0x754704Bc059F8C67012fEd69BC8A327a5aafb603", "USDC", "2", 6)),
    entry!(988, Some("stable"), v1: false, aliases: [],
        asset: eip3009!("0x779Ded0c9e1022225f8E0630b35a9b54bE713736", "USDT0", "1", 6)),
    entry!(2201, Some("stable-testnet"), v1: false, aliases: [],
        asset: eip3009!("0x78Cf24370174180738C5B8E352B6D14c83a6c9A9", "USDT0", "1", 6)),
    entry!(42220, Some("celo"), v1: false, aliases: [],
        asset: eip3009!("0xcebA9300f2b948710d2653dD7B07f33A8B32118C", "USDC", "2", 6)),
    // The name is "USD₮0", with U+20AE TUGRIK SIGN, not a T.
    entry!(14, Some("flare"), v1: false, aliases: [],
        asset: eip3009!("0xe7cd86e13AC4309349F30B3435a9d337750fC82D", "USD\u{20AE}0", "1", 6)),
    entry!(42161, Some("arbitrum-one"), v1: false, aliases: ["arbitrum"],
        asset: eip3009!("0xaf88d065e77c8cC2239327C5EDb3A432268e5831", "USD Coin", "2", 6)),
    entry!(421614, Some("arbitrum-sepolia"), v1: false, aliases: [],
        asset: eip3009!("0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d", "USD Coin", "2", 6)),
    // Networks the sources name only by CAIP-2 id.
    entry!(36900, None, v1: false, aliases: [],
        asset: eip3009!("0x9cb8142aEBBcdc60AF7c97Af897A67A8f3CA71C2", "USDC.e", "2", 6)),
    entry!(190415, None, v1: false, aliases: [],
        asset: eip3009!("0x401eCb1D350407f13ba348573E5630B83638E30D", "Bridged USDC", "2", 6)),
    entry!(181228, None, v1: false, aliases: [],
        asset: eip3009!("0x401eCb1D350407f13ba348573E5630B83638E30D", "Bridged USDC", "2", 6)),
    entry!(50, None, v1: false, aliases: [],
        asset: eip3009!("0xfA2958CB79b0491CC627c1557F441eF849Ca8eb1", "USDC", "2", 6)),
    entry!(51, None, v1: false, aliases: [],
        asset: eip3009!("0xb5AB69F7bBada22B28e79C8FFAECe55eF1c771D4", "USDC", "2", 6)),
    entry!(11142220, None, v1: false, aliases: [],
        asset: eip3009!("0x01C5C0122039549AD1493B8220cABEdD739BC44E", "USDC", "2", 6)),
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn domain_typehash_is_the_hash_of_the_eip712_domain_type() {
        assert_eq!(
            keccak256(
                "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
            ),
            EIP712_DOMAIN_TYPEHASH
        );
    }

    #[test]
    fn table_chain_ids_names_and_aliases_are_unique_and_lower_case() {
        let mut chain_ids = HashSet::new();
        let mut names = HashSet::new();
        for entry in &NETWORKS {
            assert!(chain_ids.insert(entry.chain_id), "{}", entry.caip2);
            assert_eq!(entry.caip2, format!("eip155:{}", entry.chain_id));
            for name in entry.name.iter().chain(entry.aliases) {
                assert_eq!(*name, name.to_ascii_lowercase());
                assert!(names.insert(*name), "{name} is listed twice");
                assert!(!NON_EVM_NAMES.contains(name));
            }
            assert!(!entry.in_v1_enum || entry.name.is_some());
            if entry.name.is_none() {
                assert!(entry.aliases.is_empty());
            }
        }
    }
}
