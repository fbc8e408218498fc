//! Base64 header codecs for `PAYMENT-REQUIRED`, `PAYMENT-SIGNATURE`, `X-PAYMENT`,
//! `PAYMENT-RESPONSE` and `X-PAYMENT-RESPONSE`.
//!
//! Every x402 header value is a JSON object, UTF-8 encoded, then base64-encoded with the
//! standard alphabet (`+/`). This module writes padded base64, as every official SDK does, and
//! reads padded or unpadded base64 — what the official v2 server accepts. URL-safe base64 (`-`,
//! `_`), whitespace and anything else are refused, as the official server refuses them. The
//! length of a value is checked before it is decoded, and no input makes these functions panic.
//!
//! Errors are [`DecodeError`]s whose messages are short and safe to show the client: they
//! quote at most a few dozen characters of what the client sent.
//!
//! # Example
//!
//! ```
//! use x402_core::codec::{self, DEFAULT_MAX_HEADER_BYTES, DecodeError, PaymentHeader};
//! use x402_core::wire::{PaymentPayload, SettleResponse};
//!
//! // A v2 client's `PAYMENT-SIGNATURE` header (built here from JSON for brevity).
//! let header = codec::encode_json_bytes(br#"{"x402Version":2,"accepted":{"scheme":"exact",
//!     "network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e",
//!     "payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,
//!     "extra":{"name":"USDC","version":"2"}},"payload":{"transaction":"AQID"}}"#);
//!
//! let payment =
//!     codec::decode_payment(PaymentHeader::PaymentSignature, header.as_bytes(), DEFAULT_MAX_HEADER_BYTES)?;
//! assert_eq!(payment.payload().network(), "eip155:84532");
//! // The client's JSON, kept verbatim to forward to the facilitator.
//! assert!(payment.json().get().starts_with(r#"{"x402Version":2,"accepted""#));
//!
//! // The same payload in the v1 header is refused: the decoded x402Version is the authority.
//! let err = codec::decode_payment(PaymentHeader::XPayment, header.as_bytes(), DEFAULT_MAX_HEADER_BYTES)
//!     .unwrap_err();
//! assert!(matches!(err, DecodeError::VersionMismatch { header: PaymentHeader::XPayment, found: 2 }));
//!
//! // A settlement receipt for `PAYMENT-RESPONSE`, and back.
//! let mut receipt = SettleResponse::success(format!("0x{}", "ab".repeat(32)), "eip155:84532");
//! receipt.payer = Some("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".to_owned());
//! let value = codec::encode_header(&receipt);
//! let back = codec::decode_settle_response(value.as_bytes(), DEFAULT_MAX_HEADER_BYTES)?;
//! assert_eq!(back, receipt);
//! # Ok::<(), DecodeError>(())
//! ```

use std::{fmt, sync::OnceLock};

use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::value::RawValue;

use crate::wire::{
    ExactEvmOnly, Excerpt, JsonObject, PaymentPayload, ResourceInfo, SchemePayload, SettleResponse,
    V1, V2, v1, v2,
};

/// The v2 challenge header (server → client): base64 of a [`v2::PaymentRequired`].
pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";
/// The v2 payment header (client → server): base64 of a [`v2::PaymentPayload`].
pub const PAYMENT_SIGNATURE: &str = "PAYMENT-SIGNATURE";
/// The v1 payment header (client → server): base64 of a [`v1::PaymentPayload`].
pub const X_PAYMENT: &str = "X-PAYMENT";
/// The v2 settlement receipt header (server → client): base64 of a [`SettleResponse`].
pub const PAYMENT_RESPONSE: &str = "PAYMENT-RESPONSE";
/// The v1 settlement receipt header (server → client): base64 of a [`SettleResponse`].
pub const X_PAYMENT_RESPONSE: &str = "X-PAYMENT-RESPONSE";

/// The default bound on the length of an encoded header value, in bytes: 16 KiB.
///
/// An EOA payment is about 1.1 KiB of base64, and the official client's 402 challenge is
/// smaller still; smart-wallet (ERC-6492) signatures and echoed extensions add a few KiB at
/// most. 16 KiB is also Node.js's default limit for *all* request headers together, so no
/// payment that an official (Node) x402 server can receive is refused, while a client cannot
/// make the server base64-decode and parse more than this per request.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;

