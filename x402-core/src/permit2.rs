//! Local checks of EVM Permit2 payments (`upto`, and `exact` with `assetTransferMethod:
//! "permit2"`): a `PermitWitnessTransferFrom` signed with EIP-712 for the canonical Permit2
//! contract, checked against *our* requirement before any facilitator call.
//!
//! The checks are those the official facilitator makes without a chain, in its order
//! (`verifyPermit2` / `verifyUptoPermit2` of `@x402/evm`):
//!
//! 1. `spender` is the x402 proxy of the scheme ([`EXACT_PERMIT2_PROXY`] or
//!    [`UPTO_PERMIT2_PROXY`]): Permit2 hashes its `msg.sender`, so a permit for another spender
//!    can never be spent by the proxy;
//! 2. `witness.to == payTo`;
//! 3. (`upto`) `witness.facilitator` is the facilitator our offer names
//!    (`extra.facilitatorAddress`): only it may settle;
//! 4. `deadline >= now + 6` and `witness.validAfter <= now`;
//! 5. `permitted.amount == amount` (for `upto`, the maximum) and `permitted.token == asset`;
//! 6. with the `evm` feature, a 65-byte signature recovers, over the EIP-712 digest of the
//!    Permit2 domain `{name: "Permit2", chainId, verifyingContract: PERMIT2}` (no `version`),
//!    to `from`. Other lengths (EIP-2098 compact signatures, ERC-1271 contract owners) are left
//!    to the facilitator, which Permit2 also accepts.
//!
//! Signature rules follow Permit2's `SignatureVerification`, not USDC's: `v` must be 27 or 28
//! (Permit2's `ecrecover` yields no signer for 0/1), and a high `s` is not refused (Permit2
//! does not refuse it; a Permit2 nonce, not the signature, makes a permit single-use).
//!
//! Allowance (`permit2_allowance_required`), balance and nonce state need RPC and are left to
//! the facilitator.

use alloy_primitives::{Address, U256, address};

use crate::{
    labels::Reason,
    wire::{Permit2Authorization, Permit2Payload},
};

/// The canonical Permit2 contract (the same address on every chain).
pub const PERMIT2_ADDRESS: Address = address!("000000000022D473030F116dDEE9F6B43aC78BA3");
/// The x402 exact Permit2 proxy, the `spender` of an `exact` Permit2 payment.
pub const EXACT_PERMIT2_PROXY: Address = address!("402085c248EeA27D92E8b30b2C58ed07f9E20001");
/// The x402 upto Permit2 proxy, the `spender` of an `upto` payment.
pub const UPTO_PERMIT2_PROXY: Address = address!("4020A4f3b7b90ccA423B9fabCc0CE57C6C240002");

/// The official facilitator's margin: `deadline` must be at least this many seconds away.
pub const DEADLINE_MARGIN_SECS: u64 = 6;

/// Our side of a Permit2 payment option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit2Terms {
    /// The EIP-155 chain id.
    pub chain_id: u64,
    /// The token.
    pub asset: Address,
    /// The recipient.
    pub pay_to: Address,
    /// The amount permitted: the price for `exact`, the maximum for `upto`.
    pub amount: U256,
    /// The proxy that must be the permit's `spender`.
    pub spender: Address,
    /// `upto`: the facilitator the witness must name; `None` for `exact`, whose witness has no
    /// facilitator.
    pub facilitator: Option<Address>,
}

