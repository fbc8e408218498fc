//! EVM `exact` by EIP-3009: the payer signs a `transferWithAuthorization` of exactly the price
//! to the recipient, and the facilitator submits it (the x402 `exact` EVM scheme,
//! `specs/schemes/exact/scheme_exact_evm.md` in the coinbase/x402 repository).
//!
//! - Offer: `extra` is the token's EIP-712 domain `{name, version}`; nothing from `/supported`.
//! - Payload: `{signature, authorization}` ([`ExactEvmPayload`]), told apart from Permit2's by
//!   the absence of `permit2Authorization`, as the official facilitator does.
//! - Local checks: those of [`crate::evm`] (recipient, amount, validity window, and with the
//!   `evm` feature the EIP-712 signature); without the feature the signature is left to the
//!   facilitator and the cheap field checks still run.
//! - Replay identity: (chain id, token, payer, nonce), the tuple the token contract makes
//!   unique. Settled amount: the price.

use alloy_primitives::U256;

use super::{
    ChainFamily, Checked, Mechanism, MechanismId, OfferError, ReplayId, Terms, Transfer,
    transfer_method,
};
use crate::{
    labels::Reason,
    network::Network,
    wire::{ExactEvmPayload, JsonObject, SchemePayload, SupportedKind},
};

/// EVM `exact` by EIP-3009 `transferWithAuthorization`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExactEip3009;

/// The scheme this mechanism pays.
const EXACT: &str = "exact";

impl Mechanism for ExactEip3009 {
    fn id(&self) -> MechanismId {
        MechanismId {
            scheme: EXACT,
            family: ChainFamily::Eip155,
            transfer: Transfer::Eip3009,
        }
    }

    fn serves(&self, scheme: &str, network: &Network, extra: Option<&JsonObject>) -> bool {
        // Every network `Network` parses is an EIP-155 chain.
        let _ = network;
        scheme == EXACT && matches!(transfer_method(extra), None | Some("eip3009"))
    }

    fn extra(
        &self,
        terms: &Terms<'_>,
        _supported: Option<&SupportedKind>,
    ) -> Result<Option<JsonObject>, OfferError> {
        Ok(terms.asset.extra())
    }

    fn recognizes(&self, payload: &SchemePayload) -> bool {
        payload.as_exact_evm().is_some()
    }

    fn check(
        &self,
        terms: &Terms<'_>,
        payload: &SchemePayload,
        now: u64,
        verify: bool,
    ) -> Result<Checked, Reason> {
        let Some(evm) = payload.as_exact_evm() else {
            return Err(Reason::InvalidPaymentHeader);
        };
        if verify {
            local_check(terms, evm, now)?;
        }
        Ok(Checked::new(
            Some(evm.authorization.from),
            u64::try_from(evm.authorization.valid_before).unwrap_or(u64::MAX),
        ))
    }

    fn replay_id(&self, terms: &Terms<'_>, payload: &SchemePayload) -> Option<ReplayId> {
        let evm = payload.as_exact_evm()?;
        ReplayId::from_parts(&[
            &terms.network.chain_id().to_be_bytes(),
            terms.asset.address.as_slice(),
            evm.authorization.from.as_slice(),
            evm.authorization.nonce.as_slice(),
        ])
    }

    fn settled_amount(&self, terms: &Terms<'_>, _payload: &SchemePayload) -> U256 {
        terms.amount
    }
}

/// Our terms as [`crate::evm`]'s checks read them, from the values typed at build time
/// (nothing is parsed per request).
#[cfg(feature = "evm")]
pub(crate) fn requirement_view<'a>(terms: &Terms<'a>) -> crate::evm::RequirementView<'a> {
    let domain = terms.asset.eip712.as_ref();
    crate::evm::RequirementView {
        scheme: EXACT,
        network: terms.network.caip2(),
        chain_id: terms.network.chain_id(),
        asset: terms.asset.address,
        pay_to: terms.pay_to,
        amount: terms.amount,
        max_timeout_seconds: terms.max_timeout_seconds,
        eip712_name: domain.map(|d| d.name.as_ref()),
        eip712_version: domain.map(|d| d.version.as_ref()),
    }
}

/// The checks of [`crate::evm::check_exact_evm`] against our terms.
#[cfg(feature = "evm")]
fn local_check(terms: &Terms<'_>, payload: &ExactEvmPayload, now: u64) -> Result<(), Reason> {
    use crate::evm::{CheckOptions, check_exact_evm};
    check_exact_evm(
        payload,
        &requirement_view(terms),
        now,
        &CheckOptions::default(),
    )
    .map(|_| ())
    .map_err(|e| e.reason())
}

/// Without the `evm` feature the signature cannot be checked here (the facilitator still
/// checks it); the cheap field checks still run.
#[cfg(not(feature = "evm"))]
fn local_check(terms: &Terms<'_>, payload: &ExactEvmPayload, now: u64) -> Result<(), Reason> {
    let auth = &payload.authorization;
    if auth.to != terms.pay_to {
        return Err(Reason::RecipientMismatch);
    }
    if auth.value != terms.amount {
        return Err(Reason::AmountMismatch);
    }
    if auth.valid_after > U256::from(now) {
        return Err(Reason::NotYetValid);
    }
    if auth.valid_before < U256::from(now.saturating_add(VALIDITY_MARGIN_SECONDS)) {
        return Err(Reason::Expired);
    }
    Ok(())
}

/// The facilitator refuses authorizations expiring within this many seconds.
#[cfg(not(feature = "evm"))]
const VALIDITY_MARGIN_SECONDS: u64 = 6;
