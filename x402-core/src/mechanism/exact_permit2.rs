//! EVM `exact` by Permit2: the payer signs a Permit2 permit of exactly the price, spent by the
//! x402 exact proxy (`specs/schemes/exact/scheme_exact_evm.md` §2 in the coinbase/x402
//! repository). For tokens without EIP-3009, or when the seller prefers Permit2.
//!
//! - Offer: `extra` is the token's EIP-712 domain `{name, version}` (sent whenever known, for
//!   EIP-2612 gas sponsoring) and `assetTransferMethod: "permit2"`, which a Permit2 route must
//!   send explicitly: official clients read an absent one as EIP-3009.
//! - Payload: `{signature, permit2Authorization}` with the exact proxy as `spender` and the
//!   witness `{to, validAfter}`; any other payload is refused locally.
//! - Local checks: those of [`crate::permit2`] (spender, recipient, deadline, `validAfter`,
//!   amount = the price, token, EIP-712 signature with the `evm` feature). The payer's Permit2
//!   allowance needs a chain: a facilitator refusing with `permit2_allowance_required` is
//!   answered 412, as the official server does.
//! - Replay identity: (chain id, owner, nonce). Settled amount: the price.

use alloy_primitives::U256;
use serde_json::Value;

use super::{
    ChainFamily, Checked, Mechanism, MechanismId, OfferError, ReplayId, Terms, Transfer,
    transfer_method,
    upto_permit2::{permit2_payload, permit2_replay_id},
};
use crate::{
    labels::Reason,
    network::Network,
    permit2::{EXACT_PERMIT2_PROXY, Permit2Terms, check_permit2},
    wire::{JsonObject, SchemePayload, SupportedKind},
};

/// EVM `exact` by Permit2.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExactPermit2;

const EXACT: &str = "exact";

impl Mechanism for ExactPermit2 {
    fn id(&self) -> MechanismId {
        MechanismId {
            scheme: EXACT,
            family: ChainFamily::Eip155,
            transfer: Transfer::Permit2,
        }
    }

    fn serves(&self, scheme: &str, network: &Network, extra: Option<&JsonObject>) -> bool {
        let _ = network;
        scheme == EXACT && transfer_method(extra) == Some("permit2")
    }

    fn extra(
        &self,
        terms: &Terms<'_>,
        _supported: Option<&SupportedKind>,
    ) -> Result<Option<JsonObject>, OfferError> {
        let mut extra = terms.asset.extra().unwrap_or_default();
        extra.insert(
            "assetTransferMethod".to_owned(),
            Value::from(Transfer::Permit2.as_str()),
        );
        Ok(Some(extra))
    }

    fn recognizes(&self, _payload: &SchemePayload) -> bool {
        // Only a Permit2 payload pays this option: anything else is refused by `check`.
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
            let ours = Permit2Terms {
                chain_id: terms.network.chain_id(),
                asset: terms.asset.address,
                pay_to: terms.pay_to,
                amount: terms.amount,
                spender: EXACT_PERMIT2_PROXY,
                facilitator: None,
            };
            check_permit2(&payload, &ours, now, true).map_err(|e| e.reason())?;
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
}
