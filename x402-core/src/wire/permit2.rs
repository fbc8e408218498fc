//! The EVM Permit2 payload (`exact` with `assetTransferMethod: "permit2"`, and `upto`): a
//! `PermitWitnessTransferFrom` signed for the canonical Permit2 contract, spent by an x402
//! proxy (`specs/schemes/exact/scheme_exact_evm.md` and `specs/schemes/upto/scheme_upto_evm.md`
//! in the coinbase/x402 repository).
//!
//! A scheme payload with a `permit2Authorization` key is a Permit2 payload (the official
//! facilitator routes on that key); it stays a [`SchemePayload::Other`](super::SchemePayload)
//! object on the wire types and is read with [`Permit2Payload::from_object`].

use alloy_primitives::{Address, Bytes, U256};
use serde::{Deserialize, Deserializer, Serialize, de};

use super::{JsonObject, decimal_u256};

/// The payload key that makes a scheme payload a Permit2 one.
pub const PERMIT2_AUTHORIZATION_KEY: &str = "permit2Authorization";

/// `{signature, permit2Authorization}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct Permit2Payload {
    /// The owner's signature over the EIP-712 `PermitWitnessTransferFrom` (65 bytes for an EOA).
    pub signature: Bytes,
    /// The signed permit, with the owner beside it.
    pub permit2_authorization: Permit2Authorization,
}

/// The permit of a Permit2 payload. `from` is not signed (Permit2 recovers the owner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct Permit2Authorization {
    /// The payer (the permit's owner).
    pub from: Address,
    /// The token and the amount permitted (for `upto`, the maximum).
    pub permitted: TokenPermissions,
    /// The contract allowed to spend the permit: the x402 exact or upto proxy.
    pub spender: Address,
    /// Permit2's unordered nonce: a decimal string on the wire (`0x` hex is accepted too).
    #[serde(
        deserialize_with = "decimal_or_hex_u256",
        serialize_with = "decimal_u256::serialize"
    )]
    pub nonce: U256,
    /// Unix seconds after which the permit cannot be used.
    #[serde(with = "decimal_u256")]
    pub deadline: U256,
    /// The x402 witness: recipient (and, for `upto`, the facilitator), and `validAfter`.
    pub witness: Permit2Witness,
}

/// `TokenPermissions(address token,uint256 amount)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct TokenPermissions {
    /// The token contract.
    pub token: Address,
    /// Atomic units, a decimal string on the wire.
    #[serde(with = "decimal_u256")]
    pub amount: U256,
}

/// The x402 witness: `Witness(address to,uint256 validAfter)` for `exact`,
/// `Witness(address to,address facilitator,uint256 validAfter)` for `upto`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct Permit2Witness {
    /// The recipient; must equal the requirement's `payTo`.
    pub to: Address,
    /// `upto` only: the facilitator allowed to settle (`extra.facilitatorAddress`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facilitator: Option<Address>,
    /// Unix seconds before which the permit cannot be used.
    #[serde(with = "decimal_u256")]
    pub valid_after: U256,
}

impl Permit2Payload {
    /// Whether a scheme payload object has the Permit2 shape (a `permit2Authorization` key).
    pub fn is_permit2(object: &JsonObject) -> bool {
        object.contains_key(PERMIT2_AUTHORIZATION_KEY)
    }

    /// Reads a Permit2 payload from a scheme payload object.
    pub fn from_object(object: &JsonObject) -> Result<Self, serde_json::Error> {
        Self::deserialize(serde_json::Value::Object(object.clone()))
    }

    /// The payload as a scheme payload object (for [`SchemePayload::Other`](super::SchemePayload)).
    pub fn to_object(&self) -> JsonObject {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(object)) => object,
            _ => JsonObject::new(),
        }
    }
}

fn decimal_or_hex_u256<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
    let text = String::deserialize(deserializer)?;
    let parsed = match text.strip_prefix("0x") {
        Some(hex)
            if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            U256::from_str_radix(hex, 16).ok()
        }
        Some(_) => None,
        None if !text.is_empty()
            && text.len() <= 78
            && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            U256::from_str_radix(&text, 10).ok()
        }
        None => None,
    };
    parsed.ok_or_else(|| {
        de::Error::custom(format_args!(
            "expected a uint256 as a decimal or 0x-hex string, found {:?}",
            super::Excerpt(&text)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: serde_json::Value) -> JsonObject {
        serde_json::from_value(value).unwrap()
    }

    fn sample(nonce: &str) -> serde_json::Value {
        serde_json::json!({
            "signature": "0x1234",
            "permit2Authorization": {
                "from": "0x857b06519E91e3A54538791bDbb0E22373e36b66",
                "permitted": {"token": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "amount": "10000"},
                "spender": "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002",
                "nonce": nonce,
                "deadline": "1740672154",
                "witness": {"to": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                            "facilitator": "0x1111111111111111111111111111111111111111",
                            "validAfter": "0"}
            }
        })
    }

    #[test]
    fn nonce_is_read_as_decimal_or_hex() {
        let decimal = Permit2Payload::from_object(&object(sample("255"))).unwrap();
        let hex = Permit2Payload::from_object(&object(sample("0xff"))).unwrap();
        assert_eq!(decimal.permit2_authorization.nonce, U256::from(255));
        assert_eq!(decimal, hex);
        // Written back as decimal, as the official client writes it.
        assert_eq!(
            decimal.to_object()["permit2Authorization"]["nonce"],
            serde_json::json!("255")
        );
        for bad in ["", "-1", "0x", "1e3", "0xzz"] {
            assert!(
                Permit2Payload::from_object(&object(sample(bad))).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn shape_is_told_by_the_permit2_authorization_key() {
        assert!(Permit2Payload::is_permit2(&object(sample("1"))));
        assert!(!Permit2Payload::is_permit2(&object(
            serde_json::json!({"signature": "0x12", "authorization": {}})
        )));
        let exact = object(serde_json::json!({
            "signature": "0x12",
            "permit2Authorization": {
                "from": "0x857b06519E91e3A54538791bDbb0E22373e36b66",
                "permitted": {"token": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "amount": "1"},
                "spender": "0x402085c248EeA27D92E8b30b2C58ed07f9E20001",
                "nonce": "1", "deadline": "2",
                "witness": {"to": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "validAfter": "0"}
            }
        }));
        let payload = Permit2Payload::from_object(&exact).unwrap();
        assert_eq!(payload.permit2_authorization.witness.facilitator, None);
    }
}
