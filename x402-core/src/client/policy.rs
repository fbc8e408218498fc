//! Which payment option of a challenge to pay: allowed networks and assets, a maximum per
//! request, and a preference order.

use std::{collections::HashMap, fmt};

use alloy_primitives::{Address, U256};

use super::{Cap, Challenge};
use crate::{
    evm::{CheckError, RequirementView},
    flow::PaymentFlow,
    mechanism::{self, MechanismId},
    network::Network,
};

/// A token on a chain: spending limits are kept per asset, in its atomic units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
// Exhaustive on purpose: a key, exactly (chain, token), that users build.
pub struct AssetKey {
    /// The EIP-155 chain id.
    pub chain_id: u64,
    /// The token contract.
    pub asset: Address,
}

impl AssetKey {
    /// The asset `asset` on `network`.
    pub fn new(network: &Network, asset: Address) -> Self {
        Self {
            chain_id: network.chain_id(),
            asset,
        }
    }

    /// The network's default asset (its USDC, see [`Network::default_asset`]), if it has one.
    pub fn default_for(network: &Network) -> Option<Self> {
        Some(Self::new(network, network.default_asset()?.address))
    }
}

impl fmt::Display for AssetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on eip155:{}", self.asset, self.chain_id)
    }
}

/// Which assets a buyer pays in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssetRule {
    /// Only the default asset of each network (its USDC), as the official client does unless
    /// told otherwise. The default: a seller cannot make the buyer sign for a token of its
    /// choosing.
    #[default]
    NetworkDefaults,
    /// Only these assets.
    Only(Vec<AssetKey>),
    /// Any asset with an EIP-712 domain in the requirement.
    Any,
}

/// An option's preference, lowest first: the `authorization` flow, then EIP-3009 over Permit2,
/// then the policy's network order; ties go to the seller's order.
type Rank = (u8, u8, usize);

/// How a buyer chooses among a challenge's payment options.
///
/// Options are kept when they are `exact` (EIP-3009 or Permit2) or `upto` payments in a known
/// payment flow on an allowed network, in an allowed asset, at no more than the asset's maximum
/// per request (for `upto`, the maximum authorized); among those, the `authorization` flow is
/// preferred to `upfront`, EIP-3009 to Permit2, then the most preferred network (the order of
/// [`networks`](Self::networks)), ties going to the seller's order.
///
/// ```
/// use x402_core::client::{AssetKey, PaymentPolicy};
/// use x402_core::network::Network;
///
/// let base_sepolia = Network::parse("base-sepolia").unwrap();
/// let usdc = AssetKey::default_for(&base_sepolia).unwrap();
/// let policy = PaymentPolicy::new()
///     .networks([base_sepolia])
///     .max_per_request(usdc, alloy_primitives::U256::from(10_000)); // $0.01
/// ```
#[derive(Debug, Clone, Default)]
pub struct PaymentPolicy {
    networks: Vec<Network>,
    assets: AssetRule,
    max_per_request: HashMap<AssetKey, U256>,
    /// Refuse Permit2 options (`exact` by Permit2, `upto`).
    no_permit2: bool,
}

impl PaymentPolicy {
    /// Any EVM network, its default asset only, no maximum per request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only these networks, most preferred first. Empty (the default) allows every network.
    #[must_use]
    pub fn networks(mut self, networks: impl IntoIterator<Item = Network>) -> Self {
        self.networks = networks.into_iter().collect();
        self
    }

    /// Which assets to pay in (default [`AssetRule::NetworkDefaults`]).
    #[must_use]
    pub fn assets(mut self, assets: AssetRule) -> Self {
        self.assets = assets;
        self
    }

    /// Refuses options costing more than `max` atomic units of `asset` (the `maxPerRequest`
    /// cap).
    #[must_use]
    pub fn max_per_request(mut self, asset: AssetKey, max: U256) -> Self {
        self.max_per_request.insert(asset, max);
        self
    }

    /// Whether Permit2 options (`upto`, `exact` by Permit2) may be paid (default: yes; the
    /// signer must implement [`Signer::sign_permit2`](super::Signer::sign_permit2)). An
    /// EIP-3009 option is preferred to a Permit2 one anyway: it needs no Permit2 approval.
    #[must_use]
    pub fn permit2(mut self, allowed: bool) -> Self {
        self.no_permit2 = !allowed;
        self
    }

