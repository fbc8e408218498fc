//! Local checks of EVM `exact` payments: an EIP-3009 `TransferWithAuthorization` signed with
//! EIP-712, checked against *our* requirement before any facilitator call.
//!
//! The checks are the ones a facilitator makes that need no chain (the x402 `exact` EVM
//! scheme, `specs/schemes/exact/scheme_exact_evm.md` in the coinbase/x402 repository), run
//! cheapest first so garbage costs almost nothing:
//!
//! 1. the requirement is `exact` with an EIP-712 domain (`extra.name`, `extra.version`);
//! 2. `authorization.to == payTo` (addresses compared as 20 bytes, so case never matters);
//! 3. `authorization.value == amount` (exactly, as the v2 facilitator requires);
//! 4. `validAfter <= now` and `now + margin <= validBefore`, with the facilitator's 6-second
//!    margin by default ([`CheckOptions::valid_before_margin_secs`]);
//! 5. a 65-byte signature is an ECDSA signature over the EIP-712 digest (domain
//!    `{name, version, chainId, verifyingContract: asset}`) that recovers to
//!    `authorization.from`. This is the only expensive step: one digest and one recovery, on
//!    libsecp256k1 (alloy-primitives' `secp256k1` backend: one recovery and no second
//!    verification, ~4.5× k256's recover-then-verify here).
//!
//! When several checks fail, the first in this order is reported, which may differ from the
//! reason a facilitator would give (it checks the signature first).
//!
//! What is deliberately **not** checked:
//!
//! - `validBefore <= now + maxTimeoutSeconds`: the facilitator does not enforce that upper
//!   bound and clients compute `validBefore` from their own clock, so enforcing it would refuse
//!   payments the facilitator accepts;
//! - signatures that are not 65 bytes long (ERC-1271 smart wallets, ERC-6492 wrappers for
//!   undeployed ones): they need the chain, so they are passed on with
//!   [`SignatureCheck::SmartWallet`] rather than rejected. A smart wallet whose ERC-1271
//!   signature happens to be 65 bytes (e.g. a Safe with one owner) is taken for an EOA and
//!   refused; turn the signature check off with [`CheckOptions::with_signature_check`] to leave
//!   such payers to the facilitator;
//! - balance, the token's nonce state, the token's real name/version: they need RPC.
//!
//! Signature rules, as the USDC contract (Circle's `FiatToken` with its `ECRecover` library)
//! applies them on chain: `v` is accepted as `27`/`28` and also as `0`/`1` (the recovery id,
//! which some wallets emit; the official facilitator accepts both); an `s` in the upper half of
//! the curve order is refused, because `FiatToken` (like OpenZeppelin's `ECDSA`) rejects it, so
//! such a payment could never settle, and accepting it would give one authorization two
//! signature encodings. `r`/`s` of zero or beyond the curve order are refused.
//!
//! Nothing here panics on request data.
//!
//! # Example
//!
//! ```
//! use x402_core::evm::{CheckOptions, RequirementView, SignatureCheck, check_exact_evm};
//! use x402_core::wire::{ExactEvmPayload, v2};
//!
//! // The signed example of the x402 v2 specification (Base Sepolia USDC).
//! let requirement: v2::PaymentRequirements = serde_json::from_str(r#"{
//!     "scheme": "exact", "network": "eip155:84532", "amount": "10000",
//!     "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
//!     "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
//!     "maxTimeoutSeconds": 60, "extra": { "name": "USDC", "version": "2" } }"#).unwrap();
//! let payload: ExactEvmPayload = serde_json::from_str(r#"{
//!     "signature": "0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c",
//!     "authorization": { "from": "0x857b06519E91e3A54538791bDbb0E22373e36b66",
//!         "to": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "value": "10000",
//!         "validAfter": "1740672089", "validBefore": "1740672154",
//!         "nonce": "0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480" } }"#).unwrap();
//!
//! let view = RequirementView::from_v2(&requirement).unwrap();
//! let now = 1_740_672_100; // inside the authorization's window
//! let verdict = check_exact_evm(&payload, &view, now, &CheckOptions::default()).unwrap();
//! assert_eq!(verdict.payer, payload.authorization.from);
//! assert_eq!(verdict.signature, SignatureCheck::Recovered);
//!
//! // A minute after `validBefore` it has expired.
//! let err = check_exact_evm(&payload, &view, now + 60, &CheckOptions::default()).unwrap_err();
//! assert_eq!(err.reason(), x402_core::labels::Reason::Expired);
//! ```