/// The longest part of a JSON parser message kept in a [`DecodeError`].
const MAX_MESSAGE_CHARS: usize = 160;

/// The header a payment arrived in; it fixes the protocol version the payment must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PaymentHeader {
    /// `PAYMENT-SIGNATURE`: an `x402Version: 2` payment.
    PaymentSignature,
    /// `X-PAYMENT`: an `x402Version: 1` payment.
    XPayment,
}

impl PaymentHeader {
    /// The header's name: [`PAYMENT_SIGNATURE`] or [`X_PAYMENT`].
    pub const fn name(self) -> &'static str {
        match self {
            Self::PaymentSignature => PAYMENT_SIGNATURE,
            Self::XPayment => X_PAYMENT,
        }
    }

    /// The `x402Version` a payment in this header must have: 2 or 1.
    pub const fn x402_version(self) -> u8 {
        match self {
            Self::PaymentSignature => V2::NUMBER,
            Self::XPayment => V1::NUMBER,
        }
    }

    /// The header the settlement receipt goes back in: [`PAYMENT_RESPONSE`] for a v2 payment,
    /// [`X_PAYMENT_RESPONSE`] for a v1 payment.
    pub const fn response_header(self) -> &'static str {
        match self {
            Self::PaymentSignature => PAYMENT_RESPONSE,
            Self::XPayment => X_PAYMENT_RESPONSE,
        }
    }
}

impl fmt::Display for PaymentHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a header value could not be decoded.
///
/// Every message is short and quotes at most a few dozen characters of the input, so it can be
/// sent back to the client (the server answers 402 with reason `invalid_payment_header`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The header value is empty.
    #[error("the header value is empty")]
    Empty,
    /// The header value is longer than allowed; it was not decoded.
    #[error("the header value is {len} bytes long, over the limit of {max} bytes")]
    TooLarge {
        /// The length of the value, in bytes.
        len: usize,
        /// The limit it exceeds.
        max: usize,
    },
    /// The header value is not standard base64.
    #[error("the header value is not standard base64: {fault} at position {position}")]
    InvalidBase64 {
        /// The offset of the fault in the header value (its length for a truncated value).
        position: usize,
        /// What is wrong there.
        fault: Base64Fault,
    },
    /// The decoded bytes are not JSON (or not UTF-8).
    #[error("the decoded header is not JSON: {message}")]
    NotJson {
        /// The parser's message, shortened.
        message: String,
    },
    /// The decoded JSON is valid but not an object.
    #[error("the decoded header is {found}, not a JSON object")]
    NotAnObject {
        /// What it is instead: `"an array"`, `"a string"`, `"a number"`, `"a boolean"`, `"null"`.
        found: &'static str,
    },
    /// The decoded JSON object does not have the expected fields or field types.
    #[error("the decoded header has the wrong shape: {message}")]
    InvalidShape {
        /// The deserializer's message (naming the field and what was expected), shortened.
        message: String,
    },
    /// The payment's `x402Version` is neither 1 nor 2.
    #[error("{header} expects x402Version {}, found unsupported x402Version {found}", header.x402_version())]
    UnsupportedVersion {
        /// The header the payment came in.
        header: PaymentHeader,
        /// The `x402Version` value as sent (JSON text, shortened).
        found: String,
    },
    /// The payment's `x402Version` belongs to the other payment header (a v1 payment in
    /// `PAYMENT-SIGNATURE`, or a v2 payment in `X-PAYMENT`).
    #[error(
        "{header} expects x402Version {}, but the payment has x402Version {found}",
        header.x402_version()
    )]
    VersionMismatch {
        /// The header the payment came in.
        header: PaymentHeader,
        /// The payment's `x402Version`.
        found: u8,
    },
}

/// What is wrong in a value that is not standard base64 (see [`DecodeError::InvalidBase64`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Base64Fault {
    /// A byte outside the standard alphabet: URL-safe `-` or `_`, whitespace, or anything else.
    InvalidByte(u8),
    /// `=` other than one or two at the end completing the last group of four symbols.
    InvalidPadding,
    /// The value ends with a lone symbol, which encodes no whole byte.
    Truncated,
    /// The last symbol carries bits that encode nothing: not a canonical encoding.
    NonCanonicalEnding,
}