    /// The `maxPerRequest` cap of `asset`, if one is set.
    pub fn max_per_request_of(&self, asset: &AssetKey) -> Option<U256> {
        self.max_per_request.get(asset).copied()
    }

    /// The option to pay, or why none can be paid (each option's reason, in the seller's order).
    pub fn select<'c>(&self, challenge: &'c Challenge) -> Result<Candidate<'c>, SelectError> {
        let mut refusals = Vec::new();
        let mut best: Option<(Rank, Candidate<'c>)> = None;
        for index in 0..challenge.len() {
            match self.check(challenge, index) {
                Ok((rank, candidate)) => {
                    if best.as_ref().is_none_or(|(best_rank, _)| rank < *best_rank) {
                        best = Some((rank, candidate));
                    }
                }
                Err(refusal) => refusals.push((index, refusal)),
            }
        }
        best.map(|(_, candidate)| candidate)
            .ok_or(SelectError { refusals })
    }

    /// The option at `index` as a candidate with its preference rank, or why it is refused.
    fn check<'c>(
        &self,
        challenge: &'c Challenge,
        index: usize,
    ) -> Result<(Rank, Candidate<'c>), Refusal> {
        let (scheme, network_name, extra) = match challenge {
            Challenge::V1(required) => {
                let option = &required.accepts[index];
                (&option.scheme, &option.network, option.extra.as_ref())
            }
            Challenge::V2 { required, .. } => {
                let option = &required.accepts[index];
                (&option.scheme, &option.network, option.extra.as_ref())
            }
        };
        if !mechanism::knows_scheme(scheme) {
            return Err(Refusal::Scheme {
                scheme: scheme.clone(),
            });
        }
        if self.no_permit2 && mechanism::transfer_method(extra) == Some("permit2") {
            return Err(Refusal::Permit2);
        }
        // Skip flows we do not know; prefer `authorization` (a failed handler then costs
        // nothing), as the official client does.
        let flow = PaymentFlow::of_extra(extra)
            .map_err(|unknown| Refusal::PaymentFlow { flow: unknown.0 })?;
        let network = Network::parse(network_name).map_err(|error| Refusal::Network {
            network: network_name.clone(),
            problem: error.to_string(),
        })?;
        let Some(mechanism) = mechanism::find(scheme, &network, extra) else {
            return Err(Refusal::Scheme {
                scheme: scheme.clone(),
            });
        };
        let eip3009 = mechanism.id().transfer == mechanism::Transfer::Eip3009;
        if self.no_permit2 && !eip3009 {
            return Err(Refusal::Permit2);
        }
        let network_rank = if self.networks.is_empty() {
            0
        } else {
            self.networks
                .iter()
                .position(|allowed| *allowed == network)
                .ok_or_else(|| Refusal::NetworkNotAllowed {
                    chain: network.caip2().to_owned(),
                })?
        };
        let requirement = match challenge {
            Challenge::V1(required) => {
                RequirementView::from_v1_with_chain_id(&required.accepts[index], network.chain_id())
            }
            Challenge::V2 { required, .. } => RequirementView::from_v2(&required.accepts[index]),
        }
        .map_err(Refusal::Requirement)?;
        // EIP-3009 signs over the token's domain; Permit2 over Permit2's.
        if eip3009 {
            requirement.domain().map_err(Refusal::Requirement)?;
        }
        let asset = AssetKey::new(&network, requirement.asset);
        let allowed = match &self.assets {
            AssetRule::NetworkDefaults => AssetKey::default_for(&network) == Some(asset),
            AssetRule::Only(assets) => assets.contains(&asset),
            AssetRule::Any => true,
        };
        if !allowed {
            return Err(Refusal::AssetNotAllowed { asset });
        }
        if let Some(cap) = self.max_per_request_of(&asset)
            && requirement.amount > cap
        {
            return Err(Refusal::OverMaxPerRequest {
                asset,
                amount: requirement.amount,
                cap,
            });
        }
        let rank = (
            u8::from(flow != PaymentFlow::Authorization),
            u8::from(!eip3009),
            network_rank,
        );
        Ok((
            rank,
            Candidate {
                index,
                network,
                requirement,
                mechanism: mechanism.id(),
            },
        ))
    }
}

/// The payment option a policy chose.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Candidate<'c> {
    /// Its index in the challenge's `accepts`.
    pub index: usize,
    /// Its network, resolved (a v1 name becomes its CAIP-2 id).
    pub network: Network,
    /// The requirement, parsed.
    pub requirement: RequirementView<'c>,
    /// The mechanism that pays it.
    pub mechanism: MechanismId,
}

