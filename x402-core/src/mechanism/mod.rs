//! Payment mechanisms: what differs between one way of paying and another.
//!
//! A *mechanism* is a (scheme, chain family, transfer method) triple — EVM `exact` by EIP-3009
//! is one; EVM `exact` by Permit2, EVM `upto` and Solana `exact` are others. Everything that
//! depends on the mechanism goes through the [`Mechanism`] trait, and nothing above this module
//! matches on a scheme name or a payload shape:
//!
//! | step | who asks | trait method |
//! |---|---|---|
//! | build the route's offer (the requirement's `extra`, from the facilitator's `/supported` where needed) | [`offer`](crate::offer) | [`Mechanism::extra`] |
//! | tell its payload apart from another mechanism's | [`gate`](crate::gate) | [`Mechanism::recognizes`] |
//! | the local checks, before any facilitator call | [`gate`](crate::gate) | [`Mechanism::check`] |
//! | what makes one payment unique, for replay protection | [`gate`](crate::gate) | [`Mechanism::replay_id`] |
//! | the amount a settlement moves (metrics, the handler's [`Payment`](crate::gate::Payment)) | [`gate`](crate::gate) | [`Mechanism::settled_amount`] |
//! | which options a buyer can pay | `client` | [`find`] |
//! | which payment flows an option may use | table build | [`Mechanism::flows`] |
//! | whether the handler chooses the charge (`upto`) | [`gate`](crate::gate) | [`Mechanism::charge_is_chosen_after_handler`] |
//!
//! The set is closed: [`all`] lists the mechanisms this crate implements — [`ExactEip3009`],
//! [`ExactPermit2`] (`exact` with `assetTransferMethod: "permit2"`) and [`UptoPermit2`] — and
//! [`find`] picks the one serving a (scheme, network, transfer method). A payload the option's
//! mechanism does not recognize (a Solana payload for an EIP-3009 option, say) is not refused:
//! it is passed to the facilitator unchecked, its replay identity is its JSON text, and it is
//! kept for the option's `maxTimeoutSeconds`. The Permit2 mechanisms recognize every payload
//! and refuse any that is not a Permit2 permit: nothing else can pay them.
//!
//! # Adding a mechanism
//!
//! 1. Write its module here (`mechanism/<scheme>_<method>.rs`) with a unit struct implementing
//!    [`Mechanism`]; put its wire types in [`wire`](crate::wire) (its payload variant in
//!    [`SchemePayload`], told apart by shape as the official facilitators do) and its
//!    cryptography in a module of its own beside [`evm`](crate::evm) when it has any.
//! 2. List it in [`all`]: the first mechanism serving a (scheme, network) pair wins, so put a
//!    more specific one first.
//! 3. If it pays a scheme other than `exact`, the route spec accepts that scheme as soon as
//!    [`find`] knows it; if it needs a chain family other than EIP-155, [`Network`] must parse
//!    that family first.
//! 4. Its payer: [`Checked::payer`] is an EVM address today; a non-EVM mechanism widens it.
//! 5. The buyer side signs in `client::payload`, one arm per [`Transfer`].
//! 6. Prove it: a row in `tests/interop` where the official client pays our server and ours
//!    pays the official server, and the conformance cases for its local checks.

pub(crate) mod exact_eip3009;
pub(crate) mod exact_permit2;
pub(crate) mod upto_permit2;

use std::fmt;

use alloy_primitives::{Address, U256};

pub use self::{
    exact_eip3009::ExactEip3009,
    exact_permit2::ExactPermit2,
    upto_permit2::{FACILITATOR_ADDRESS_KEY, UptoPermit2},
};
use crate::{
    flow::PaymentFlow,
    labels::Reason,
    network::{Asset, Network},
    wire::{JsonObject, SchemePayload, SupportedKind},
};