impl fmt::Display for Base64Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::InvalidByte(byte) if byte.is_ascii_graphic() => {
                write!(
                    f,
                    "byte {:?} (0x{byte:02x}) is not in the standard alphabet",
                    char::from(byte)
                )
            }
            Self::InvalidByte(byte) => {
                write!(f, "byte 0x{byte:02x} is not in the standard alphabet")
            }
            Self::InvalidPadding => f.write_str("misplaced `=` padding"),
            Self::Truncated => f.write_str("a lone trailing symbol"),
            Self::NonCanonicalEnding => f.write_str("non-canonical last symbol"),
        }
    }
}

impl DecodeError {
    fn from_json(error: &serde_json::Error) -> Self {
        let message = client_safe_message(error);
        match error.classify() {
            serde_json::error::Category::Data => Self::InvalidShape { message },
            _ => Self::NotJson { message },
        }
    }
}

/// Encodes a value as a header: JSON, then standard base64 with `=` padding.
///
/// # Panics
///
/// If `T`'s `Serialize` implementation fails, which the [`crate::wire`] types never do (their
/// map keys are strings and they have no fallible fields).
pub fn encode_header<T: Serialize + ?Sized>(value: &T) -> String {
    // A receipt fits the first allocation; a payment or challenge grows it once or twice.
    let mut json = Vec::with_capacity(512);
    serde_json::to_writer(&mut json, value).expect("x402 wire types always serialize to JSON");
    encode_json_bytes(&json)
}

/// Encodes already-serialized JSON as a header value: standard base64 with `=` padding.
pub fn encode_json_bytes(json: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(json)
}

/// Decodes standard base64, padded or unpadded, of at most `max_len` bytes.
///
/// The length is checked first, so an oversized value costs nothing to refuse. Padding, if
/// present, must be the one or two `=` that complete the last group of four symbols.
pub fn decode_base64(value: &[u8], max_len: usize) -> Result<Vec<u8>, DecodeError> {
    decode_base64_with(value, max_len, true)
}

/// [`decode_base64`], trying the SIMD decoder first when `simd` (tests compare both ways).
fn decode_base64_with(value: &[u8], max_len: usize, simd: bool) -> Result<Vec<u8>, DecodeError> {
    if value.is_empty() {
        return Err(DecodeError::Empty);
    }
    if value.len() > max_len {
        return Err(DecodeError::TooLarge {
            len: value.len(),
            max: max_len,
        });
    }
    let symbols = strip_padding(value)?;
    let whole_bytes = symbols.len() / 4 * 3;
    let decoded_len = match symbols.len() % 4 {
        0 => whole_bytes,
        2 => whole_bytes + 1,
        3 => whole_bytes + 2,
        _ => {
            // A lone trailing symbol; report an earlier bad byte instead if there is one.
            let mut scratch = vec![0; whole_bytes + 2];
            let error = STANDARD_NO_PAD.decode_slice(symbols, &mut scratch).err();
            return Err(match error {
                Some(error) => base64_error(&error, symbols.len()),
                None => DecodeError::InvalidBase64 {
                    position: symbols.len(),
                    fault: Base64Fault::Truncated,
                },
            });
        }
    };
    // Exactly sized, so `RawValue::from_string` can take the buffer without copying it.
    let mut decoded = vec![0; decoded_len];
    // SIMD where the CPU has it (the same strict rules: standard alphabet, canonical trailing
    // bits); any error is worded by the scalar decoder below (position and fault).
    if simd
        && base64_simd::STANDARD_NO_PAD
            .decode(symbols, base64_simd::Out::from_slice(&mut decoded))
            .is_ok()
    {
        return Ok(decoded);
    }
    decode_symbols_scalar(symbols, decoded)
}

/// The scalar decoder of [`decode_base64`] into `decoded` (sized for `symbols`), which words
/// every error.
fn decode_symbols_scalar(symbols: &[u8], mut decoded: Vec<u8>) -> Result<Vec<u8>, DecodeError> {
    let decoded_len = decoded.len();
    match STANDARD_NO_PAD.decode_slice(symbols, &mut decoded) {
        Ok(written) if written == decoded_len => Ok(decoded),
        Ok(_) => Err(DecodeError::InvalidBase64 {
            position: symbols.len(),
            fault: Base64Fault::Truncated,
        }),
        Err(error) => Err(base64_error(&error, symbols.len())),
    }
}