impl Candidate<'_> {
    /// The asset it is paid in.
    pub fn asset(&self) -> AssetKey {
        AssetKey::new(&self.network, self.requirement.asset)
    }

    /// The price in atomic units of [`asset`](Self::asset).
    pub fn amount(&self) -> U256 {
        self.requirement.amount
    }
}

/// Why one payment option was not chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// A scheme (or transfer method) this library does not pay.
    #[error("scheme {scheme:?} is not supported (\"exact\", \"upto\")")]
    Scheme {
        /// The scheme.
        scheme: String,
    },
    /// `extra.assetTransferMethod` is `permit2` and the policy pays EIP-3009 only
    /// ([`PaymentPolicy::permit2`]).
    #[error("Permit2 payments are turned off (EIP-3009 only)")]
    Permit2,
    /// `extra.paymentFlow` names a flow this library does not serve (e.g. `escrow`).
    #[error("payment flow {flow:?} is not supported (authorization, upfront)")]
    PaymentFlow {
        /// The flow as the seller spelled it.
        flow: String,
    },
    /// The network is not an EVM network this library knows how to name.
    #[error("network {network:?}: {problem}")]
    Network {
        /// The network as the seller spelled it.
        network: String,
        /// Why.
        problem: String,
    },
    /// The network is not in the policy's list.
    #[error("network {chain} is not allowed")]
    NetworkNotAllowed {
        /// The CAIP-2 id.
        chain: String,
    },
    /// The requirement cannot be paid with EIP-3009 (bad address or amount, no EIP-712 domain).
    #[error(transparent)]
    Requirement(CheckError),
    /// The asset is not allowed.
    #[error("asset {asset} is not allowed")]
    AssetNotAllowed {
        /// The asset.
        asset: AssetKey,
    },
    /// The price is above the asset's `maxPerRequest`.
    #[error(
        "the price {amount} is above the {} cap of {cap} atomic units of {asset}",
        Cap::MaxPerRequest
    )]
    OverMaxPerRequest {
        /// The asset.
        asset: AssetKey,
        /// The price.
        amount: U256,
        /// The cap.
        cap: U256,
    },
}

/// No payment option of a challenge can be paid under the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct SelectError {
    /// Each option's index in `accepts` and why it was refused.
    pub refusals: Vec<(usize, Refusal)>,
}

