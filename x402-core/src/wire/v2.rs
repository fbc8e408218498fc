//! x402 version 2: `PAYMENT-REQUIRED` / `PAYMENT-SIGNATURE` / `PAYMENT-RESPONSE`, CAIP-2 networks.

use serde::{Deserialize, Serialize};

use super::{JsonObject, ResourceInfo, SchemePayload, V2};

/// The 402 challenge, sent base64-encoded in the `PAYMENT-REQUIRED` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct PaymentRequired {
    /// Always `2`.
    pub x402_version: V2,
    /// Why payment is required (`"Payment required"`, or the reason a payment was refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The resource being paid for.
    pub resource: ResourceInfo,
    /// The payment options, most broadly payable first.
    pub accepts: Vec<PaymentRequirements>,
    /// Declared extensions (omitted when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<JsonObject>,
}

/// One payment option of a v2 challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct PaymentRequirements {
    /// The scheme, e.g. `"exact"`.
    pub scheme: String,
    /// The CAIP-2 network id, e.g. `"eip155:84532"`.
    pub network: String,
    /// The price in atomic units of `asset`, a decimal string.
    pub amount: String,
    /// The token contract address (EIP-55 checksummed for EVM).
    pub asset: String,
    /// The recipient address.
    pub pay_to: String,
    /// How long the payment authorization may stay valid, in seconds.
    pub max_timeout_seconds: u64,
    /// Scheme-specific data; for EVM `exact` the EIP-712 domain `{name, version}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<JsonObject>,
}

/// A payment, sent base64-encoded in the `PAYMENT-SIGNATURE` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct PaymentPayload {
    /// Always `2`.
    pub x402_version: V2,
    /// The resource, copied by the client from the challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInfo>,
    /// The chosen requirement, copied verbatim from the challenge's `accepts`.
    pub accepted: PaymentRequirements,
    /// The scheme-specific signed payload.
    pub payload: SchemePayload,
    /// Extensions echoed by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<JsonObject>,
}
