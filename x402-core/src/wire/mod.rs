//! The JSON types of the x402 protocol, v1 and v2.
//!
//! Field names and shapes follow the official SDKs (`@x402/*` 2.x and `x402` 1.x); see the
//! protocol reference for the sources. Token amounts and EVM integers are decimal strings on the
//! wire, `maxTimeoutSeconds` and `x402Version` are JSON numbers. Unknown fields are ignored on
//! input, as the official SDK's parsers ignore them; `x402Version` must be the type's own number.
//!
//! The version-specific types live in [`v1`] and [`v2`]; what both versions share (facilitator
//! responses, the scheme payloads, [`PaymentPayload`] over both versions) is here. The base64
//! header encoding is in [`crate::codec`].
//!
//! # Example
//!
//! ```
//! use x402_core::wire::{SchemePayload, v2};
//!
//! let json = r#"{"x402Version":2,
//!   "accepted":{"scheme":"exact","network":"eip155:84532","amount":"10000",
//!     "asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e",
//!     "payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,
//!     "extra":{"name":"USDC","version":"2"}},
//!   "payload":{"signature":"0x2d6a","authorization":{
//!     "from":"0x857b06519e91e3a54538791bdbb0e22373e36b66",
//!     "to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"10000",
//!     "validAfter":"0","validBefore":"1740672154",
//!     "nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}}}"#;
//!
//! let payment: v2::PaymentPayload = serde_json::from_str(json).unwrap();
//! let SchemePayload::ExactEvm(evm) = &payment.payload else { panic!("not EIP-3009") };
//! assert_eq!(evm.authorization.value, alloy_primitives::U256::from(10_000));
//!
//! // Addresses are written back EIP-55 checksummed, as the official clients write them.
//! let back = serde_json::to_value(&payment).unwrap();
//! assert_eq!(back["payload"]["authorization"]["from"], "0x857b06519E91e3A54538791bDbb0E22373e36b66");
//!
//! // Only x402Version 2 is a v2 payload.
//! let v1 = json.replacen(r#""x402Version":2"#, r#""x402Version":1"#, 1);
//! let err = serde_json::from_str::<v2::PaymentPayload>(&v1).unwrap_err();
//! assert!(err.to_string().contains("expected x402Version 2, found 1"));
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};
use serde_json::{Map, Value};

pub mod v1;
pub mod v2;

mod permit2;
mod scheme;
mod version;
pub use permit2::{
    PERMIT2_AUTHORIZATION_KEY, Permit2Authorization, Permit2Payload, Permit2Witness,
    TokenPermissions,
};
pub(crate) use scheme::ExactEvmOnly;
pub use scheme::{Eip3009Authorization, ExactEvmPayload, SchemePayload};
pub use version::{V1, V2};

/// The requirement a payment is checked against: the server's own copy, never the client's.
#[derive(Debug, Clone, Copy)]
// Exhaustive on purpose: one variant per protocol version; a new one should break matches.
pub enum Requirements<'a> {
    /// A v2 requirement.
    V2(&'a v2::PaymentRequirements),
    /// A v1 requirement (with its `resource` URL).
    V1(&'a v1::PaymentRequirements),
}

/// A JSON object (`{...}`), as used for `extra`, `extensions` and `outputSchema`.
pub type JsonObject = Map<String, Value>;

/// A payment of either protocol version: what `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1)
/// carries, and the `paymentPayload` of a facilitator request.
///
/// Serializes as the inner payload. Deserializing dispatches on `x402Version` (1 or 2); to decode
/// a payment header, use [`crate::codec::decode_payment`], which also checks the header/version
/// pairing and keeps the client's JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[expect(
    clippy::large_enum_variant,
    reason = "v2 is the common case; boxing it would add an allocation to every paid request"
)]
// Exhaustive on purpose: one variant per protocol version; a new one should break matches.
pub enum PaymentPayload {
    /// An `x402Version: 1` payment (`X-PAYMENT`).
    V1(v1::PaymentPayload),
    /// An `x402Version: 2` payment (`PAYMENT-SIGNATURE`).
    V2(v2::PaymentPayload),
}

