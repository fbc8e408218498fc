//! EVM `upto` by Permit2: the payer signs a Permit2 permit for at most the price, the handler
//! chooses the charge after it ran, and the facilitator settles that charge through the x402
//! upto proxy (`specs/schemes/upto/scheme_upto_evm.md` in the coinbase/x402 repository).
//!
//! - Offer: `extra` is the token's EIP-712 domain `{name, version}`, `assetTransferMethod:
//!   "permit2"` and `facilitatorAddress`, which must come from the facilitator's `/supported`
//!   (`kinds[scheme=upto, network].extra.facilitatorAddress`): only that facilitator may settle.
//!   Without it the option cannot be offered ([`OfferError::MissingSupported`]).
//! - Payload: `{signature, permit2Authorization}` with the upto proxy as `spender` and the
//!   witness `{to, facilitator, validAfter}` ([`Permit2Payload`]). Any other payload is refused
//!   locally: no other shape can pay `upto`.
//! - Local checks: those of [`crate::permit2`] (spender, recipient, facilitator, deadline,
//!   `validAfter`, amount = the maximum, token, EIP-712 signature with the `evm` feature).
//! - Flow: `authorization` only (the charge is known after the handler).
//! - Replay identity: (chain id, owner, nonce): Permit2 nonces belong to the owner across
//!   spenders and tokens. Settled amount: the charge the handler chose
//!   ([`SettlementOverrides`](crate::gate::SettlementOverrides)), the maximum without one.

use std::str::FromStr;

use alloy_primitives::{Address, U256};
use serde_json::Value;

use super::{
    ChainFamily, Checked, Mechanism, MechanismId, OfferError, ReplayId, Terms, Transfer,
    transfer_method,
};
use crate::{
    flow::PaymentFlow,
    labels::Reason,
    network::Network,
    permit2::{Permit2Terms, UPTO_PERMIT2_PROXY, check_permit2},
    wire::{JsonObject, Permit2Payload, SchemePayload, SupportedKind},
};

/// EVM `upto` by Permit2.
#[derive(Debug, Clone, Copy, Default)]
pub struct UptoPermit2;

/// The scheme this mechanism pays.
pub(crate) const UPTO: &str = "upto";

/// The `extra` key naming the facilitator allowed to settle.
pub const FACILITATOR_ADDRESS_KEY: &str = "facilitatorAddress";

impl Mechanism for UptoPermit2 {
    fn id(&self) -> MechanismId {
        MechanismId {
            scheme: UPTO,
            family: ChainFamily::Eip155,
            transfer: Transfer::Permit2,
        }
    }

    fn serves(&self, scheme: &str, network: &Network, extra: Option<&JsonObject>) -> bool {
        // Every network `Network` parses is an EIP-155 chain.
        let _ = network;
        scheme == UPTO && matches!(transfer_method(extra), None | Some("permit2"))
    }

    fn extra(
        &self,
        terms: &Terms<'_>,
        supported: Option<&SupportedKind>,
    ) -> Result<Option<JsonObject>, OfferError> {
        let facilitator = supported
            .and_then(|kind| kind.extra.as_ref()?.get(FACILITATOR_ADDRESS_KEY)?.as_str())
            .and_then(|text| Address::from_str(text).ok())
            .ok_or(OfferError::MissingSupported {
                mechanism: self.id(),
                field: FACILITATOR_ADDRESS_KEY,
            })?;
        let mut extra = terms.asset.extra().unwrap_or_default();
        extra.insert(
            "assetTransferMethod".to_owned(),
            Value::from(Transfer::Permit2.as_str()),
        );
        extra.insert(
            FACILITATOR_ADDRESS_KEY.to_owned(),
            Value::from(facilitator.to_checksum(None)),
        );
        Ok(Some(extra))
    }

    fn recognizes(&self, _payload: &SchemePayload) -> bool {
        // The only shape that pays `upto`: anything else is refused by `check`, not passed on.
        true
    }

    fn check(
        &self,
        terms: &Terms<'_>,
        payload: &SchemePayload,
        now: u64,
        verify: bool,
    ) -> Result<Checked, Reason> {
        let payload = permit2_payload(payload).ok_or(Reason::InvalidPaymentHeader)?;
        let auth = &payload.permit2_authorization;
        if verify {
            check_permit2(&payload, &permit2_terms(terms), now, true).map_err(|e| e.reason())?;
        }
        Ok(Checked::new(
            Some(auth.from),
            u64::try_from(auth.deadline).unwrap_or(u64::MAX),
        ))
    }