use std::{borrow::Cow, str::FromStr};

use alloy_primitives::{Address, B256, Signature, U256, uint};
use alloy_sol_types::SolStruct;

use crate::{
    labels::Reason,
    network::Network,
    wire::{
        Eip3009Authorization, ExactEvmPayload, JsonObject, PaymentPayload, Requirements,
        SchemePayload, v1, v2,
    },
};

/// The scheme these checks apply to.
pub const EXACT: &str = "exact";

/// The official facilitator's safety margin: `validBefore` must be at least this many seconds
/// after now, so the authorization cannot expire while the settlement is in flight.
pub const DEFAULT_VALID_BEFORE_MARGIN_SECS: u64 = 6;

/// Half the secp256k1 group order: a signature's `s` above this is the malleable twin of a
/// low-`s` signature, which USDC refuses.
const SECP256K1_HALF_ORDER: U256 =
    uint!(0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0_U256);

/// The EIP-712 message type, encoded by `alloy-sol-types`.
mod typed {
    #![allow(missing_docs, unreachable_pub)]

    alloy_sol_types::sol! {
        struct TransferWithAuthorization {
            address from;
            address to;
            uint256 value;
            uint256 validAfter;
            uint256 validBefore;
            bytes32 nonce;
        }
    }
}

/// The EIP-712 domain of an EIP-3009 token: `EIP712Domain(string name,string version,uint256
/// chainId,address verifyingContract)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eip3009Domain<'a> {
    /// The token's EIP-712 name (`extra.name`), e.g. `"USDC"` on Base Sepolia, `"USD Coin"` on
    /// Base.
    pub name: &'a str,
    /// The token's EIP-712 version (`extra.version`), `"2"` for USDC.
    pub version: &'a str,
    /// The EIP-155 chain id.
    pub chain_id: u64,
    /// The token contract (the requirement's `asset`).
    pub verifying_contract: Address,
}

impl Eip3009Domain<'_> {
    fn to_sol(self) -> alloy_sol_types::Eip712Domain {
        alloy_sol_types::Eip712Domain::new(
            Some(Cow::Owned(self.name.to_owned())),
            Some(Cow::Owned(self.version.to_owned())),
            Some(U256::from(self.chain_id)),
            Some(self.verifying_contract),
            None,
        )
    }

    /// The domain separator (for USDC, what the contract's `DOMAIN_SEPARATOR()` returns).
    pub fn separator(&self) -> B256 {
        self.to_sol().separator()
    }
}

/// The EIP-712 digest a payer signs for `authorization`: `keccak256(0x1901 ‖ domainSeparator ‖
/// hashStruct(TransferWithAuthorization))`.
pub fn eip712_digest(domain: &Eip3009Domain<'_>, authorization: &Eip3009Authorization) -> B256 {
    let message = typed::TransferWithAuthorization {
        from: authorization.from,
        to: authorization.to,
        value: authorization.value,
        validAfter: authorization.valid_after,
        validBefore: authorization.valid_before,
        nonce: authorization.nonce,
    };
    message.eip712_signing_hash(&domain.to_sol())
}