impl SelectError {
    /// Whether an option was refused only for being above `maxPerRequest`: the cap, not the
    /// seller, is what stopped the payment.
    pub fn is_over_cap(&self) -> bool {
        self.refusals
            .iter()
            .any(|(_, refusal)| matches!(refusal, Refusal::OverMaxPerRequest { .. }))
    }
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no payment option of the 402 can be paid")?;
        for (index, refusal) in &self.refusals {
            write!(f, "; accepts[{index}]: {refusal}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{self, DEFAULT_MAX_HEADER_BYTES};

    const USDC_BASE_SEPOLIA: &str = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
    const USDC_BASE: &str = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";

    fn option(network: &str, asset: &str, amount: &str) -> serde_json::Value {
        serde_json::json!({
            "scheme": "exact", "network": network, "amount": amount, "asset": asset,
            "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "maxTimeoutSeconds": 300,
            "extra": { "name": "USDC", "version": "2" }
        })
    }

    fn challenge(options: &[serde_json::Value]) -> Challenge {
        let header = codec::encode_header(&serde_json::json!({
            "x402Version": 2, "resource": { "url": "http://127.0.0.1/x" }, "accepts": options
        }));
        Challenge::from_header(header.as_bytes(), DEFAULT_MAX_HEADER_BYTES).unwrap()
    }

    fn network(name: &str) -> Network {
        Network::parse(name).unwrap()
    }

    #[test]
    fn the_first_option_on_the_most_preferred_network_wins() {
        let challenge = challenge(&[
            option("eip155:84532", USDC_BASE_SEPOLIA, "1000"),
            option("eip155:8453", USDC_BASE, "1000"),
        ]);
        let any = PaymentPolicy::new().select(&challenge).unwrap();
        assert_eq!(any.index, 0, "no preference: the seller's order");
        let base_first = PaymentPolicy::new()
            .networks([network("base"), network("base-sepolia")])
            .select(&challenge)
            .unwrap();
        assert_eq!(base_first.index, 1);
    }

    #[test]
    fn authorization_is_preferred_to_upfront_and_eip3009_to_permit2() {
        let mut upfront = option("eip155:84532", USDC_BASE_SEPOLIA, "1000");
        upfront["extra"]["paymentFlow"] = "upfront".into();
        let mut permit2 = option("eip155:84532", USDC_BASE_SEPOLIA, "1000");
        permit2["extra"]["assetTransferMethod"] = "permit2".into();
        let mut escrow = option("eip155:84532", USDC_BASE_SEPOLIA, "1000");
        escrow["extra"]["paymentFlow"] = "escrow".into();
        let plain = option("eip155:84532", USDC_BASE_SEPOLIA, "1000");
        let pick = |options: &[serde_json::Value]| {
            PaymentPolicy::new()
                .select(&challenge(options))
                .map(|c| c.index)
        };
        assert_eq!(pick(&[upfront.clone(), plain.clone()]), Ok(1));
        assert_eq!(pick(&[permit2.clone(), plain]), Ok(1));
        assert_eq!(
            pick(&[upfront.clone(), permit2.clone()]),
            Ok(1),
            "the flow comes first"
        );
        assert_eq!(pick(&[permit2.clone()]), Ok(0));
        let error = pick(&[escrow]).unwrap_err();
        assert_eq!(
            error.refusals[0].1,
            Refusal::PaymentFlow {
                flow: "escrow".to_owned()
            }
        );
        let only_permit2 = challenge(&[permit2]);
        let off = PaymentPolicy::new().permit2(false).select(&only_permit2);
        assert_eq!(off.unwrap_err().refusals[0].1, Refusal::Permit2);
    }

    #[test]
    fn each_refused_option_says_why() {
        let mut permit2 = option("eip155:84532", USDC_BASE_SEPOLIA, "1000");
        permit2["extra"]["assetTransferMethod"] = "permit2".into();
        let mut no_domain = option("eip155:84532", USDC_BASE_SEPOLIA, "1000");
        no_domain["extra"] = serde_json::json!({});
        let mut unknown = option("eip155:84532", USDC_BASE_SEPOLIA, "1000");
        unknown["scheme"] = "batch-settlement".into();
        let challenge = challenge(&[
            unknown,
            permit2,
            option("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "x", "1000"),
            option("eip155:8453", USDC_BASE, "1000"),
            option(
                "eip155:84532",
                "0x0000000000000000000000000000000000000001",
                "1000",
            ),
            no_domain,
            option("eip155:84532", USDC_BASE_SEPOLIA, "20000"),
        ]);
        let usdc = AssetKey::default_for(&network("base-sepolia")).unwrap();
        let error = PaymentPolicy::new()
            .networks([network("base-sepolia")])
            .max_per_request(usdc, U256::from(10_000))
            .permit2(false)
            .select(&challenge)
            .unwrap_err();
        let reasons: Vec<_> = error.refusals.iter().map(|(_, r)| r.clone()).collect();
        assert!(matches!(reasons[0], Refusal::Scheme { .. }));
        assert_eq!(reasons[1], Refusal::Permit2);
        assert!(matches!(reasons[2], Refusal::Network { .. }));
        assert!(matches!(reasons[3], Refusal::NetworkNotAllowed { .. }));
        assert!(matches!(reasons[4], Refusal::AssetNotAllowed { .. }));
        assert!(matches!(reasons[5], Refusal::Requirement(_)));
        assert!(matches!(reasons[6], Refusal::OverMaxPerRequest { .. }));
        assert!(error.is_over_cap());
        let message = error.to_string();
        assert!(
            message.contains("accepts[6]") && message.contains("maxPerRequest"),
            "{message}"
        );
    }

    #[test]
    fn a_listed_asset_is_allowed_beside_the_defaults_rule() {
        let custom = "0x0000000000000000000000000000000000000001";
        let challenge = challenge(&[option("eip155:84532", custom, "5")]);
        assert!(PaymentPolicy::new().select(&challenge).is_err());
        let key = AssetKey::new(&network("base-sepolia"), custom.parse().unwrap());
        let chosen = PaymentPolicy::new()
            .assets(AssetRule::Only(vec![key]))
            .select(&challenge)
            .unwrap();
        assert_eq!(chosen.asset(), key);
        assert_eq!(chosen.amount(), U256::from(5));
    }
}