/// The symbols before the padding, if the padding is well placed.
fn strip_padding(value: &[u8]) -> Result<&[u8], DecodeError> {
    let padding = value
        .iter()
        .rev()
        .take(3)
        .take_while(|&&byte| byte == b'=')
        .count();
    if padding == 0 {
        return Ok(value);
    }
    let symbols = value.len() - padding;
    if padding > 2 || !value.len().is_multiple_of(4) {
        return Err(DecodeError::InvalidBase64 {
            position: symbols,
            fault: Base64Fault::InvalidPadding,
        });
    }
    Ok(&value[..symbols])
}

fn base64_error(error: &base64::DecodeSliceError, len: usize) -> DecodeError {
    use base64::{DecodeError as E, DecodeSliceError};

    let (position, fault) = match *error {
        DecodeSliceError::DecodeError(E::InvalidByte(position, b'=')) => {
            (position, Base64Fault::InvalidPadding)
        }
        DecodeSliceError::DecodeError(E::InvalidByte(position, byte)) => {
            (position, Base64Fault::InvalidByte(byte))
        }
        DecodeSliceError::DecodeError(E::InvalidLastSymbol(position, _)) => {
            (position, Base64Fault::NonCanonicalEnding)
        }
        DecodeSliceError::DecodeError(E::InvalidPadding) => (len, Base64Fault::InvalidPadding),
        DecodeSliceError::DecodeError(E::InvalidLength(_))
        | DecodeSliceError::OutputSliceTooSmall => (len, Base64Fault::Truncated),
    };
    DecodeError::InvalidBase64 { position, fault }
}

/// Decodes a header value into `T`: base64 (see [`decode_base64`]), then a JSON object, then
/// `T`.
///
/// Every x402 header carries a JSON object, so any other JSON value is refused with
/// [`DecodeError::NotAnObject`] (this also stops serde from reading a struct from an array).
pub fn decode_header<T: DeserializeOwned>(value: &[u8], max_len: usize) -> Result<T, DecodeError> {
    let json = decode_base64(value, max_len)?;
    if first_json_byte(&json) != Some(b'{') {
        return Err(not_an_object(&json));
    }
    serde_json::from_slice(&json).map_err(|error| {
        // serde reports a wrong field before broken JSON further on; broken JSON is the news.
        match serde_json::from_slice::<serde::de::IgnoredAny>(&json) {
            Err(syntax) => DecodeError::from_json(&syntax),
            Ok(_) => DecodeError::from_json(&error),
        }
    })
}

/// Decodes a `PAYMENT-REQUIRED` header (a v2 challenge).
pub fn decode_payment_required(
    value: &[u8],
    max_len: usize,
) -> Result<v2::PaymentRequired, DecodeError> {
    decode_header(value, max_len)
}

/// Decodes a `PAYMENT-RESPONSE` or `X-PAYMENT-RESPONSE` header (a settlement receipt; both
/// versions share the shape).
pub fn decode_settle_response(value: &[u8], max_len: usize) -> Result<SettleResponse, DecodeError> {
    decode_header(value, max_len)
}

/// A decoded payment header: the typed payment and the client's JSON text.
///
/// The JSON is exactly what the client sent (a JSON object), so the server can forward it to
/// the facilitator as `paymentPayload` without re-serializing it: serializing a `&RawValue`
/// writes it verbatim.
#[derive(Debug, Clone)]
pub struct DecodedPayment {
    payload: PaymentPayload,
    /// The JSON object, whitespace around it trimmed. Always one valid JSON value: the typed
    /// parse (or the [`RawValue`] validation before it) read all of it.
    text: Box<str>,
    /// `text` as a [`RawValue`], built (and validated again) only when asked for: the gate
    /// forwards `text` and never needs it.
    raw: OnceLock<Box<RawValue>>,
}

impl DecodedPayment {
    fn new(payload: PaymentPayload, text: Box<str>) -> Self {
        Self {
            payload,
            text,
            raw: OnceLock::new(),
        }
    }