/// Why a Permit2 payment was refused locally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Permit2CheckError {
    /// `spender` is not the scheme's x402 proxy.
    #[error("permit2Authorization.spender {spender} is not the x402 proxy {expected}")]
    Spender {
        /// The permit's spender.
        spender: Address,
        /// The proxy required.
        expected: Address,
    },
    /// `witness.to` is not our `payTo`.
    #[error("permit2Authorization.witness.to {to} is not payTo {pay_to}")]
    Recipient {
        /// The witness recipient.
        to: Address,
        /// Our recipient.
        pay_to: Address,
    },
    /// `witness.facilitator` is missing or not the facilitator our offer names.
    #[error("permit2Authorization.witness.facilitator {found:?} is not {expected:?}")]
    Facilitator {
        /// The witness facilitator.
        found: Option<Address>,
        /// The one our offer names (`None` for `exact`).
        expected: Option<Address>,
    },
    /// `deadline` has passed, or is closer than the margin.
    #[error(
        "permit2Authorization.deadline {deadline} is before now ({now}) + {DEADLINE_MARGIN_SECS} s"
    )]
    Expired {
        /// The permit's deadline.
        deadline: U256,
        /// The time of the check.
        now: u64,
    },
    /// `witness.validAfter` is in the future.
    #[error("permit2Authorization.witness.validAfter {valid_after} is after now ({now})")]
    NotYetValid {
        /// The witness `validAfter`.
        valid_after: U256,
        /// The time of the check.
        now: u64,
    },
    /// `permitted.amount` is not our amount.
    #[error("permit2Authorization.permitted.amount {permitted} is not {amount}")]
    Amount {
        /// The amount permitted.
        permitted: U256,
        /// Our amount.
        amount: U256,
    },
    /// `permitted.token` is not our asset.
    #[error("permit2Authorization.permitted.token {token} is not the asset {asset}")]
    Token {
        /// The token permitted.
        token: Address,
        /// Our asset.
        asset: Address,
    },
    /// The 65-byte signature is not a usable ECDSA signature.
    #[error("signature is not a valid ECDSA signature: {0}")]
    MalformedSignature(&'static str),
    /// The signature recovers to someone other than `from`.
    #[error("signature recovers to {recovered}, not permit2Authorization.from {from}")]
    SignerMismatch {
        /// The recovered signer.
        recovered: Address,
        /// The claimed owner.
        from: Address,
    },
}

impl Permit2CheckError {
    /// The metric/re-challenge reason.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Spender { .. } => Reason::SpenderMismatch,
            Self::Recipient { .. } => Reason::RecipientMismatch,
            Self::Facilitator { .. } => Reason::FacilitatorMismatch,
            Self::Expired { .. } => Reason::Expired,
            Self::NotYetValid { .. } => Reason::NotYetValid,
            Self::Amount { .. } => Reason::AmountMismatch,
            Self::Token { .. } => Reason::NoMatchingRequirement,
            Self::MalformedSignature(_) | Self::SignerMismatch { .. } => Reason::InvalidSignature,
        }
    }

    /// The `invalidReason` the official facilitator gives for the same failure (`@x402/evm`),
    /// for code that answers like a facilitator (the dev facilitator).
    pub fn invalid_reason(&self) -> &'static str {
        match self {
            Self::Spender { .. } => "invalid_permit2_spender",
            Self::Recipient { .. } => "invalid_permit2_recipient_mismatch",
            Self::Facilitator { .. } => "upto_facilitator_mismatch",
            Self::Expired { .. } => "permit2_deadline_expired",
            Self::NotYetValid { .. } => "permit2_not_yet_valid",
            Self::Amount { .. } => "permit2_amount_mismatch",
            Self::Token { .. } => "permit2_token_mismatch",
            Self::MalformedSignature(_) | Self::SignerMismatch { .. } => {
                "invalid_permit2_signature"
            }
        }
    }
}

