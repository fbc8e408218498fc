//! Building and signing the payment for a chosen requirement, v1 or v2.

use alloy_primitives::{B256, U256};
use serde_json::{Map, Value};

use super::{AuthorizationToSign, Candidate, Challenge, Permit2ToSign, Signer, SignerError};
use crate::{
    codec::{self, PaymentHeader},
    evm::{self, CheckError, CheckOptions},
    mechanism::Transfer,
    payment_identifier::{self, PaymentId},
    permit2::{self, Permit2Terms},
    wire::{ExactEvmPayload, PaymentPayload, Permit2Payload, SchemePayload, V1, V2, v1, v2},
};

/// How far back a v1 authorization is valid from, as the official v1 clients set it.
const V1_VALID_AFTER_LEEWAY_SECS: u64 = 600;

/// A signed payment, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedPayment {
    /// The payment, typed.
    pub payload: PaymentPayload,
    /// The header to send it in: `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1).
    pub header: PaymentHeader,
    /// The header value: base64 of the payment's JSON.
    pub value: String,
}

/// Why a payment could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PaymentError {
    /// The requirement cannot be paid with EIP-3009.
    #[error("cannot pay accepts[{index}]")]
    Requirement {
        /// The option's index.
        index: usize,
        /// Why.
        source: CheckError,
    },
    /// The signer failed.
    #[error("the signer failed")]
    Signer(#[from] SignerError),
    /// The signer returned a signature that does not check against its own address: a
    /// misconfigured key, chain or token. Nothing was sent.
    #[error("the signer's signature does not check, nothing was sent")]
    BadSignature(#[source] CheckError),
    /// The signer's Permit2 signature does not check against its own address. Nothing was
    /// sent.
    #[error("the signer's Permit2 signature does not check, nothing was sent")]
    BadPermit(#[source] permit2::Permit2CheckError),
}

/// Signs the payment for `candidate` (chosen from `challenge`) at unix time `now`, as the
/// official clients fill it: `to = payTo`, `value = amount`, a random
/// 32-byte nonce, `validBefore = now + maxTimeoutSeconds`, and `validAfter = 0` (v2) or
/// `now - 600` (v1).
///
/// A v2 payment is `{x402Version, resource, accepted, payload, extensions?}` with `resource`,
/// `accepted` and `extensions` copied from the challenge's JSON exactly, except that a
/// [`payment-identifier`](crate::payment_identifier) declaration gets a fresh id in `info.id`. A v1 payment is
/// `{x402Version, scheme, network, payload}` with the seller's network name. The signature is
/// checked against the signer's address before the payment is returned.
pub async fn build_payment(
    challenge: &Challenge,
    candidate: &Candidate<'_>,
    signer: &dyn Signer,
    now: u64,
) -> Result<SignedPayment, PaymentError> {
    // One arm per transfer method the buyer signs (see `crate::mechanism`).
    let signed = match candidate.mechanism.transfer {
        Transfer::Eip3009 => {
            SchemePayload::ExactEvm(sign_eip3009(challenge, candidate, signer, now).await?)
        }
        Transfer::Permit2 => {
            let signed = sign_permit2(challenge, candidate, signer, now).await?;
            SchemePayload::Other(signed.to_object())
        }
    };
    Ok(match challenge {
        Challenge::V1(required) => v1_payment(&required.accepts[candidate.index], signed),
        Challenge::V2 { required, json } => v2_payment(required, json, candidate.index, signed),
    })
}

/// An EIP-3009 authorization for the candidate, signed and checked against the signer.
async fn sign_eip3009(
    challenge: &Challenge,
    candidate: &Candidate<'_>,
    signer: &dyn Signer,
    now: u64,
) -> Result<ExactEvmPayload, PaymentError> {
    let requirement = &candidate.requirement;
    let domain = requirement
        .domain()
        .map_err(|source| PaymentError::Requirement {
            index: candidate.index,
            source,
        })?;
    let valid_after = match challenge {
        Challenge::V1(_) => now.saturating_sub(V1_VALID_AFTER_LEEWAY_SECS),
        Challenge::V2 { .. } => 0,
    };
    let authorization = evm::authorization(
        signer.address(),
        requirement,
        U256::from(valid_after),
        now,
        B256::random(),
    );
    let digest = evm::eip712_digest(&domain, &authorization);
    let signature = signer
        .sign_authorization(AuthorizationToSign {
            domain,
            authorization: &authorization,
            digest,
        })
        .await?;
    let signed = ExactEvmPayload {
        signature,
        authorization,
    };
    evm::check_exact_evm(&signed, requirement, now, &CheckOptions::default())
        .map_err(PaymentError::BadSignature)?;
    Ok(signed)
}

/// A Permit2 permit for the candidate (`upto`: of the maximum, to the upto proxy, naming the
/// `facilitatorAddress` of the offer; `exact`: of the price, to the exact proxy), signed and
/// checked against the signer, as the official client fills it: a random uint256 nonce,
/// `deadline = now + maxTimeoutSeconds`, `validAfter = now - 600`.
async fn sign_permit2(
    challenge: &Challenge,
    candidate: &Candidate<'_>,
    signer: &dyn Signer,
    now: u64,
) -> Result<Permit2Payload, PaymentError> {
    let requirement = &candidate.requirement;
    let upto = candidate.mechanism.scheme == "upto";
    let facilitator = if upto {
        let extra = match challenge {
            Challenge::V2 { required, .. } => required.accepts[candidate.index].extra.as_ref(),
            Challenge::V1(required) => required.accepts[candidate.index].extra.as_ref(),
        };
        let address = extra
            .and_then(|e| e.get(crate::mechanism::FACILITATOR_ADDRESS_KEY)?.as_str())
            .and_then(|text| text.parse().ok())
            .ok_or(PaymentError::Requirement {
                index: candidate.index,
                source: CheckError::InvalidRequirement {
                    field: "extra.facilitatorAddress",
                    value: String::new(),
                    problem: "an upto requirement must name its facilitator",
                },
            })?;
        Some(address)
    } else {
        None
    };
    let terms = Permit2Terms {
        chain_id: requirement.chain_id,
        asset: requirement.asset,
        pay_to: requirement.pay_to,
        amount: requirement.amount,
        spender: if upto {
            permit2::UPTO_PERMIT2_PROXY
        } else {
            permit2::EXACT_PERMIT2_PROXY
        },
        facilitator,
    };
    let nonce = U256::from_be_bytes(B256::random().0);
    let permit = permit2::authorization_for(
        signer.address(),
        &terms,
        now,
        requirement.max_timeout_seconds,
        nonce,
    );
    let digest = permit2::eip712_digest(terms.chain_id, &permit);
    let signature = signer
        .sign_permit2(Permit2ToSign {
            chain_id: terms.chain_id,
            permit: &permit,
            digest,
        })
        .await?;
    let signed = Permit2Payload {
        signature,
        permit2_authorization: permit,
    };
    permit2::check_permit2(&signed, &terms, now, true).map_err(PaymentError::BadPermit)?;
    Ok(signed)
}

fn v1_payment(accepted: &v1::PaymentRequirements, signed: SchemePayload) -> SignedPayment {
    let payload = v1::PaymentPayload {
        x402_version: V1,
        scheme: accepted.scheme.clone(),
        network: accepted.network.clone(),
        payload: signed,
    };
    SignedPayment {
        value: codec::encode_header(&payload),
        payload: PaymentPayload::V1(payload),
        header: PaymentHeader::XPayment,
    }
}

/// A fresh `payment-identifier` id: `pay_` and 32 random hex digits (the reference client's
/// shape).
fn new_payment_id() -> PaymentId {
    let random = B256::random();
    PaymentId::parse(&format!(
        "pay_{}",
        alloy_primitives::hex::encode(&random[..16])
    ))
    .expect("pay_ and 32 hex digits is a valid id")
}

fn v2_payment(
    required: &v2::PaymentRequired,
    json: &Value,
    index: usize,
    signed: SchemePayload,
) -> SignedPayment {
    // The extensions echo the seller's; a `payment-identifier` declaration gets this purchase's
    // id (one per signed payment: its retries resend the same header, so the same id).
    let mut extensions = json.get("extensions").cloned();
    if let Some(Value::Object(declared)) = extensions.as_mut()
        && declared.contains_key(payment_identifier::PAYMENT_IDENTIFIER)
    {
        payment_identifier::append_id(declared, &new_payment_id());
    }
    let payload = v2::PaymentPayload {
        x402_version: V2,
        resource: Some(required.resource.clone()),
        accepted: required.accepts[index].clone(),
        payload: signed,
        extensions: extensions
            .as_ref()
            .and_then(Value::as_object)
            .cloned()
            .or_else(|| required.extensions.clone()),
    };
    // `accepted`, `resource` and `extensions` as received (key order is not meaningful in
    // x402 JSON, and serde_json's map sorts keys).
    let mut wire = Map::new();
    wire.insert("x402Version".to_owned(), Value::from(V2::NUMBER));
    wire.insert(
        "payload".to_owned(),
        serde_json::to_value(&payload.payload).unwrap_or(Value::Null),
    );
    for (key, value) in [
        ("resource", json.get("resource")),
        ("accepted", json.get("accepts").and_then(|a| a.get(index))),
        ("extensions", extensions.as_ref()),
    ] {
        if let Some(value) = value {
            wire.insert(key.to_owned(), value.clone());
        }
    }
    SignedPayment {
        value: codec::encode_header(&wire),
        payload: PaymentPayload::V2(payload),
        header: PaymentHeader::PaymentSignature,
    }
}

#[cfg(all(test, feature = "evm-signer"))]
mod tests {
    use alloy_signer_local::PrivateKeySigner;

    use super::*;
    use crate::{
        client::PaymentPolicy,
        codec::{DEFAULT_MAX_HEADER_BYTES, decode_payment},
        evm::check_payment,
        facilitator::Requirements,
    };

    const NOW: u64 = 1_795_346_121;
    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    fn signer() -> PrivateKeySigner {
        KEY.parse().unwrap()
    }

    fn v2_challenge(extra_field: bool) -> Challenge {
        let mut accepted = serde_json::json!({
            "scheme": "exact", "network": "eip155:84532", "amount": "1000",
            "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
            "maxTimeoutSeconds": 300,
            "extra": { "name": "USDC", "version": "2", "futureKey": [1, 2] }
        });
        if extra_field {
            accepted["futureField"] = Value::from("kept");
        }
        let header = codec::encode_header(&serde_json::json!({
            "x402Version": 2, "error": "Payment required",
            "resource": { "url": "http://127.0.0.1:4021/weather", "description": "", "mimeType": "" },
            "accepts": [accepted],
            "extensions": { "bazaar": { "info": { "input": { "type": "http" } } } }
        }));
        Challenge::from_header(header.as_bytes(), DEFAULT_MAX_HEADER_BYTES).unwrap()
    }

    async fn pay(challenge: &Challenge) -> SignedPayment {
        let candidate = PaymentPolicy::new().select(challenge).unwrap();
        build_payment(challenge, &candidate, &signer(), NOW)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_v2_payment_copies_accepted_resource_and_extensions_exactly() {
        let challenge = v2_challenge(true);
        let payment = pay(&challenge).await;
        assert_eq!(payment.header, PaymentHeader::PaymentSignature);
        let json: Value = codec::decode_header(payment.value.as_bytes(), usize::MAX).unwrap();
        let Challenge::V2 { json: sent, .. } = &challenge else {
            unreachable!()
        };
        assert_eq!(json["accepted"], sent["accepts"][0]);
        assert_eq!(json["accepted"]["futureField"], "kept");
        assert_eq!(json["resource"], sent["resource"]);
        assert_eq!(json["extensions"], sent["extensions"]);
        let authorization = &json["payload"]["authorization"];
        assert_eq!(authorization["validAfter"], "0");
        assert_eq!(authorization["validBefore"], (NOW + 300).to_string());
        assert_eq!(authorization["value"], "1000");
    }

    #[tokio::test]
    async fn a_declared_payment_identifier_gets_a_fresh_valid_id() {
        let declaration = payment_identifier::PaymentIdentifier::Required.declaration();
        let header = codec::encode_header(&serde_json::json!({
            "x402Version": 2,
            "resource": { "url": "http://127.0.0.1:4021/weather", "description": "", "mimeType": "" },
            "accepts": [{
                "scheme": "exact", "network": "eip155:84532", "amount": "1000",
                "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "maxTimeoutSeconds": 300,
                "extra": { "name": "USDC", "version": "2" }
            }],
            "extensions": { "payment-identifier": declaration.clone() }
        }));
        let challenge =
            Challenge::from_header(header.as_bytes(), DEFAULT_MAX_HEADER_BYTES).unwrap();
        let ids: Vec<PaymentId> = [pay(&challenge).await, pay(&challenge).await]
            .iter()
            .map(|payment| {
                let json: Value =
                    codec::decode_header(payment.value.as_bytes(), usize::MAX).unwrap();
                let echoed = &json["extensions"]["payment-identifier"];
                assert_eq!(echoed["schema"], declaration["schema"]);
                assert_eq!(echoed["info"]["required"], true);
                let PaymentPayload::V2(typed) = &payment.payload else {
                    panic!("a v2 payment")
                };
                let typed = payment_identifier::from_extensions(typed.extensions.as_ref());
                let id = payment_identifier::from_extensions(json["extensions"].as_object())
                    .unwrap()
                    .expect("an id");
                assert_eq!(typed, Ok(Some(id.clone())));
                assert!(
                    id.as_str().starts_with("pay_") && id.as_str().len() == 36,
                    "{id}"
                );
                id
            })
            .collect();
        assert_ne!(ids[0], ids[1], "one id per signed payment");
    }

    #[tokio::test]
    async fn a_v2_payment_passes_the_sellers_checks() {
        let challenge = v2_challenge(false);
        let payment = pay(&challenge).await;
        let decoded = decode_payment(
            PaymentHeader::PaymentSignature,
            payment.value.as_bytes(),
            DEFAULT_MAX_HEADER_BYTES,
        )
        .unwrap();
        let Challenge::V2 { required, .. } = &challenge else {
            unreachable!()
        };
        let verdict = check_payment(
            decoded.payload(),
            Requirements::V2(&required.accepts[0]),
            NOW,
            &CheckOptions::default(),
        )
        .unwrap();
        assert_eq!(verdict.payer, signer().address());
    }

    #[tokio::test]
    async fn two_payments_have_different_nonces() {
        let challenge = v2_challenge(false);
        let nonce = |payment: &SignedPayment| {
            payment
                .payload
                .scheme_payload()
                .as_exact_evm()
                .unwrap()
                .authorization
                .nonce
        };
        assert_ne!(nonce(&pay(&challenge).await), nonce(&pay(&challenge).await));
    }

    #[tokio::test]
    async fn a_v1_payment_goes_in_x_payment_with_the_v1_validity_window() {
        let body = br#"{"x402Version":1,"accepts":[{
            "scheme":"exact","network":"base-sepolia","maxAmountRequired":"1000",
            "resource":"http://127.0.0.1:4023/weather","description":"","mimeType":"",
            "payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,
            "asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            "extra":{"name":"USDC","version":"2"}}]}"#;
        let challenge = Challenge::from_v1_body(body).unwrap();
        let payment = pay(&challenge).await;
        assert_eq!(payment.header, PaymentHeader::XPayment);
        let decoded = decode_payment(
            PaymentHeader::XPayment,
            payment.value.as_bytes(),
            DEFAULT_MAX_HEADER_BYTES,
        )
        .unwrap();
        let PaymentPayload::V1(v1) = decoded.payload() else {
            panic!("not v1")
        };
        assert_eq!(v1.network, "base-sepolia");
        let authorization = &v1.payload.as_exact_evm().unwrap().authorization;
        assert_eq!(authorization.valid_after, U256::from(NOW - 600));
        assert_eq!(authorization.valid_before, U256::from(NOW + 60));
        let Challenge::V1(required) = &challenge else {
            unreachable!()
        };
        check_payment(
            decoded.payload(),
            Requirements::V1(&required.accepts[0]),
            NOW,
            &CheckOptions::default(),
        )
        .unwrap();
    }

    fn upto_challenge() -> Challenge {
        let header = codec::encode_header(&serde_json::json!({
            "x402Version": 2, "error": "Payment required",
            "resource": { "url": "http://127.0.0.1:4021/llm", "description": "", "mimeType": "" },
            "accepts": [{
                "scheme": "upto", "network": "eip155:84532", "amount": "10000",
                "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                "maxTimeoutSeconds": 300,
                "extra": { "name": "USDC", "version": "2", "assetTransferMethod": "permit2",
                           "facilitatorAddress": "0x1111111111111111111111111111111111111111" }
            }]
        }));
        Challenge::from_header(header.as_bytes(), DEFAULT_MAX_HEADER_BYTES).unwrap()
    }

    #[tokio::test]
    async fn an_upto_payment_is_a_permit_of_the_maximum_for_the_offered_facilitator() {
        let challenge = upto_challenge();
        let payment = pay(&challenge).await;
        let SchemePayload::Other(object) = payment.payload.scheme_payload() else {
            panic!("not a Permit2 payload")
        };
        let permit = Permit2Payload::from_object(object).unwrap();
        let auth = &permit.permit2_authorization;
        assert_eq!(auth.spender, permit2::UPTO_PERMIT2_PROXY);
        assert_eq!(auth.permitted.amount, U256::from(10_000));
        assert_eq!(
            auth.witness.facilitator,
            Some(alloy_primitives::Address::repeat_byte(0x11))
        );
        assert_eq!(auth.deadline, U256::from(NOW + 300));
        assert_eq!(auth.witness.valid_after, U256::from(NOW - 600));
        // It passes the seller's mechanism checks.
        let Challenge::V2 { required, .. } = &challenge else {
            unreachable!()
        };
        let terms = Permit2Terms {
            chain_id: 84_532,
            asset: required.accepts[0].asset.parse().unwrap(),
            pay_to: required.accepts[0].pay_to.parse().unwrap(),
            amount: U256::from(10_000),
            spender: permit2::UPTO_PERMIT2_PROXY,
            facilitator: Some(alloy_primitives::Address::repeat_byte(0x11)),
        };
        permit2::check_permit2(&permit, &terms, NOW, true).unwrap();
    }

    #[tokio::test]
    async fn an_upto_requirement_without_a_facilitator_cannot_be_paid() {
        let challenge = upto_challenge();
        let Challenge::V2 { mut required, json } = challenge else {
            unreachable!()
        };
        required.accepts[0]
            .extra
            .as_mut()
            .unwrap()
            .remove("facilitatorAddress");
        let challenge = Challenge::V2 { required, json };
        let candidate = PaymentPolicy::new().select(&challenge).unwrap();
        let error = build_payment(&challenge, &candidate, &signer(), NOW)
            .await
            .unwrap_err();
        assert!(matches!(error, PaymentError::Requirement { .. }), "{error}");
    }

    /// A signer that claims one address and signs with another key.
    #[derive(Debug)]
    struct Impostor(PrivateKeySigner);

    impl Signer for Impostor {
        fn address(&self) -> alloy_primitives::Address {
            alloy_primitives::Address::repeat_byte(7)
        }
        fn sign_authorization<'a>(
            &'a self,
            request: AuthorizationToSign<'a>,
        ) -> super::super::SignFuture<'a> {
            self.0.sign_authorization(request)
        }
    }

    #[tokio::test]
    async fn a_signature_from_the_wrong_key_is_caught_before_sending() {
        let challenge = v2_challenge(false);
        let candidate = PaymentPolicy::new().select(&challenge).unwrap();
        let error = build_payment(&challenge, &candidate, &Impostor(signer()), NOW)
            .await
            .unwrap_err();
        assert!(matches!(error, PaymentError::BadSignature(_)), "{error}");
    }
}