impl PaymentPayload {
    /// The protocol version, `1` or `2`.
    pub fn x402_version(&self) -> u8 {
        match self {
            Self::V1(_) => V1::NUMBER,
            Self::V2(_) => V2::NUMBER,
        }
    }

    /// The scheme the client paid with (v1 `scheme`, v2 `accepted.scheme`).
    pub fn scheme(&self) -> &str {
        match self {
            Self::V1(payment) => &payment.scheme,
            Self::V2(payment) => &payment.accepted.scheme,
        }
    }

    /// The network the client paid on: a v1 name (`base-sepolia`) or a CAIP-2 id (v2).
    pub fn network(&self) -> &str {
        match self {
            Self::V1(payment) => &payment.network,
            Self::V2(payment) => &payment.accepted.network,
        }
    }

    /// The scheme-specific signed payload.
    pub fn scheme_payload(&self) -> &SchemePayload {
        match self {
            Self::V1(payment) => &payment.payload,
            Self::V2(payment) => &payment.payload,
        }
    }
}

impl<'de> Deserialize<'de> for PaymentPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Not on the request path (headers go through `codec::decode_payment`), so buffering
        // into a `Value` to read the version first is fine here.
        let value = Value::deserialize(deserializer)?;
        let Value::Object(object) = &value else {
            return Err(D::Error::custom("expected a payment payload object"));
        };
        let version = object
            .get("x402Version")
            .ok_or_else(|| D::Error::missing_field("x402Version"))?;
        // As in `V1`/`V2`: an integral float is the same JSON number to the official SDK.
        let number = version.as_f64();
        let parsed = if number == Some(f64::from(V1::NUMBER)) {
            v1::PaymentPayload::deserialize(value).map(Self::V1)
        } else if number == Some(f64::from(V2::NUMBER)) {
            v2::PaymentPayload::deserialize(value).map(Self::V2)
        } else {
            return Err(D::Error::custom(format_args!(
                "unsupported x402Version {} (expected 1 or 2)",
                Excerpt(&version.to_string())
            )));
        };
        parsed.map_err(D::Error::custom)
    }
}

/// The answer of a facilitator's `POST /verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// Whether the payment is valid.
    pub is_valid: bool,
    /// A machine-readable reason when invalid (opaque; strings differ between facilitators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    /// A human-readable message when invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    /// The payer's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// Extension data (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<JsonObject>,
    /// Scheme-specific data (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<JsonObject>,
}

/// The answer of a facilitator's `POST /settle`; also the receipt sent to the client in
/// `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    /// Whether the payment settled.
    pub success: bool,
    /// A machine-readable reason on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// A human-readable message on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The payer's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// The transaction hash; `""` when nothing was sent.
    #[serde(default)]
    pub transaction: String,
    /// The network, as a v1 name or CAIP-2 id (whatever the payment used).
    #[serde(default)]
    pub network: String,
    /// The amount actually settled, in atomic units (v2, optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Extension data (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<JsonObject>,
    /// Scheme-specific data (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<JsonObject>,
}

impl VerifyResponse {
    /// A valid payment from `payer`.
    pub fn valid(payer: Option<String>) -> Self {
        Self {
            is_valid: true,
            invalid_reason: None,
            invalid_message: None,
            payer,
            extensions: None,
            extra: None,
        }
    }

    /// An invalid payment, for `reason`.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self {
            is_valid: false,
            invalid_reason: Some(reason.into()),
            ..Self::valid(None)
        }
    }
}

impl SettleResponse {
    /// A successful settlement in `transaction` on `network`.
    pub fn success(transaction: impl Into<String>, network: impl Into<String>) -> Self {
        Self {
            success: true,
            error_reason: None,
            error_message: None,
            payer: None,
            transaction: transaction.into(),
            network: network.into(),
            amount: None,
            extensions: None,
            extra: None,
        }
    }

    /// A failed settlement on `network`, for `reason` (`transaction` empty).
    pub fn failure(reason: impl Into<String>, network: impl Into<String>) -> Self {
        Self {
            success: false,
            error_reason: Some(reason.into()),
            ..Self::success(String::new(), network)
        }
    }
}