/// The parts of a requirement the checks need, parsed: one view over v1 and v2 requirements.
///
/// Build it with [`RequirementView::from_v2`], [`RequirementView::from_v1`] or
/// [`RequirementView::from_v1_with_chain_id`], or fill the fields directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequirementView<'a> {
    /// The scheme; the checks require [`EXACT`].
    pub scheme: &'a str,
    /// The network as the requirement spells it (a CAIP-2 id in v2, a name in v1).
    pub network: &'a str,
    /// The EIP-155 chain id of `network`.
    pub chain_id: u64,
    /// The token contract, the EIP-712 `verifyingContract`.
    pub asset: Address,
    /// The recipient.
    pub pay_to: Address,
    /// The price in atomic units (`amount` in v2, `maxAmountRequired` in v1).
    pub amount: U256,
    /// `maxTimeoutSeconds`: how long a buyer makes the authorization valid.
    pub max_timeout_seconds: u64,
    /// `extra.name`, when it is a string.
    pub eip712_name: Option<&'a str>,
    /// `extra.version`, when it is a string.
    pub eip712_version: Option<&'a str>,
}

impl<'a> RequirementView<'a> {
    /// A v2 requirement; the chain id comes from its CAIP-2 `network` (`eip155:<chainId>`).
    pub fn from_v2(requirement: &'a v2::PaymentRequirements) -> Result<Self, CheckError> {
        let chain_id = eip155_chain_id(&requirement.network).ok_or_else(|| {
            CheckError::UnsupportedNetwork {
                network: requirement.network.clone(),
            }
        })?;
        Self::parse(
            &requirement.scheme,
            &requirement.network,
            chain_id,
            ("amount", &requirement.amount),
            &requirement.asset,
            &requirement.pay_to,
            requirement.max_timeout_seconds,
            requirement.extra.as_ref(),
        )
    }

    /// A v1 requirement; the chain id of its network name (`base-sepolia`, …) comes from
    /// [`Network::parse`].
    pub fn from_v1(requirement: &'a v1::PaymentRequirements) -> Result<Self, CheckError> {
        let chain_id = v1_chain_id(&requirement.network)?;
        Self::from_v1_with_chain_id(requirement, chain_id)
    }