    /// The typed payment: [`PaymentPayload::V2`] from `PAYMENT-SIGNATURE`,
    /// [`PaymentPayload::V1`] from `X-PAYMENT`.
    pub fn payload(&self) -> &PaymentPayload {
        &self.payload
    }

    /// The decoded JSON object, verbatim (whitespace around it trimmed).
    pub fn json(&self) -> &RawValue {
        self.raw.get_or_init(|| raw_json(&self.text))
    }

    /// The same JSON as [`DecodedPayment::json`], as text, without building the [`RawValue`].
    pub fn json_text(&self) -> &str {
        &self.text
    }

    /// The header the payment came in, which follows from its version.
    pub fn header(&self) -> PaymentHeader {
        match self.payload {
            PaymentPayload::V1(_) => PaymentHeader::XPayment,
            PaymentPayload::V2(_) => PaymentHeader::PaymentSignature,
        }
    }

    /// The typed payment and the JSON text, by value.
    pub fn into_parts(self) -> (PaymentPayload, Box<RawValue>) {
        let raw = match self.raw.into_inner() {
            Some(raw) => raw,
            None => raw_json(&self.text),
        };
        (self.payload, raw)
    }
}

/// `text` as a [`RawValue`]; `text` is one valid JSON value (see [`DecodedPayment`]).
fn raw_json(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned())
        .expect("a decoded payment's JSON was fully parsed, so it is valid JSON")
}

/// Decodes a payment header: `PAYMENT-SIGNATURE` must carry an `x402Version: 2` payment and
/// `X-PAYMENT` an `x402Version: 1` payment.
///
/// The decoded `x402Version` is the authority: a v1 payment in `PAYMENT-SIGNATURE` (or a v2
/// payment in `X-PAYMENT`) is [`DecodeError::VersionMismatch`], any other version
/// [`DecodeError::UnsupportedVersion`]. The JSON is parsed without copying it: an EIP-3009
/// payment in one typed pass; anything else (and any error) validated as a [`RawValue`] first,
/// then parsed into the typed payment.
pub fn decode_payment(
    header: PaymentHeader,
    value: &[u8],
    max_len: usize,
) -> Result<DecodedPayment, DecodeError> {
    let bytes = decode_base64(value, max_len)?;
    let text = String::from_utf8(bytes).map_err(|error| DecodeError::NotJson {
        message: format!("invalid UTF-8 at byte {}", error.utf8_error().valid_up_to()),
    })?;
    if first_json_byte(text.as_bytes()) != Some(b'{') {
        return Err(not_an_object(text.as_bytes()));
    }
    if let Some(payload) = decode_exact_evm(header, &text) {
        // The typed parse read all of `text` as one JSON value: no validation pass needed.
        let trimmed = text.trim_matches([' ', '\t', '\n', '\r']);
        let text = if trimmed.len() == text.len() {
            text.into_boxed_str()
        } else {
            trimmed.into()
        };
        return Ok(DecodedPayment::new(payload, text));
    }
    let json = RawValue::from_string(text).map_err(|error| DecodeError::NotJson {
        message: client_safe_message(&error),
    })?;
    let typed = match header {
        PaymentHeader::PaymentSignature => {
            serde_json::from_str::<v2::PaymentPayload>(json.get()).map(PaymentPayload::V2)
        }
        PaymentHeader::XPayment => {
            serde_json::from_str::<v1::PaymentPayload>(json.get()).map(PaymentPayload::V1)
        }
    };
    match typed {
        Ok(payload) => Ok(DecodedPayment::new(payload, json.into())),
        Err(error) => Err(explain_payment_error(header, json.get(), &error)),
    }
}

