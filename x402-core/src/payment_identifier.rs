//! The `payment-identifier` extension: an idempotency key the buyer puts in its payment
//! (`specs/extensions/payment_identifier.md` in the coinbase/x402 repository).
//!
//! A route declares it with `paymentIdentifier: optional` or `required` (on the `payment`
//! defaults or on the route). Its offer then carries the declaration the reference server sends
//! (`declarePaymentIdentifierExtension` of `@x402/extensions` 2.27), and the buyer echoes it
//! in `PaymentPayload.extensions` with `info.id`: 16 to 128 characters from `[A-Za-z0-9_-]`,
//! one id per purchase, reused on every retry of it.
//!
//! The buyer (`client`) puts a fresh id (`pay_` and 32 random hex digits) in every payment for
//! an offer that declares the extension ([`append_id`]); its retries resend the same header.
//!
//! The gate needs a [ledger](crate::ledger) to keep ids. With one, the id is reserved for the
//! payment carrying it when the payment is claimed, before `/verify`:
//!
//! | the request | answer |
//! |---|---|
//! | an id not seen on this route | processed; the id is bound to this payment |
//! | the same id, the same payment, the same request | a settled payment is served again with its receipt (no second settlement) |
//! | the same id with another payment | `409 payment_identifier_conflict`, unless the first one charged nothing (refused or released): then the id moves to the new payment |
//! | no id on a `required` route | `400 payment_identifier_required` |
//! | an id that is not a string of 16–128 `[A-Za-z0-9_-]` | `400 invalid_payment_identifier` |
//! | the ledger cannot answer | `503 ledger_unavailable` |
//!
//! ```
//! use x402_core::payment_identifier::{PaymentId, from_extensions};
//!
//! let extensions = serde_json::json!({
//!     "payment-identifier": {"info": {"required": false, "id": "pay_7d5d747be160e280504c099d984bcfe0"}}
//! });
//! let id = from_extensions(extensions.as_object()).unwrap().unwrap();
//! assert_eq!(id.as_str(), "pay_7d5d747be160e280504c099d984bcfe0");
//! assert!(PaymentId::parse("too-short").is_err());
//! ```

use std::fmt;

use serde_json::{Value, json};

use crate::wire::JsonObject;

/// The extension's key in `extensions`.
pub const PAYMENT_IDENTIFIER: &str = "payment-identifier";
/// The shortest id.
pub const MIN_LENGTH: usize = 16;
/// The longest id.
pub const MAX_LENGTH: usize = 128;

/// Whether a route's buyers must send an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PaymentIdentifier {
    /// Declared with `required: false`: an id is used when sent.
    Optional,
    /// Declared with `required: true`: a payment without an id is refused with 400.
    Required,
}

impl PaymentIdentifier {
    /// `optional` or `required`, as the route spec spells them.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Optional, Self::Required]
            .into_iter()
            .find(|value| value.as_str() == text)
    }

    /// `optional` or `required`, as [`PaymentIdentifier::parse`] reads them.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }

    /// Whether an id must be sent.
    pub const fn is_required(self) -> bool {
        matches!(self, Self::Required)
    }

    /// The declaration in `PaymentRequired.extensions`, as the reference server writes it.
    pub fn declaration(self) -> Value {
        json!({
            "info": {"required": self.is_required()},
            "schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "required": {"type": "boolean"},
                    "id": {
                        "type": "string",
                        "minLength": MIN_LENGTH,
                        "maxLength": MAX_LENGTH,
                        "pattern": "^[a-zA-Z0-9_-]+$",
                    },
                },
                "required": ["required"],
            },
        })
    }
}

/// A valid payment id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentId(Box<str>);

/// Why a payment id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaymentIdError {
    /// `info.id` is not a string.
    #[error("payment-identifier info.id is not a string")]
    NotAString,
    /// Too short or too long.
    #[error("payment-identifier info.id has {0} characters; 16 to 128 are allowed")]
    Length(usize),
    /// A character outside `[A-Za-z0-9_-]`.
    #[error("payment-identifier info.id has a character other than A-Z, a-z, 0-9, `_` and `-`")]
    Character,
}