    fn replay_id(&self, terms: &Terms<'_>, payload: &SchemePayload) -> Option<ReplayId> {
        permit2_replay_id(terms, payload)
    }

    fn settled_amount(&self, terms: &Terms<'_>, _payload: &SchemePayload) -> U256 {
        terms.amount
    }

    fn flows(&self) -> &'static [PaymentFlow] {
        &[PaymentFlow::Authorization]
    }

    fn charge_is_chosen_after_handler(&self) -> bool {
        true
    }
}

/// A Permit2 payment's replay identity: (chain id, owner, nonce), since Permit2 nonces
/// belong to the owner across spenders and tokens.
pub(super) fn permit2_replay_id(terms: &Terms<'_>, payload: &SchemePayload) -> Option<ReplayId> {
    let payload = permit2_payload(payload)?;
    let auth = &payload.permit2_authorization;
    ReplayId::from_parts(&[
        b"permit2",
        &terms.network.chain_id().to_be_bytes(),
        auth.from.as_slice(),
        &auth.nonce.to_be_bytes::<32>(),
    ])
}

/// The Permit2 payload of a scheme payload, if it is one.
pub(super) fn permit2_payload(payload: &SchemePayload) -> Option<Permit2Payload> {
    match payload {
        SchemePayload::Other(object) if Permit2Payload::is_permit2(object) => {
            Permit2Payload::from_object(object).ok()
        }
        _ => None,
    }
}

/// Our terms as [`crate::permit2`]'s checks read them. The facilitator is the one our offer
/// names; an offer without one (impossible once built) makes every witness mismatch.
fn permit2_terms(terms: &Terms<'_>) -> Permit2Terms {
    let facilitator = terms
        .extra
        .and_then(|extra| extra.get(FACILITATOR_ADDRESS_KEY)?.as_str())
        .and_then(|text| Address::from_str(text).ok())
        .unwrap_or(Address::ZERO);
    Permit2Terms {
        chain_id: terms.network.chain_id(),
        asset: terms.asset.address,
        pay_to: terms.pay_to,
        amount: terms.amount,
        spender: UPTO_PERMIT2_PROXY,
        facilitator: Some(facilitator),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supported(extra: &Value) -> SupportedKind {
        serde_json::from_value(serde_json::json!({
            "x402Version": 2, "scheme": "upto", "network": "eip155:84532", "extra": extra
        }))
        .unwrap()
    }

    #[test]
    fn the_offer_needs_the_facilitator_address_from_supported() {
        let network = Network::parse("eip155:84532").unwrap();
        let asset = network.default_asset().unwrap();
        let terms = Terms {
            network: &network,
            asset: &asset,
            amount: U256::from(1000),
            pay_to: Address::ZERO,
            max_timeout_seconds: 60,
            extra: None,
        };
        let kind = supported(&serde_json::json!({
            "facilitatorAddress": "0x1111111111111111111111111111111111111111"
        }));
        let extra = UptoPermit2.extra(&terms, Some(&kind)).unwrap().unwrap();
        assert_eq!(extra["assetTransferMethod"], "permit2");
        assert_eq!(
            extra["facilitatorAddress"],
            "0x1111111111111111111111111111111111111111"
        );
        assert_eq!(extra["name"], "USDC");
        for kind in [
            None,
            Some(supported(&serde_json::json!({}))),
            Some(supported(
                &serde_json::json!({"facilitatorAddress": "nope"}),
            )),
        ] {
            let error = UptoPermit2.extra(&terms, kind.as_ref()).unwrap_err();
            assert_eq!(
                error.to_string(),
                "the facilitator's /supported entry for upto on eip155 by permit2 has no `facilitatorAddress`"
            );
        }
    }

    #[test]
    fn a_payload_of_another_shape_is_refused_not_passed_on() {
        let network = Network::parse("eip155:84532").unwrap();
        let asset = network.default_asset().unwrap();
        let terms = Terms {
            network: &network,
            asset: &asset,
            amount: U256::from(1000),
            pay_to: Address::ZERO,
            max_timeout_seconds: 60,
            extra: None,
        };
        let other = SchemePayload::Other(JsonObject::new());
        assert!(UptoPermit2.recognizes(&other));
        assert_eq!(
            UptoPermit2.check(&terms, &other, 0, false),
            Err(Reason::InvalidPaymentHeader)
        );
    }
}