    /// A v1 requirement whose network the caller has already resolved to `chain_id`.
    pub fn from_v1_with_chain_id(
        requirement: &'a v1::PaymentRequirements,
        chain_id: u64,
    ) -> Result<Self, CheckError> {
        Self::parse(
            &requirement.scheme,
            &requirement.network,
            chain_id,
            ("maxAmountRequired", &requirement.max_amount_required),
            &requirement.asset,
            &requirement.pay_to,
            requirement.max_timeout_seconds,
            requirement.extra.as_ref(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn parse(
        scheme: &'a str,
        network: &'a str,
        chain_id: u64,
        (amount_field, amount): (&'static str, &str),
        asset: &str,
        pay_to: &str,
        max_timeout_seconds: u64,
        extra: Option<&'a JsonObject>,
    ) -> Result<Self, CheckError> {
        let extra_str = |key: &str| extra.and_then(|extra| extra.get(key)?.as_str());
        Ok(Self {
            scheme,
            network,
            chain_id,
            asset: parse_address("asset", asset)?,
            pay_to: parse_address("payTo", pay_to)?,
            amount: parse_decimal(amount).ok_or_else(|| CheckError::InvalidRequirement {
                field: amount_field,
                value: amount.to_owned(),
                problem: "not a decimal integer of at most 256 bits",
            })?,
            max_timeout_seconds,
            eip712_name: extra_str("name"),
            eip712_version: extra_str("version"),
        })
    }

    /// The token's EIP-712 domain, or [`CheckError::MissingEip712Domain`] when `extra.name` or
    /// `extra.version` is missing.
    pub fn domain(&self) -> Result<Eip3009Domain<'a>, CheckError> {
        let name = self
            .eip712_name
            .ok_or(CheckError::MissingEip712Domain { field: "name" })?;
        let version = self
            .eip712_version
            .ok_or(CheckError::MissingEip712Domain { field: "version" })?;
        Ok(Eip3009Domain {
            name,
            version,
            chain_id: self.chain_id,
            verifying_contract: self.asset,
        })
    }
}

/// The chain id of a CAIP-2 `eip155:<chainId>` network id; `None` for anything else.
pub fn eip155_chain_id(network: &str) -> Option<u64> {
    let digits = network.strip_prefix("eip155:")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn v1_chain_id(name: &str) -> Result<u64, CheckError> {
    let unsupported = || CheckError::UnsupportedNetwork {
        network: name.to_owned(),
    };
    let network = Network::parse(name).map_err(|_| unsupported())?;
    eip155_chain_id(network.caip2()).ok_or_else(unsupported)
}

fn parse_address(field: &'static str, value: &str) -> Result<Address, CheckError> {
    Address::from_str(value).map_err(|_| CheckError::InvalidRequirement {
        field,
        value: value.to_owned(),
        problem: "not a 20-byte hex address",
    })
}

fn parse_decimal(value: &str) -> Option<U256> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    U256::from_str_radix(value, 10).ok()
}

/// Knobs of the local checks. `CheckOptions::default()` is what the official facilitator does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckOptions {
    /// `validBefore` must be at least `now` plus this many seconds (default 6, the facilitator's
    /// margin).
    pub valid_before_margin_secs: u64,
    /// Whether to check 65-byte signatures locally (default `true`). Off, the signature is left
    /// to the facilitator and the verdict says [`SignatureCheck::Disabled`].
    pub check_signature: bool,
}

impl CheckOptions {
    /// The defaults: a 6-second margin, signatures checked.
    pub const fn new() -> Self {
        Self {
            valid_before_margin_secs: DEFAULT_VALID_BEFORE_MARGIN_SECS,
            check_signature: true,
        }
    }

    /// With another `validBefore` margin.
    pub const fn with_valid_before_margin(mut self, secs: u64) -> Self {
        self.valid_before_margin_secs = secs;
        self
    }

    /// With the local signature check on or off.
    pub const fn with_signature_check(mut self, on: bool) -> Self {
        self.check_signature = on;
        self
    }
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// A payment that passed the local checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalVerdict {
    /// `authorization.from`. Proven only when `signature` is [`SignatureCheck::Recovered`].
    pub payer: Address,
    /// What was done with the signature.
    pub signature: SignatureCheck,
}

impl LocalVerdict {
    /// Whether the signature was checked locally (and recovered to the payer).
    pub fn signature_checked(&self) -> bool {
        self.signature == SignatureCheck::Recovered
    }
}

/// What the local checks did with a payment's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureCheck {
    /// A 65-byte ECDSA signature that recovers to `authorization.from`.
    Recovered,
    /// Not 65 bytes: a smart-wallet signature (ERC-1271, or ERC-6492 for an undeployed wallet)
    /// that only the chain can check. Not checked locally; the facilitator decides.
    SmartWallet {
        /// The signature's length in bytes.
        len: usize,
    },
    /// Not checked: [`CheckOptions::check_signature`] is off.
    Disabled,
}

/// Why a payment fails the local checks. Each message names the field and the values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// A v1 payment against a v2 requirement, or the reverse.
    #[error(
        "the payment is x402Version {payment} but the requirement is x402Version {requirement}"
    )]
    VersionMismatch {
        /// The payment's version.
        payment: u8,
        /// The requirement's version.
        requirement: u8,
    },
    /// The requirement's scheme is not `exact`.
    #[error("scheme {scheme:?} is not checked locally (only \"exact\" is)")]
    UnsupportedScheme {
        /// The requirement's scheme.
        scheme: String,
    },
    /// The payment's scheme is not the requirement's.
    #[error("the payment's scheme {payment:?} is not the requirement's {requirement:?}")]
    SchemeMismatch {
        /// The payment's scheme.
        payment: String,
        /// The requirement's scheme.
        requirement: String,
    },
    /// The network is not an EVM (`eip155`) network, or not a known v1 name.
    #[error("network {network:?} is not a known EVM network")]
    UnsupportedNetwork {
        /// The network as written.
        network: String,
    },
    /// The payment's network is not the requirement's.
    #[error("the payment's network {payment:?} is not the requirement's {requirement:?}")]
    NetworkMismatch {
        /// The payment's network.
        payment: String,
        /// The requirement's network.
        requirement: String,
    },
    /// The payload is not an EIP-3009 `{signature, authorization}` (e.g. Permit2 or Solana).
    #[error("the payload is not an EIP-3009 {{signature, authorization}} payload")]
    UnsupportedPayload,
    /// A field of the requirement cannot be used (our configuration, not the payer's fault).
    #[error("requirement {field} {value:?} is {problem}")]
    InvalidRequirement {
        /// The field, as spelt on the wire.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The requirement's `extra` lacks the EIP-712 `name` or `version` of the token, without
    /// which no EIP-3009 signature can be checked (the official facilitator refuses too).
    #[error(
        "requirement extra.{field} is missing: the token's EIP-712 domain needs name and version"
    )]
    MissingEip712Domain {
        /// `"name"` or `"version"`.
        field: &'static str,
    },
    /// `authorization.to` is not the requirement's `payTo`.
    #[error("authorization.to {to} is not payTo {pay_to}")]
    RecipientMismatch {
        /// `authorization.to`.
        to: Address,
        /// The requirement's `payTo`.
        pay_to: Address,
    },
    /// `authorization.value` is not the requirement's amount.
    #[error("authorization.value {value} is not the required amount {amount}")]
    AmountMismatch {
        /// `authorization.value`.
        value: U256,
        /// The requirement's amount.
        amount: U256,
    },
    /// `authorization.validAfter` is in the future.
    #[error("authorization.validAfter {valid_after} is after now ({now})")]
    NotYetValid {
        /// `authorization.validAfter`.
        valid_after: U256,
        /// The time of the check.
        now: u64,
    },
    /// `authorization.validBefore` has passed, or is closer than the margin.
    #[error("authorization.validBefore {valid_before} is before now ({now}) + {margin} s")]
    Expired {
        /// `authorization.validBefore`.
        valid_before: U256,
        /// The time of the check.
        now: u64,
        /// The margin required.
        margin: u64,
    },
    /// The 65-byte signature is not a usable ECDSA signature.
    #[error("signature is not a valid ECDSA signature: {problem}")]
    MalformedSignature {
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The signature recovers to someone other than `authorization.from`: it was made by
    /// another key, or for another authorization, token, chain or EIP-712 domain.
    #[error("signature recovers to {recovered}, not authorization.from {from}")]
    SignerMismatch {
        /// The recovered signer.
        recovered: Address,
        /// `authorization.from`.
        from: Address,
    },
}