impl PaymentId {
    /// Checks an id: 16 to 128 characters from `[A-Za-z0-9_-]`.
    pub fn parse(id: &str) -> Result<Self, PaymentIdError> {
        if !(MIN_LENGTH..=MAX_LENGTH).contains(&id.len()) {
            return Err(PaymentIdError::Length(id.chars().count()));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(PaymentIdError::Character);
        }
        Ok(Self(id.into()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id a payment's `extensions` carry (`extensions["payment-identifier"].info.id`), `None`
/// when it carries none.
pub fn from_extensions(
    extensions: Option<&JsonObject>,
) -> Result<Option<PaymentId>, PaymentIdError> {
    let id = extensions
        .and_then(|e| e.get(PAYMENT_IDENTIFIER))
        .and_then(|e| e.get("info"))
        .and_then(|info| info.get("id"));
    match id {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => PaymentId::parse(id).map(Some),
        Some(_) => Err(PaymentIdError::NotAString),
    }
}

/// Puts `id` in a `payment-identifier` declaration of `extensions` (as `info.id`), as a buyer
/// echoes it; `false` (and nothing changed) when the extensions declare none.
pub fn append_id(extensions: &mut JsonObject, id: &PaymentId) -> bool {
    let Some(Value::Object(declared)) = extensions.get_mut(PAYMENT_IDENTIFIER) else {
        return false;
    };
    let info = declared
        .entry("info")
        .or_insert_with(|| Value::Object(JsonObject::new()));
    if !info.is_object() {
        *info = Value::Object(JsonObject::new());
    }
    if let Value::Object(info) = info {
        info.insert("id".to_owned(), Value::String(id.as_str().to_owned()));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_16_to_128_characters_of_the_reference_alphabet() {
        assert!(PaymentId::parse(&"a".repeat(16)).is_ok());
        assert!(PaymentId::parse(&"Z9_-".repeat(32)).is_ok());
        assert_eq!(
            PaymentId::parse(&"a".repeat(15)),
            Err(PaymentIdError::Length(15))
        );
        assert_eq!(
            PaymentId::parse(&"a".repeat(129)),
            Err(PaymentIdError::Length(129))
        );
        assert_eq!(
            PaymentId::parse("pay_0123456789abcdef!"),
            Err(PaymentIdError::Character)
        );
        assert_eq!(
            PaymentId::parse("pay_0123456789abcdé"),
            Err(PaymentIdError::Character)
        );
    }

    #[test]
    fn the_id_is_read_from_info_id() {
        let read = |value: Value| from_extensions(value.as_object());
        assert_eq!(read(json!({})), Ok(None));
        assert_eq!(
            read(json!({"payment-identifier": {"info": {"required": true}}})),
            Ok(None)
        );
        assert_eq!(
            read(json!({"payment-identifier": {"info": {"id": 12}}})),
            Err(PaymentIdError::NotAString)
        );
        assert_eq!(
            read(json!({"payment-identifier": {"info": {"id": "pay_0123456789abcdef"}}}))
                .unwrap()
                .unwrap()
                .as_str(),
            "pay_0123456789abcdef"
        );
        assert_eq!(from_extensions(None), Ok(None));
    }

    #[test]
    fn an_id_is_appended_to_a_declaration_only() {
        let id = PaymentId::parse("pay_0123456789abcdef").unwrap();
        let mut declared = json!({"payment-identifier": PaymentIdentifier::Optional.declaration()});
        let declared = declared.as_object_mut().unwrap();
        assert!(append_id(declared, &id));
        assert_eq!(
            declared[PAYMENT_IDENTIFIER]["info"],
            json!({"required": false, "id": "pay_0123456789abcdef"})
        );
        assert_eq!(from_extensions(Some(declared)), Ok(Some(id.clone())));
        let mut other = json!({"bazaar": {}});
        assert!(!append_id(other.as_object_mut().unwrap(), &id));
        assert_eq!(other, json!({"bazaar": {}}));
    }

    #[test]
    fn the_declaration_is_the_reference_one() {
        // `declarePaymentIdentifierExtension(true)` of @x402/extensions 2.27, as JSON.
        let reference = r#"{"info":{"required":true},"schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"required":{"type":"boolean"},"id":{"type":"string","minLength":16,"maxLength":128,"pattern":"^[a-zA-Z0-9_-]+$"}},"required":["required"]}}"#;
        let reference: Value = serde_json::from_str(reference).unwrap();
        assert_eq!(PaymentIdentifier::Required.declaration(), reference);
        assert_eq!(
            PaymentIdentifier::Optional.declaration()["info"],
            json!({"required": false})
        );
    }
}