/// The answer of a facilitator's `GET /supported`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub struct SupportedResponse {
    /// The `(x402Version, scheme, network)` combinations the facilitator handles.
    pub kinds: Vec<SupportedKind>,
    /// Extension names (v2); empty when absent.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Signer addresses by CAIP-2 pattern (v2); empty when absent.
    #[serde(default)]
    pub signers: Map<String, Value>,
}

impl SupportedResponse {
    /// A facilitator that handles `kinds`, with no extensions and no signers.
    pub fn new(kinds: Vec<SupportedKind>) -> Self {
        Self {
            kinds,
            extensions: Vec::new(),
            signers: Map::new(),
        }
    }
}

/// One entry of [`SupportedResponse::kinds`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    /// `1` or `2`.
    pub x402_version: u8,
    /// The scheme, e.g. `"exact"`.
    pub scheme: String,
    /// A v1 network name (v1 kinds) or a CAIP-2 id (v2 kinds).
    pub network: String,
    /// Scheme-specific data, e.g. Solana's `feePayer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<JsonObject>,
}

impl SupportedKind {
    /// `scheme` on `network` for `x402_version` payments, with no `extra`.
    pub fn new(x402_version: u8, scheme: impl Into<String>, network: impl Into<String>) -> Self {
        Self {
            x402_version,
            scheme: scheme.into(),
            network: network.into(),
            extra: None,
        }
    }
}

/// The resource a payment is for (v2 `resource`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct ResourceInfo {
    /// The absolute URL of the resource.
    pub url: String,
    /// What the resource is (the official server always sends it, `""` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The media type of the resource (the official server always sends it, `""` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// A short service name (2.x addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Up to five tags (2.x addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// An icon URL (2.x addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
}

/// A decimal-string (de)serializer for `U256` (`"1000"`, never hex or a JSON number), for use
/// with `#[serde(with = "x402_core::wire::decimal_u256")]`.
pub mod decimal_u256 {
    use std::fmt;

    use alloy_primitives::U256;
    use serde::{Deserializer, Serializer, de};

    use super::Excerpt;

    /// The longest decimal `U256` (`2^256 - 1` has 78 digits); leading zeros beyond it are refused.
    const MAX_DIGITS: usize = 78;

    /// Serializes as a decimal string.
    pub fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Deserializes from a string of ASCII digits only (no sign, no whitespace, no exponent).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
        deserializer.deserialize_str(DecimalVisitor)
    }

    struct DecimalVisitor;

    impl de::Visitor<'_> for DecimalVisitor {
        type Value = U256;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a decimal integer string")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<U256, E> {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::custom(format_args!(
                    "expected a decimal integer string, found {:?}",
                    Excerpt(text)
                )));
            }
            if text.len() > MAX_DIGITS {
                return Err(E::custom(format_args!(
                    "decimal integer string of {} digits does not fit in 256 bits",
                    text.len()
                )));
            }
            // Amounts and timestamps fit in a u64, which parses several times faster than
            // ruint's generic radix parser; 19 digits cannot overflow a u64.
            if text.len() <= 19
                && let Ok(small) = text.parse::<u64>()
            {
                return Ok(U256::from(small));
            }
            U256::from_str_radix(text, 10).map_err(|_| {
                E::custom(format_args!("{:?} does not fit in 256 bits", Excerpt(text)))
            })
        }
    }
}

/// At most the first [`Excerpt::MAX_CHARS`] characters of a string, then `…`: request-derived
/// text quoted in an error message stays short, because the message may be shown to the client.
#[derive(Clone, Copy)]
pub(crate) struct Excerpt<'a>(pub(crate) &'a str);

impl Excerpt<'_> {
    pub(crate) const MAX_CHARS: usize = 48;
}

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(Self::MAX_CHARS) {
            Some((end, _)) => write!(f, "{}…", &self.0[..end]),
            None => f.write_str(self.0),
        }
    }
}

impl fmt::Debug for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(Self::MAX_CHARS) {
            Some((end, _)) => write!(f, "{:?}…", &self.0[..end]),
            None => write!(f, "{:?}", self.0),
        }
    }
}