impl CheckError {
    /// The metric/re-challenge reason.
    pub fn reason(&self) -> Reason {
        match self {
            Self::VersionMismatch { .. } => Reason::VersionMismatch,
            Self::UnsupportedScheme { .. }
            | Self::UnsupportedNetwork { .. }
            | Self::UnsupportedPayload => Reason::UnsupportedScheme,
            // A requirement we cannot use matches nothing.
            Self::SchemeMismatch { .. }
            | Self::NetworkMismatch { .. }
            | Self::InvalidRequirement { .. }
            | Self::MissingEip712Domain { .. } => Reason::NoMatchingRequirement,
            Self::RecipientMismatch { .. } => Reason::RecipientMismatch,
            Self::AmountMismatch { .. } => Reason::AmountMismatch,
            Self::NotYetValid { .. } => Reason::NotYetValid,
            Self::Expired { .. } => Reason::Expired,
            Self::MalformedSignature { .. } | Self::SignerMismatch { .. } => {
                Reason::InvalidSignature
            }
        }
    }

    /// The `invalidReason` the official facilitator (`@x402/evm` 2.27) gives for the same
    /// failure, for code that answers like a facilitator (the dev facilitator).
    pub fn invalid_reason(&self) -> &'static str {
        match self {
            Self::VersionMismatch { .. } => "invalid_x402_version",
            Self::UnsupportedScheme { .. } => "unsupported_scheme",
            Self::SchemeMismatch { .. } => "invalid_exact_evm_scheme",
            Self::UnsupportedNetwork { .. } => "invalid_network",
            Self::NetworkMismatch { .. } => "invalid_exact_evm_network_mismatch",
            Self::UnsupportedPayload => "unsupported_payload_type",
            Self::InvalidRequirement { .. } => "invalid_payment_requirements",
            Self::MissingEip712Domain { .. } => "invalid_exact_evm_missing_eip712_domain",
            Self::RecipientMismatch { .. } => "invalid_exact_evm_recipient_mismatch",
            Self::AmountMismatch { .. } => "invalid_exact_evm_payload_authorization_value_mismatch",
            Self::NotYetValid { .. } => "invalid_exact_evm_payload_authorization_valid_after",
            Self::Expired { .. } => "invalid_exact_evm_payload_authorization_valid_before",
            Self::MalformedSignature { .. } | Self::SignerMismatch { .. } => {
                "invalid_exact_evm_signature"
            }
        }
    }
}