/// Checks a Permit2 payload against `terms` at unix time `now` (see the [module docs](self)).
/// `check_signature` false leaves the signature to the facilitator.
pub fn check_permit2(
    payload: &Permit2Payload,
    terms: &Permit2Terms,
    now: u64,
    check_signature: bool,
) -> Result<(), Permit2CheckError> {
    let auth = &payload.permit2_authorization;
    if auth.spender != terms.spender {
        return Err(Permit2CheckError::Spender {
            spender: auth.spender,
            expected: terms.spender,
        });
    }
    if auth.witness.to != terms.pay_to {
        return Err(Permit2CheckError::Recipient {
            to: auth.witness.to,
            pay_to: terms.pay_to,
        });
    }
    if auth.witness.facilitator != terms.facilitator {
        return Err(Permit2CheckError::Facilitator {
            found: auth.witness.facilitator,
            expected: terms.facilitator,
        });
    }
    if auth.deadline < U256::from(now) + U256::from(DEADLINE_MARGIN_SECS) {
        return Err(Permit2CheckError::Expired {
            deadline: auth.deadline,
            now,
        });
    }
    if auth.witness.valid_after > U256::from(now) {
        return Err(Permit2CheckError::NotYetValid {
            valid_after: auth.witness.valid_after,
            now,
        });
    }
    if auth.permitted.amount != terms.amount {
        return Err(Permit2CheckError::Amount {
            permitted: auth.permitted.amount,
            amount: terms.amount,
        });
    }
    if auth.permitted.token != terms.asset {
        return Err(Permit2CheckError::Token {
            token: auth.permitted.token,
            asset: terms.asset,
        });
    }
    if check_signature {
        signature::check(&payload.signature, terms.chain_id, auth)?;
    }
    Ok(())
}

/// The permit a buyer signs for `terms` at unix time `now`: `deadline = now + timeout`,
/// `validAfter = now - 600` (as the official client), and the given `nonce`.
pub fn authorization_for(
    from: Address,
    terms: &Permit2Terms,
    now: u64,
    max_timeout_seconds: u64,
    nonce: U256,
) -> Permit2Authorization {
    Permit2Authorization {
        from,
        permitted: crate::wire::TokenPermissions {
            token: terms.asset,
            amount: terms.amount,
        },
        spender: terms.spender,
        nonce,
        deadline: U256::from(now) + U256::from(max_timeout_seconds),
        witness: crate::wire::Permit2Witness {
            to: terms.pay_to,
            facilitator: terms.facilitator,
            valid_after: U256::from(now.saturating_sub(600)),
        },
    }
}

#[cfg(feature = "evm")]
pub use self::signature::{domain_separator, eip712_digest};

#[cfg(feature = "evm")]
mod signature {
    use std::borrow::Cow;

    use alloy_primitives::{B256, Signature, U256};
    use alloy_sol_types::{Eip712Domain, SolStruct};

    use super::{PERMIT2_ADDRESS, Permit2CheckError};
    use crate::wire::Permit2Authorization;

    /// `exact`: `Witness(address to,uint256 validAfter)`.
    mod exact {
        #![allow(missing_docs, unreachable_pub)]
        alloy_sol_types::sol! {
            struct TokenPermissions { address token; uint256 amount; }
            struct Witness { address to; uint256 validAfter; }
            struct PermitWitnessTransferFrom {
                TokenPermissions permitted;
                address spender;
                uint256 nonce;
                uint256 deadline;
                Witness witness;
            }
        }
    }

    /// `upto`: `Witness(address to,address facilitator,uint256 validAfter)`.
    mod upto {
        #![allow(missing_docs, unreachable_pub)]
        alloy_sol_types::sol! {
            struct TokenPermissions { address token; uint256 amount; }
            struct Witness { address to; address facilitator; uint256 validAfter; }
            struct PermitWitnessTransferFrom {
                TokenPermissions permitted;
                address spender;
                uint256 nonce;
                uint256 deadline;
                Witness witness;
            }
        }
    }

    fn domain(chain_id: u64) -> Eip712Domain {
        Eip712Domain::new(
            Some(Cow::Borrowed("Permit2")),
            None,
            Some(U256::from(chain_id)),
            Some(PERMIT2_ADDRESS),
            None,
        )
    }

    /// Permit2's EIP-712 domain separator on `chain_id` (what its `DOMAIN_SEPARATOR()`
    /// returns).
    pub fn domain_separator(chain_id: u64) -> B256 {
        domain(chain_id).separator()
    }