/// One payment mechanism (see the [module docs](self)). Implementations are stateless unit
/// structs; the gate holds them as `&'static dyn Mechanism`.
pub trait Mechanism: fmt::Debug + Send + Sync + 'static {
    /// Which mechanism this is.
    fn id(&self) -> MechanismId;

    /// Whether this mechanism pays `scheme` on `network` by the transfer method a requirement's
    /// `extra` names ([`transfer_method`]; `None` when building our own offer, whose `extra`
    /// the mechanism writes).
    fn serves(&self, scheme: &str, network: &Network, extra: Option<&JsonObject>) -> bool;

    /// Its part of the offer: the requirement's `extra`. `supported` is the facilitator's
    /// `/supported` kind for this scheme and network when the caller has one; a mechanism that
    /// needs a fee payer or a facilitator address reads it there, and refuses to build an offer
    /// without it.
    fn extra(
        &self,
        terms: &Terms<'_>,
        supported: Option<&SupportedKind>,
    ) -> Result<Option<JsonObject>, OfferError>;

    /// Whether `payload` is this mechanism's payload. One it does not recognize is left to the
    /// facilitator (see the [module docs](self)).
    fn recognizes(&self, payload: &SchemePayload) -> bool;

    /// The local checks of a payload it [recognizes](Mechanism::recognizes) against our
    /// `terms` at unix time `now`. With `verify` false (local checks turned off) nothing is
    /// refused, but the payer and expiry are still read.
    fn check(
        &self,
        terms: &Terms<'_>,
        payload: &SchemePayload,
        now: u64,
        verify: bool,
    ) -> Result<Checked, Reason>;

    /// What makes this payment unique for replay protection — for EIP-3009 the tuple the
    /// token contract makes unique — or `None` to fall back to the payment's JSON text.
    fn replay_id(&self, terms: &Terms<'_>, payload: &SchemePayload) -> Option<ReplayId>;

    /// The atomic units a settlement of this payment moves (the price, for `exact`).
    fn settled_amount(&self, terms: &Terms<'_>, payload: &SchemePayload) -> U256;

    /// The [payment flows](crate::flow) this mechanism allows, its default first (both for
    /// EVM `exact`; `upto` charges after the handler, so only `authorization`). A route option
    /// configured with another flow is refused when the table is built.
    fn flows(&self) -> &'static [PaymentFlow] {
        PaymentFlow::ALL
    }

    /// Whether the charge is chosen after the handler, up to the price (`upto`): the gate then
    /// settles the amount the handler chose
    /// ([`SettlementOverrides`](crate::gate::SettlementOverrides)). `false` (the default): the
    /// payment settles exactly the price.
    fn charge_is_chosen_after_handler(&self) -> bool {
        false
    }
}

/// A mechanism's name: its scheme, chain family and transfer method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MechanismId {
    /// The x402 scheme, e.g. `"exact"`.
    pub scheme: &'static str,
    /// The chain family.
    pub family: ChainFamily,
    /// How the funds move.
    pub transfer: Transfer,
}

impl fmt::Display for MechanismId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, family, transfer) =
            (self.scheme, self.family.as_str(), self.transfer.as_str());
        write!(f, "{scheme} on {family} by {transfer}")
    }
}

/// A family of chains sharing addresses, signatures and transaction formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChainFamily {
    /// EVM chains (`eip155:<chain id>`).
    Eip155,
}

impl ChainFamily {
    /// The CAIP-2 namespace, e.g. `"eip155"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eip155 => "eip155",
        }
    }
}

/// How a mechanism moves the funds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transfer {
    /// EIP-3009 `transferWithAuthorization`, signed with EIP-712.
    Eip3009,
    /// A Permit2 `permitWitnessTransferFrom`, signed with EIP-712, spent by an x402 proxy.
    Permit2,
}

impl Transfer {
    /// The method's name as `extra.assetTransferMethod` spells it, e.g. `"eip3009"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eip3009 => "eip3009",
            Self::Permit2 => "permit2",
        }
    }
}

/// Our side of one payment option, typed when the route table was built (nothing is parsed
/// per request).
#[derive(Debug, Clone, Copy)]
pub struct Terms<'a> {
    /// The network.
    pub network: &'a Network,
    /// The token.
    pub asset: &'a Asset,
    /// The price, in atomic units of the asset.
    pub amount: U256,
    /// The recipient.
    pub pay_to: Address,
    /// How long a payment for this option may take.
    pub max_timeout_seconds: u64,
    /// The requirement's `extra` as advertised (what the mechanism wrote from the facilitator's
    /// `/supported`, e.g. `upto`'s `facilitatorAddress`); `None` while the offer is built.
    pub extra: Option<&'a JsonObject>,
}

/// What a mechanism's local checks established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checked {
    /// The payer, when the payload names it.
    pub payer: Option<Address>,
    /// Unix time after which the payment can no longer settle (the gate remembers it against
    /// replays until then, a day at most).
    pub expires_at: u64,
}

impl Checked {
    /// A verdict naming the payer and the expiry.
    pub fn new(payer: Option<Address>, expires_at: u64) -> Self {
        Self { payer, expires_at }
    }
}