/// Checks an EIP-3009 payload against a requirement at unix time `now`.
pub fn check_exact_evm(
    payload: &ExactEvmPayload,
    requirement: &RequirementView<'_>,
    now: u64,
    options: &CheckOptions,
) -> Result<LocalVerdict, CheckError> {
    if requirement.scheme != EXACT {
        return Err(CheckError::UnsupportedScheme {
            scheme: requirement.scheme.to_owned(),
        });
    }
    let domain = requirement.domain()?;
    let authorization = &payload.authorization;
    if authorization.to != requirement.pay_to {
        return Err(CheckError::RecipientMismatch {
            to: authorization.to,
            pay_to: requirement.pay_to,
        });
    }
    if authorization.value != requirement.amount {
        return Err(CheckError::AmountMismatch {
            value: authorization.value,
            amount: requirement.amount,
        });
    }
    if authorization.valid_after > U256::from(now) {
        return Err(CheckError::NotYetValid {
            valid_after: authorization.valid_after,
            now,
        });
    }
    let margin = options.valid_before_margin_secs;
    if authorization.valid_before < U256::from(now) + U256::from(margin) {
        return Err(CheckError::Expired {
            valid_before: authorization.valid_before,
            now,
            margin,
        });
    }
    let signature = if options.check_signature {
        check_signature(&payload.signature, &domain, authorization)?
    } else {
        SignatureCheck::Disabled
    };
    Ok(LocalVerdict {
        payer: authorization.from,
        signature,
    })
}

fn check_signature(
    signature: &[u8],
    domain: &Eip3009Domain<'_>,
    authorization: &Eip3009Authorization,
) -> Result<SignatureCheck, CheckError> {
    let Ok(bytes) = <&[u8; 65]>::try_from(signature) else {
        return Ok(SignatureCheck::SmartWallet {
            len: signature.len(),
        });
    };
    let signature = parse_ecdsa(bytes)?;
    let digest = eip712_digest(domain, authorization);
    let recovered = signature
        .recover_address_from_prehash(&digest)
        .map_err(|_| CheckError::MalformedSignature {
            problem: "it recovers to no public key",
        })?;
    if recovered == authorization.from {
        Ok(SignatureCheck::Recovered)
    } else {
        Err(CheckError::SignerMismatch {
            recovered,
            from: authorization.from,
        })
    }
}

/// `r ‖ s ‖ v`, with the rules USDC applies on chain (module docs).
fn parse_ecdsa(bytes: &[u8; 65]) -> Result<Signature, CheckError> {
    let y_parity = match bytes[64] {
        0 | 27 => false,
        1 | 28 => true,
        _ => {
            return Err(CheckError::MalformedSignature {
                problem: "v must be 27 or 28 (or 0 or 1)",
            });
        }
    };
    let r = U256::from_be_slice(&bytes[..32]);
    let s = U256::from_be_slice(&bytes[32..64]);
    if r.is_zero() || s.is_zero() {
        return Err(CheckError::MalformedSignature {
            problem: "r and s must not be zero",
        });
    }
    if s > SECP256K1_HALF_ORDER {
        return Err(CheckError::MalformedSignature {
            problem: "s is in the upper half of the curve order (a malleable signature USDC refuses)",
        });
    }
    Ok(Signature::new(r, s, y_parity))
}