    /// The EIP-712 digest the owner signs for `auth` on `chain_id`: the `upto` witness type
    /// when the witness names a facilitator, else the `exact` one.
    pub fn eip712_digest(chain_id: u64, auth: &Permit2Authorization) -> B256 {
        let domain = domain(chain_id);
        match auth.witness.facilitator {
            Some(facilitator) => upto::PermitWitnessTransferFrom {
                permitted: upto::TokenPermissions {
                    token: auth.permitted.token,
                    amount: auth.permitted.amount,
                },
                spender: auth.spender,
                nonce: auth.nonce,
                deadline: auth.deadline,
                witness: upto::Witness {
                    to: auth.witness.to,
                    facilitator,
                    validAfter: auth.witness.valid_after,
                },
            }
            .eip712_signing_hash(&domain),
            None => exact::PermitWitnessTransferFrom {
                permitted: exact::TokenPermissions {
                    token: auth.permitted.token,
                    amount: auth.permitted.amount,
                },
                spender: auth.spender,
                nonce: auth.nonce,
                deadline: auth.deadline,
                witness: exact::Witness {
                    to: auth.witness.to,
                    validAfter: auth.witness.valid_after,
                },
            }
            .eip712_signing_hash(&domain),
        }
    }

    pub(super) fn check(
        signature: &[u8],
        chain_id: u64,
        auth: &Permit2Authorization,
    ) -> Result<(), Permit2CheckError> {
        // Not 65 bytes: EIP-2098 or ERC-1271, for the facilitator.
        let Ok(bytes) = <&[u8; 65]>::try_from(signature) else {
            return Ok(());
        };
        let y_parity = match bytes[64] {
            27 => false,
            28 => true,
            _ => return Err(Permit2CheckError::MalformedSignature("v must be 27 or 28")),
        };
        let r = U256::from_be_slice(&bytes[..32]);
        let s = U256::from_be_slice(&bytes[32..64]);
        if r.is_zero() || s.is_zero() {
            return Err(Permit2CheckError::MalformedSignature(
                "r and s must not be zero",
            ));
        }
        let recovered = Signature::new(r, s, y_parity)
            .recover_address_from_prehash(&eip712_digest(chain_id, auth))
            .map_err(|_| Permit2CheckError::MalformedSignature("it recovers to no public key"))?;
        if recovered == auth.from {
            Ok(())
        } else {
            Err(Permit2CheckError::SignerMismatch {
                recovered,
                from: auth.from,
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use alloy_primitives::{b256, keccak256};
        use alloy_sol_types::SolStruct;

        use super::*;

        #[test]
        fn type_hashes_are_the_proxies() {
            // Computed from the type strings of the x402 proxies (x402 mechanisms reference).
            assert_eq!(
                keccak256(exact::PermitWitnessTransferFrom::eip712_encode_type().as_bytes()),
                b256!("ebc156cd23678a74c94df13d772ef5478420637f0c94bd10d509e1dc98f521c7")
            );
            assert_eq!(
                keccak256(upto::PermitWitnessTransferFrom::eip712_encode_type().as_bytes()),
                b256!("51dff6974ad4388c499e7fcfe838d2bd767162553a144098ce20ea661d70c2ee")
            );
            assert_eq!(
                keccak256(upto::Witness::eip712_encode_type().as_bytes()),
                b256!("d4171c445a74218b01d4fd8af34ff1106580ea1e36ff837e64484bfaa2253b75")
            );
        }

        /// Digests and signatures made by viem 2 (`hashTypedData` / `signTypedData` with anvil's
        /// key #0, the typed data of the official client), so an independent EIP-712
        /// implementation agrees with ours.
        #[test]
        fn digests_and_signatures_match_viems() {
            use alloy_primitives::{address, hex};

            use crate::wire::{Permit2Payload, Permit2Witness, TokenPermissions};
            let payer = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
            let permit = |spender, facilitator| Permit2Authorization {
                from: payer,
                permitted: TokenPermissions {
                    token: address!("036CbD53842c5426634e7929541eC2318f3dCF7e"),
                    amount: U256::from(10_000),
                },
                spender,
                nonce: U256::from_str_radix(
                    "33247007178036348590600198031289925668252061821958005840077069883511451257277",
                    10,
                )
                .unwrap(),
                deadline: U256::from(1_795_346_421u64),
                witness: Permit2Witness {
                    to: address!("209693Bc6afc0C5328bA36FaF03C514EF312287C"),
                    facilitator,
                    valid_after: U256::from(1_795_345_521u64),
                },
            };
            let cases = [
                (
                    permit(
                        super::super::UPTO_PERMIT2_PROXY,
                        Some(address!("1111111111111111111111111111111111111111")),
                    ),
                    b256!("c187e7e635b0f8475b93a1abae49c62203275fd936ccd58b2ba5e6d932013794"),
                    "40f914fa3bfeff4b5c135faf1442d309ea2b634a67c88ff756253c2d39b1bb161f1a3b2400bdd297f8be8fe9f287b110e5ec904572bd3678b2e242a9171d7bf81c",
                ),
                (
                    permit(super::super::EXACT_PERMIT2_PROXY, None),
                    b256!("2f3a83a45220468948f201f11036ced0db6612d6f0c46f74f4e0729dd1f6dd61"),
                    "f9729b5b7408c0dac12140995d25c437a0712dae7c0e73c879e5eaab4ff9a8bc4e6ef26aacbc95b9b684b72c2df70c3b52b886af24b08f032f2e79cfb84b8d1e1c",
                ),
            ];
            for (auth, digest, signature) in cases {
                assert_eq!(eip712_digest(84_532, &auth), digest);
                let payload = Permit2Payload {
                    signature: hex::decode(signature).unwrap().into(),
                    permit2_authorization: auth,
                };
                check(&payload.signature, 84_532, &payload.permit2_authorization).unwrap();
            }
        }

        #[test]
        fn domain_separators_are_permit2s() {
            // Permit2's DOMAIN_SEPARATOR() on Ethereum mainnet, Base Sepolia and anvil.
            assert_eq!(
                domain_separator(1),
                b256!("866a5aba21966af95d6c7ab78eb2b2fc913915c28be3b9aa07cc04ff903e3f28")
            );
            assert_eq!(
                domain_separator(84532),
                b256!("010f27a92fb9a32622f44f001dc4d15706a85b33499cfc2ce9033113ab26592c")
            );
            assert_eq!(
                domain_separator(31337),
                b256!("4d553c58ae79a6c4ba64f0e690a5d1cd2deff8c6b91cf38300e0f2b76f9ee346")
            );
        }
    }
}

/// Without the `evm` feature the signature is left to the facilitator.
#[cfg(not(feature = "evm"))]
mod signature {
    use super::Permit2CheckError;
    use crate::wire::Permit2Authorization;

    pub(super) fn check(
        _signature: &[u8],
        _chain_id: u64,
        _auth: &Permit2Authorization,
    ) -> Result<(), Permit2CheckError> {
        Ok(())
    }
}

/// Signing Permit2 permits with a local key: what a buyer does (feature `evm-signer`).
#[cfg(feature = "evm-signer")]
pub mod signer {
    use alloy_primitives::{Address, B256, U256};
    use alloy_signer::SignerSync;
    use alloy_signer_local::PrivateKeySigner;

    use super::{Permit2Terms, authorization_for, eip712_digest};
    use crate::wire::{Permit2Authorization, Permit2Payload};

    /// Signs `authorization` as it is (its `from` should be the signer's address).
    pub fn sign_permit(
        signer: &PrivateKeySigner,
        chain_id: u64,
        authorization: Permit2Authorization,
    ) -> Result<Permit2Payload, alloy_signer::Error> {
        let digest = eip712_digest(chain_id, &authorization);
        let signature = signer.sign_hash_sync(&digest)?;
        Ok(Permit2Payload {
            signature: signature.as_bytes().into(),
            permit2_authorization: authorization,
        })
    }

    /// Pays `terms` at unix time `now` with a fresh random nonce (decimal uint256 of 32
    /// random bytes, as the official client).
    pub fn sign_payment(
        signer: &PrivateKeySigner,
        terms: &Permit2Terms,
        now: u64,
        max_timeout_seconds: u64,
    ) -> Result<Permit2Payload, alloy_signer::Error> {
        let nonce = U256::from_be_bytes(B256::random().0);
        let from: Address = signer.address();
        let authorization = authorization_for(from, terms, now, max_timeout_seconds, nonce);
        sign_permit(signer, terms.chain_id, authorization)
    }
}

#[cfg(all(test, feature = "evm-signer"))]
mod tests {
    use super::*;

    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const NOW: u64 = 1_795_346_121;

    fn terms(facilitator: Option<Address>) -> Permit2Terms {
        Permit2Terms {
            chain_id: 84532,
            asset: address!("036CbD53842c5426634e7929541eC2318f3dCF7e"),
            pay_to: address!("209693Bc6afc0C5328bA36FaF03C514EF312287C"),
            amount: U256::from(10_000),
            spender: if facilitator.is_some() {
                UPTO_PERMIT2_PROXY
            } else {
                EXACT_PERMIT2_PROXY
            },
            facilitator,
        }
    }

    fn signed(terms: &Permit2Terms) -> Permit2Payload {
        let signer: alloy_signer_local::PrivateKeySigner = KEY.parse().unwrap();
        signer::sign_payment(&signer, terms, NOW, 300).unwrap()
    }

    #[test]
    fn a_signed_permit_passes_for_upto_and_exact() {
        let facilitator = Some(address!("1111111111111111111111111111111111111111"));
        for terms in [terms(facilitator), terms(None)] {
            let payload = signed(&terms);
            assert_eq!(check_permit2(&payload, &terms, NOW, true), Ok(()));
        }
    }

    #[test]
    fn each_field_is_checked_in_the_facilitators_order() {
        let facilitator = Some(address!("1111111111111111111111111111111111111111"));
        let terms = terms(facilitator);
        let payload = signed(&terms);
        let other = address!("2222222222222222222222222222222222222222");
        let refused = |edit: &dyn Fn(&mut Permit2Payload), now: u64| {
            let mut p = payload.clone();
            edit(&mut p);
            check_permit2(&p, &terms, now, true).unwrap_err().reason()
        };
        assert_eq!(
            refused(
                &|p| p.permit2_authorization.spender = EXACT_PERMIT2_PROXY,
                NOW
            ),
            Reason::SpenderMismatch
        );
        assert_eq!(
            refused(&|p| p.permit2_authorization.witness.to = other, NOW),
            Reason::RecipientMismatch
        );
        assert_eq!(
            refused(
                &|p| p.permit2_authorization.witness.facilitator = Some(other),
                NOW
            ),
            Reason::FacilitatorMismatch
        );
        assert_eq!(
            refused(&|p| p.permit2_authorization.witness.facilitator = None, NOW),
            Reason::FacilitatorMismatch
        );
        assert_eq!(refused(&|_| {}, NOW + 295), Reason::Expired);
        assert_eq!(refused(&|_| {}, NOW - 601), Reason::NotYetValid);
        assert_eq!(
            refused(
                &|p| p.permit2_authorization.permitted.amount = U256::from(9_999),
                NOW
            ),
            Reason::AmountMismatch
        );
        assert_eq!(
            refused(&|p| p.permit2_authorization.permitted.token = other, NOW),
            Reason::NoMatchingRequirement
        );
        // A field the signature covers, changed after signing.
        assert_eq!(
            refused(&|p| p.permit2_authorization.nonce += U256::from(1), NOW),
            Reason::InvalidSignature
        );
        // `from` is not signed, but must be the signer.
        assert_eq!(
            refused(&|p| p.permit2_authorization.from = other, NOW),
            Reason::InvalidSignature
        );
        let mut bad_v = payload.clone();
        let mut bytes = bad_v.signature.to_vec();
        bytes[64] = 1;
        bad_v.signature = bytes.into();
        assert_eq!(
            check_permit2(&bad_v, &terms, NOW, true),
            Err(Permit2CheckError::MalformedSignature("v must be 27 or 28"))
        );
        // Signature checks off: only the fields.
        let mut forged = payload;
        forged.permit2_authorization.from = other;
        assert_eq!(check_permit2(&forged, &terms, NOW, false), Ok(()));
    }
}
