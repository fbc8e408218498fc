//! x402 version 1: 402 JSON body, `X-PAYMENT` / `X-PAYMENT-RESPONSE`, legacy network names.

use serde::{Deserialize, Serialize};

use super::{JsonObject, SchemePayload, V1};

/// The 402 response body a v1 client reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct PaymentRequired {
    /// Always `1`.
    pub x402_version: V1,
    /// Why payment is required (`x402-express` sends `"X-PAYMENT header is required"`, or the
    /// reason a payment was refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The payment options.
    pub accepts: Vec<PaymentRequirements>,
    /// The payer, set by some v1 servers after a failed verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
}

/// One payment option of a v1 challenge. v1 clients validate it strictly: `network` must be a
/// known v1 name, `maxAmountRequired` an integer string, `resource` a URL and `mimeType` present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct PaymentRequirements {
    /// The scheme, `"exact"`.
    pub scheme: String,
    /// The v1 network name, e.g. `"base-sepolia"`.
    pub network: String,
    /// The price in atomic units, a decimal string.
    pub max_amount_required: String,
    /// The absolute URL of the resource.
    pub resource: String,
    /// What the resource is (may be `""`).
    #[serde(default)]
    pub description: String,
    /// The media type (may be `""`, but must be present for v1 clients).
    #[serde(default)]
    pub mime_type: String,
    /// Discovery information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<JsonObject>,
    /// The recipient address.
    pub pay_to: String,
    /// How long the authorization may stay valid, in seconds.
    pub max_timeout_seconds: u64,
    /// The token contract address.
    pub asset: String,
    /// Scheme-specific data; for EVM `exact` the EIP-712 domain `{name, version}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<JsonObject>,
}

/// A v1 payment, sent base64-encoded in the `X-PAYMENT` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct PaymentPayload {
    /// Always `1`.
    pub x402_version: V1,
    /// The scheme, `"exact"`.
    pub scheme: String,
    /// The v1 network name.
    pub network: String,
    /// The scheme-specific signed payload.
    pub payload: SchemePayload,
}