/// The bytes identifying one payment for replay protection (hashed by the replay guard), kept
/// on the stack: at most [`ReplayId::MAX_LEN`] bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ReplayId {
    bytes: [u8; ReplayId::MAX_LEN],
    len: u8,
}

impl ReplayId {
    /// The longest identity; a mechanism with a longer one hashes it first.
    pub const MAX_LEN: usize = 96;

    /// The identity `parts` concatenated, or `None` if longer than [`ReplayId::MAX_LEN`].
    pub fn from_parts(parts: &[&[u8]]) -> Option<Self> {
        let mut bytes = [0u8; Self::MAX_LEN];
        let mut len = 0usize;
        for part in parts {
            let end = len
                .checked_add(part.len())
                .filter(|e| *e <= Self::MAX_LEN)?;
            bytes[len..end].copy_from_slice(part);
            len = end;
        }
        Some(Self {
            bytes,
            len: u8::try_from(len).ok()?,
        })
    }

    /// The identity's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for ReplayId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ReplayId({})",
            alloy_primitives::hex::encode(self.as_bytes())
        )
    }
}

/// Why a mechanism cannot build its part of an offer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OfferError {
    /// The facilitator's `/supported` kind lacks a field the mechanism needs.
    #[error("the facilitator's /supported entry for {mechanism} has no `{field}`")]
    MissingSupported {
        /// The mechanism.
        mechanism: MechanismId,
        /// The missing `extra` field.
        field: &'static str,
    },
}

/// Every mechanism this crate implements, most specific first.
pub fn all() -> &'static [&'static dyn Mechanism] {
    &[&ExactEip3009, &ExactPermit2, &UptoPermit2]
}

/// The mechanism paying `scheme` on `network` by the transfer method `extra` names, if any.
pub fn find(
    scheme: &str,
    network: &Network,
    extra: Option<&JsonObject>,
) -> Option<&'static dyn Mechanism> {
    all()
        .iter()
        .copied()
        .find(|m| m.serves(scheme, network, extra))
}

/// The transfer method a requirement's `extra` names (`assetTransferMethod`, e.g. `"permit2"`);
/// `None` means the scheme's default (EIP-3009 for EVM `exact`).
pub fn transfer_method(extra: Option<&JsonObject>) -> Option<&str> {
    extra?.get("assetTransferMethod")?.as_str()
}

/// Whether some mechanism pays `scheme` (on some network).
pub fn knows_scheme(scheme: &str) -> bool {
    all().iter().any(|m| m.id().scheme == scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_ids_concatenate_and_refuse_overflow() {
        let id = ReplayId::from_parts(&[b"ab", b"", b"cde"]).unwrap();
        assert_eq!(id.as_bytes(), b"abcde");
        assert_eq!(format!("{id:?}"), "ReplayId(6162636465)");
        let long = [0u8; ReplayId::MAX_LEN];
        assert!(ReplayId::from_parts(&[&long]).is_some());
        assert!(ReplayId::from_parts(&[&long, b"x"]).is_none());
    }

    #[test]
    fn find_picks_the_mechanism_serving_scheme_and_network() {
        let base = Network::parse("eip155:8453").unwrap();
        let found = find("exact", &base, None).unwrap();
        assert_eq!(found.id().scheme, "exact");
        assert_eq!(found.id().transfer, Transfer::Eip3009);
        let upto = find("upto", &base, None).unwrap();
        assert_eq!(upto.id().to_string(), "upto on eip155 by permit2");
        assert!(find("batch-settlement", &base, None).is_none());
        let extra = |method: &str| {
            serde_json::from_value::<JsonObject>(serde_json::json!({
                "name": "USDC", "assetTransferMethod": method
            }))
            .unwrap()
        };
        assert!(find("exact", &base, Some(&extra("eip3009"))).is_some());
        let permit2 = find("exact", &base, Some(&extra("permit2"))).unwrap();
        assert_eq!(permit2.id().to_string(), "exact on eip155 by permit2");
        assert!(find("upto", &base, Some(&extra("eip3009"))).is_none());
        assert!(find("upto", &base, Some(&extra("permit2"))).is_some());
        assert_eq!(transfer_method(Some(&extra("permit2"))), Some("permit2"));
        assert_eq!(transfer_method(None), None);
        assert_eq!(found.id().to_string(), "exact on eip155 by eip3009");
        assert!(knows_scheme("exact"));
        assert!(knows_scheme("upto"));
        assert!(!knows_scheme("escrow"));
    }
}
