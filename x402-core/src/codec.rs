//! Base64 header codecs. (Stub: being implemented.)
#![allow(missing_docs, unreachable_pub, clippy::todo)]

use serde::{Serialize, de::DeserializeOwned};
use serde_json::value::RawValue;

use crate::wire::{v1, v2};

pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";
pub const PAYMENT_SIGNATURE: &str = "PAYMENT-SIGNATURE";
pub const X_PAYMENT: &str = "X-PAYMENT";
pub const PAYMENT_RESPONSE: &str = "PAYMENT-RESPONSE";
pub const X_PAYMENT_RESPONSE: &str = "X-PAYMENT-RESPONSE";
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("todo")]
    Todo,
}

pub fn encode_header<T: Serialize + ?Sized>(_value: &T) -> String {
    todo!()
}
pub fn encode_json_bytes(_json: &[u8]) -> String {
    todo!()
}
pub fn decode_base64(_value: &[u8], _max_len: usize) -> Result<Vec<u8>, DecodeError> {
    todo!()
}
pub fn decode_header<T: DeserializeOwned>(
    _value: &[u8],
    _max_len: usize,
) -> Result<T, DecodeError> {
    todo!()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentHeader {
    PaymentSignature,
    XPayment,
}

#[derive(Debug, Clone)]
pub enum PaymentPayload {
    V1(v1::PaymentPayload),
    V2(v2::PaymentPayload),
}

#[derive(Debug)]
pub struct DecodedPayment {
    pub payload: PaymentPayload,
    pub json: Box<RawValue>,
}

pub fn decode_payment(
    _header: PaymentHeader,
    _value: &[u8],
    _max_len: usize,
) -> Result<DecodedPayment, DecodeError> {
    todo!()
}