/// The common payment, an EIP-3009 `exact` payload in the header's own version, parsed in one
/// pass without buffering the scheme payload (see [`ExactEvmOnly`]). `None` for anything else,
/// valid or not: [`decode_payment`] then takes the general path, which also words the errors.
///
/// The mirrors have the same fields and serde attributes as [`v2::PaymentPayload`] and
/// [`v1::PaymentPayload`], so where one parses, the real type parses to the same value.
fn decode_exact_evm(header: PaymentHeader, json: &str) -> Option<PaymentPayload> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct FastV2 {
        x402_version: V2,
        #[serde(default)]
        resource: Option<ResourceInfo>,
        accepted: v2::PaymentRequirements,
        payload: ExactEvmOnly,
        #[serde(default)]
        extensions: Option<JsonObject>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct FastV1 {
        x402_version: V1,
        scheme: String,
        network: String,
        payload: ExactEvmOnly,
    }

    match header {
        PaymentHeader::PaymentSignature => {
            let fast = serde_json::from_str::<FastV2>(json).ok()?;
            Some(PaymentPayload::V2(v2::PaymentPayload {
                x402_version: fast.x402_version,
                resource: fast.resource,
                accepted: fast.accepted,
                payload: SchemePayload::ExactEvm(fast.payload.0),
                extensions: fast.extensions,
            }))
        }
        PaymentHeader::XPayment => {
            let fast = serde_json::from_str::<FastV1>(json).ok()?;
            Some(PaymentPayload::V1(v1::PaymentPayload {
                x402_version: fast.x402_version,
                scheme: fast.scheme,
                network: fast.network,
                payload: SchemePayload::ExactEvm(fast.payload.0),
            }))
        }
    }
}

/// Turns a failed typed parse into the most precise error: a version problem takes precedence
/// over whatever field serde happened to trip on first.
fn explain_payment_error(
    header: PaymentHeader,
    json: &str,
    error: &serde_json::Error,
) -> DecodeError {
    #[derive(Deserialize)]
    struct VersionProbe<'a> {
        // Not a plain `Option`, which would read `"x402Version": null` as absent.
        #[serde(rename = "x402Version", borrow, default, deserialize_with = "present")]
        version: Option<&'a RawValue>,
    }

    fn present<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<&'de RawValue>, D::Error> {
        <&RawValue>::deserialize(deserializer).map(Some)
    }

    let Ok(probe) = serde_json::from_str::<VersionProbe<'_>>(json) else {
        return DecodeError::from_json(error);
    };
    let Some(raw) = probe.version else {
        return DecodeError::InvalidShape {
            message: "missing field `x402Version`".to_owned(),
        };
    };
    let number = serde_json::from_str::<serde_json::Number>(raw.get()).ok();
    let known = [V1::NUMBER, V2::NUMBER].into_iter().find(|&version| {
        number.as_ref().and_then(serde_json::Number::as_f64) == Some(f64::from(version))
    });
    match known {
        Some(found) if found == header.x402_version() => DecodeError::from_json(error),
        Some(found) => DecodeError::VersionMismatch { header, found },
        None => DecodeError::UnsupportedVersion {
            header,
            found: Excerpt(raw.get()).to_string(),
        },
    }
}

/// The first byte after JSON whitespace.
fn first_json_byte(json: &[u8]) -> Option<u8> {
    json.iter()
        .copied()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
}

/// The error for JSON that does not start with `{`: not JSON at all, or the wrong kind of value.
fn not_an_object(json: &[u8]) -> DecodeError {
    if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(json) {
        return DecodeError::NotJson {
            message: client_safe_message(&error),
        };
    }
    let found = match first_json_byte(json) {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    };
    DecodeError::NotAnObject { found }
}

