//! The JSON types of the x402 protocol, v1 and v2.
//!
//! Field names and shapes follow the official SDKs (`@x402/*` 2.x and `x402` 1.x); see the
//! protocol reference for the sources. Token amounts and EVM integers are decimal strings on the
//! wire, `maxTimeoutSeconds` and `x402Version` are JSON numbers. Unknown fields are ignored on
//! input, as the official SDK's parsers ignore them.
//!
//! The version-specific types live in [`v1`] and [`v2`]; what both versions share (facilitator
//! responses, the EVM `exact` payload) is here.

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod v1;
pub mod v2;

mod version;
pub use version::{V1, V2};

/// A JSON object (`{...}`), as used for `extra`, `extensions` and `outputSchema`.
pub type JsonObject = Map<String, Value>;

/// The scheme-specific `payload` of a payment.
///
/// The EVM `exact` scheme with an EIP-3009 authorization is typed; any other payload (Permit2,
/// Solana, future schemes) is kept as raw JSON so it can be forwarded to a facilitator untouched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SchemePayload {
    /// `{ signature, authorization }`: an EIP-3009 `transferWithAuthorization`.
    ExactEvm(ExactEvmPayload),
    /// Any other payload, kept as JSON.
    Other(Value),
}

impl SchemePayload {
    /// The EIP-3009 payload, if this is one.
    pub fn as_exact_evm(&self) -> Option<&ExactEvmPayload> {
        match self {
            Self::ExactEvm(payload) => Some(payload),
            Self::Other(_) => None,
        }
    }
}

/// The EVM `exact` payload: a signed EIP-3009 `TransferWithAuthorization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExactEvmPayload {
    /// The signature: 65 bytes `r‖s‖v` for an EOA, longer for smart wallets (ERC-1271/6492).
    pub signature: Bytes,
    /// The signed authorization.
    pub authorization: Eip3009Authorization,
}

/// The message of an EIP-3009 `TransferWithAuthorization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Eip3009Authorization {
    /// The payer.
    pub from: Address,
    /// The recipient; must equal the requirement's `payTo`.
    pub to: Address,
    /// Atomic units, a decimal string on the wire.
    #[serde(with = "decimal_u256")]
    pub value: U256,
    /// Unix seconds, a decimal string on the wire.
    #[serde(with = "decimal_u256")]
    pub valid_after: U256,
    /// Unix seconds, a decimal string on the wire.
    #[serde(with = "decimal_u256")]
    pub valid_before: U256,
    /// 32 random bytes, `0x`-prefixed hex.
    pub nonce: B256,
}

/// The answer of a facilitator's `POST /verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The answer of a facilitator's `GET /supported`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// One entry of [`SupportedResponse::kinds`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The resource a payment is for (v2 `resource`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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

/// A decimal-string (de)serializer for `U256` (`"1000"`, never hex or a JSON number).
pub mod decimal_u256 {
    use alloy_primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serializes as a decimal string.
    pub fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Deserializes from a string of ASCII digits only.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(D::Error::custom(format_args!(
                "expected a decimal integer string, found {text:?}"
            )));
        }
        U256::from_str_radix(&text, 10)
            .map_err(|_| D::Error::custom(format_args!("{text:?} does not fit in 256 bits")))
    }
}