/// Whether the local checks apply to `payment`: an `exact` payment whose payload is an EIP-3009
/// `{signature, authorization}`. Other payments (Permit2, Solana, other schemes) are for the
/// facilitator alone; [`check_payment`] would refuse them.
pub fn applies_to(payment: &PaymentPayload) -> bool {
    let (scheme, payload) = match payment {
        PaymentPayload::V1(payment) => (&payment.scheme, &payment.payload),
        PaymentPayload::V2(payment) => (&payment.accepted.scheme, &payment.payload),
    };
    scheme == EXACT && matches!(payload, SchemePayload::ExactEvm(_))
}

/// Checks a typed payment against our requirement, v1 or v2: versions, scheme and network
/// agree, then [`check_exact_evm`].
///
/// For v2 the caller has already matched `accepted` to one of its advertised requirements (all
/// fields); only scheme and network are compared again here, as a facilitator does. A v1
/// requirement's network name is resolved with [`Network::parse`].
pub fn check_payment(
    payment: &PaymentPayload,
    requirements: Requirements<'_>,
    now: u64,
    options: &CheckOptions,
) -> Result<LocalVerdict, CheckError> {
    check_payment_with(payment, requirements, now, options, v1_chain_id)
}

/// [`check_payment`] with the v1 name → chain id resolution supplied by the caller.
pub(crate) fn check_payment_with(
    payment: &PaymentPayload,
    requirements: Requirements<'_>,
    now: u64,
    options: &CheckOptions,
    v1_chain_id: impl FnOnce(&str) -> Result<u64, CheckError>,
) -> Result<LocalVerdict, CheckError> {
    let (payload, view) = match (payment, requirements) {
        (PaymentPayload::V2(payment), Requirements::V2(requirement)) => {
            let accepted = &payment.accepted;
            same_scheme_and_network(
                (&accepted.scheme, &accepted.network),
                (&requirement.scheme, &requirement.network),
            )?;
            (&payment.payload, RequirementView::from_v2(requirement)?)
        }
        (PaymentPayload::V1(payment), Requirements::V1(requirement)) => {
            same_scheme_and_network(
                (&payment.scheme, &payment.network),
                (&requirement.scheme, &requirement.network),
            )?;
            let chain_id = v1_chain_id(&requirement.network)?;
            let view = RequirementView::from_v1_with_chain_id(requirement, chain_id)?;
            (&payment.payload, view)
        }
        (PaymentPayload::V1(_), Requirements::V2(_)) => {
            return Err(CheckError::VersionMismatch {
                payment: 1,
                requirement: 2,
            });
        }
        (PaymentPayload::V2(_), Requirements::V1(_)) => {
            return Err(CheckError::VersionMismatch {
                payment: 2,
                requirement: 1,
            });
        }
    };
    let SchemePayload::ExactEvm(payload) = payload else {
        return Err(CheckError::UnsupportedPayload);
    };
    check_exact_evm(payload, &view, now, options)
}

fn same_scheme_and_network(
    (scheme, network): (&str, &str),
    (required_scheme, required_network): (&str, &str),
) -> Result<(), CheckError> {
    if required_scheme != EXACT {
        return Err(CheckError::UnsupportedScheme {
            scheme: required_scheme.to_owned(),
        });
    }
    if scheme != required_scheme {
        return Err(CheckError::SchemeMismatch {
            payment: scheme.to_owned(),
            requirement: required_scheme.to_owned(),
        });
    }
    if network != required_network {
        return Err(CheckError::NetworkMismatch {
            payment: network.to_owned(),
            requirement: required_network.to_owned(),
        });
    }
    Ok(())
}

/// The EIP-3009 authorization `payer` grants for `requirement`: `to = payTo`, `value = amount`,
/// the given `validAfter`, `validBefore = now + maxTimeoutSeconds`, and `nonce`.
///
/// The official clients differ only in `validAfter`: `0` for v2 (`@x402/evm` ≥ 2.15), `now - 600`
/// for v1.
pub fn authorization(
    payer: Address,
    requirement: &RequirementView<'_>,
    valid_after: U256,
    now: u64,
    nonce: B256,
) -> Eip3009Authorization {
    Eip3009Authorization {
        from: payer,
        to: requirement.pay_to,
        value: requirement.amount,
        valid_after,
        valid_before: U256::from(now) + U256::from(requirement.max_timeout_seconds),
        nonce,
    }
}