/// serde_json's message, with the part that may quote the input cut to [`MAX_MESSAGE_CHARS`],
/// and its position kept.
fn client_safe_message(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let message = match full.strip_suffix(&position) {
        Some(message) if error.line() != 0 => message,
        _ => return shorten(&full, MAX_MESSAGE_CHARS),
    };
    let mut shortened = shorten(message, MAX_MESSAGE_CHARS);
    shortened.push_str(&position);
    shortened
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;

    use super::*;

    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// Base64 symbols with an occasional stray byte (padding in the middle, the URL-safe
    /// alphabet, whitespace, non-ASCII).
    fn near_base64() -> impl Strategy<Value = Vec<u8>> {
        let symbol = prop_oneof![
            40 => prop::sample::select(ALPHABET.to_vec()),
            1 => prop::sample::select(b"=-_ \n\0\xff".to_vec()),
        ];
        prop::collection::vec(symbol, 0..400)
    }

    /// Valid encodings (padded or not), some with one symbol changed.
    fn mostly_valid() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(any::<u8>(), 0..400),
            any::<bool>(),
            any::<Option<(prop::sample::Index, u8)>>(),
        )
            .prop_map(|(bytes, padded, change)| {
                let engine = if padded { STANDARD } else { STANDARD_NO_PAD };
                let mut text = engine.encode(bytes).into_bytes();
                if let Some((at, byte)) = change
                    && !text.is_empty()
                {
                    let at = at.index(text.len());
                    text[at] = byte;
                }
                text
            })
    }

    proptest! {
        #[test]
        fn simd_and_scalar_base64_decoding_agree(
            input in prop_oneof![near_base64(), mostly_valid()],
        ) {
            let simd = decode_base64_with(&input, usize::MAX, true);
            let scalar = decode_base64_with(&input, usize::MAX, false);
            prop_assert_eq!(format!("{simd:?}"), format!("{scalar:?}"));
        }
    }

    const ACCEPTED: &str = r#"{"scheme":"exact","network":"eip155:84532","amount":"1000",
        "asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60}"#;
    const AUTHORIZATION: &str = r#"{"from":"0x857b06519e91e3a54538791bdbb0e22373e36b66",
        "to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"1000","validAfter":"0",
        "validBefore":"1740672154",
        "nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}"#;

    /// The fast path either declines or agrees with the general parse, value for value.
    #[test]
    fn the_exact_evm_fast_path_declines_or_agrees_with_the_general_parse() {
        let payloads = [
            format!(r#"{{"signature":"0x2d6a","authorization":{AUTHORIZATION}}}"#),
            format!(r#"{{"authorization":{AUTHORIZATION},"signature":"0x2d6a","x":[1,{{}}]}}"#),
            format!(
                r#"{{"signature":"0x01","signature":"0x2d6a","authorization":{AUTHORIZATION}}}"#
            ),
            format!(r#"{{"signature":"zz","signature":"0x2d6a","authorization":{AUTHORIZATION}}}"#),
            format!(
                r#"{{"signature":"0x2d6a","authorization":{AUTHORIZATION},"permit2Authorization":{{}}}}"#
            ),
            format!(r#"{{"authorization":{AUTHORIZATION}}}"#),
            r#"{"signature":"0x2d6a","authorization":{"from":"0x12"}}"#.to_owned(),
            r#"{"transaction":"AQID"}"#.to_owned(),
            "[1,2]".to_owned(),
        ];
        let mut fast = 0;
        for payload in &payloads {
            let v2 = format!(r#"{{"x402Version":2,"accepted":{ACCEPTED},"payload":{payload}}}"#);
            let general = serde_json::from_str::<v2::PaymentPayload>(&v2).map(PaymentPayload::V2);
            if let Some(decoded) = decode_exact_evm(PaymentHeader::PaymentSignature, &v2) {
                fast += 1;
                assert_eq!(Some(&decoded), general.as_ref().ok(), "{payload}");
            }
            let v1 = format!(
                r#"{{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{payload}}}"#
            );
            let general = serde_json::from_str::<v1::PaymentPayload>(&v1).map(PaymentPayload::V1);
            if let Some(decoded) = decode_exact_evm(PaymentHeader::XPayment, &v1) {
                fast += 1;
                assert_eq!(Some(&decoded), general.as_ref().ok(), "{payload}");
            }
        }
        // The first three are EIP-3009 payloads the fast path takes, in both versions.
        assert_eq!(fast, 6);
    }

    /// Both paths keep the client's JSON verbatim, whitespace around it trimmed.
    #[test]
    fn both_paths_keep_the_json_verbatim_and_trimmed() {
        for payload in [
            format!(r#"{{"signature":"0x2d6a","authorization":{AUTHORIZATION}}}"#),
            r#"{"transaction":"AQID"}"#.to_owned(),
        ] {
            let json = format!(r#"{{"x402Version":2,"accepted":{ACCEPTED},"payload":{payload}}}"#);
            let header = encode_json_bytes(format!(" \n\t{json}\r\n ").as_bytes());
            let decoded = decode_payment(
                PaymentHeader::PaymentSignature,
                header.as_bytes(),
                DEFAULT_MAX_HEADER_BYTES,
            )
            .expect("decodes");
            assert_eq!(decoded.json_text(), json);
            assert_eq!(decoded.json().get(), json);
            assert_eq!(decoded.clone().into_parts().1.get(), json);
        }
    }
}