pub use crate::clock::{Clock, FixedClock, SystemClock};

/// Signing EIP-3009 authorizations with a local key: what a buyer does (feature `evm-signer`).
///
/// ```
/// use x402_core::evm::{CheckOptions, RequirementView, check_exact_evm};
/// use x402_core::evm::signer::{PrivateKeySigner, sign_payment};
/// use x402_core::wire::v2;
///
/// let requirement: v2::PaymentRequirements = serde_json::from_str(r#"{
///     "scheme": "exact", "network": "eip155:84532", "amount": "1000",
///     "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
///     "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
///     "maxTimeoutSeconds": 300, "extra": { "name": "USDC", "version": "2" } }"#).unwrap();
/// let view = RequirementView::from_v2(&requirement).unwrap();
/// // anvil's first dev key: never use it for real funds.
/// let signer: PrivateKeySigner =
///     "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".parse().unwrap();
///
/// let now = 1_795_346_121;
/// let payload = sign_payment(&signer, &view, now).unwrap();
/// assert_eq!(payload.authorization.valid_before, alloy_primitives::U256::from(now + 300));
/// let verdict = check_exact_evm(&payload, &view, now, &CheckOptions::default()).unwrap();
/// assert_eq!(verdict.payer, signer.address());
/// ```
#[cfg(feature = "evm-signer")]
pub mod signer {
    use alloy_primitives::{B256, U256};
    use alloy_signer::SignerSync;
    pub use alloy_signer_local::PrivateKeySigner;

    use super::{CheckError, Eip3009Domain, RequirementView, eip712_digest};
    use crate::wire::{Eip3009Authorization, ExactEvmPayload};

    /// Why signing failed.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum SignError {
        /// The requirement cannot be paid with EIP-3009 (e.g. no EIP-712 domain in `extra`).
        #[error(transparent)]
        Requirement(#[from] CheckError),
        /// The signer failed.
        #[error("signing the authorization failed")]
        Signer(#[from] alloy_signer::Error),
    }

    /// The authorization a buyer grants for `requirement` at unix time `now`, as the 2.27
    /// client fills it: `to = payTo`, `value = amount`, `validAfter = 0`,
    /// `validBefore = now + maxTimeoutSeconds`, and the given `nonce`.
    pub fn authorization_for(
        payer: alloy_primitives::Address,
        requirement: &RequirementView<'_>,
        now: u64,
        nonce: B256,
    ) -> Eip3009Authorization {
        super::authorization(payer, requirement, U256::ZERO, now, nonce)
    }

    /// Signs `authorization` as it is (its `from` should be the signer's address) for `domain`.
    /// The signature is `r ‖ s ‖ v` with `v` = 27 or 28 and a low `s`.
    pub fn sign_authorization(
        signer: &PrivateKeySigner,
        domain: &Eip3009Domain<'_>,
        authorization: Eip3009Authorization,
    ) -> Result<ExactEvmPayload, SignError> {
        let digest = eip712_digest(domain, &authorization);
        let signature = signer.sign_hash_sync(&digest)?;
        Ok(ExactEvmPayload {
            signature: signature.as_bytes().into(),
            authorization,
        })
    }

    /// Pays `requirement` at unix time `now` with a fresh random nonce: the authorization of
    /// [`authorization_for`], signed.
    pub fn sign_payment(
        signer: &PrivateKeySigner,
        requirement: &RequirementView<'_>,
        now: u64,
    ) -> Result<ExactEvmPayload, SignError> {
        let domain = requirement.domain()?;
        let authorization = authorization_for(signer.address(), requirement, now, B256::random());
        sign_authorization(signer, &domain, authorization)
    }
}
