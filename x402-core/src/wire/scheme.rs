//! The scheme-specific `payload` of a payment, and the typed EVM `exact` (EIP-3009) payload.

use std::fmt;

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{
    Deserialize, Deserializer, Serialize,
    de::{self, IgnoredAny, MapAccess, Visitor},
};
use serde_json::Value;

use super::{Excerpt, JsonObject, decimal_u256};

/// The scheme-specific `payload` of a payment (a JSON object).
///
/// An object with an `authorization` key and no `permit2Authorization` key is an EIP-3009
/// payload: that is how the official EVM facilitator tells the two apart. Such an object must
/// parse as an [`ExactEvmPayload`], or deserialization fails with a message naming the bad field;
/// unknown keys beside `signature` and `authorization` are ignored, as the official SDK ignores
/// them. Every other object (Permit2, Solana, future schemes) is kept as [`SchemePayload::Other`].
/// A payload that is not an object is rejected.
///
/// Re-serializing an [`ExactEvmPayload`] writes addresses EIP-55 checksummed and hex in lower
/// case, and drops ignored keys. To forward a client's payment to a facilitator verbatim, keep
/// its JSON text (see [`crate::codec::DecodedPayment`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
#[serde(untagged)]
pub enum SchemePayload {
    /// `{ signature, authorization }`: an EIP-3009 `transferWithAuthorization`.
    ExactEvm(ExactEvmPayload),
    /// Any other payload, kept as a JSON object.
    Other(JsonObject),
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

impl<'de> Deserialize<'de> for SchemePayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Classified::deserialize(deserializer)? {
            Classified::Eip3009(fields) => fields.into_payload().map(Self::ExactEvm),
            Classified::Other(object) => Ok(Self::Other(object)),
            Classified::NotAnObject(value) => Err(de::Error::custom(format_args!(
                "expected the scheme payload to be a JSON object, found {}",
                json_kind(&value)
            ))),
        }
    }
}

/// How a scheme payload is told apart. `untagged` buffers the value once (borrowing strings
/// where the input allows), so the typed attempt costs no extra parse of the input text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Classified {
    Eip3009(Eip3009Fields),
    Other(JsonObject),
    NotAnObject(Value),
}

/// An object that has the EIP-3009 shape, with each typed field's outcome kept so that a
/// malformed authorization is reported instead of silently becoming [`SchemePayload::Other`].
///
/// Only ever deserialized from the buffered value inside [`Classified`], which is what makes
/// [`Captured`] sound: a failed field leaves no half-read input behind.
struct Eip3009Fields {
    signature: Option<Result<Bytes, String>>,
    authorization: Result<Eip3009Authorization, String>,
}

impl Eip3009Fields {
    fn into_payload<E: de::Error>(self) -> Result<ExactEvmPayload, E> {
        let signature = match self.signature {
            Some(Ok(signature)) => signature,
            Some(Err(message)) => {
                return Err(E::custom(format_args!("payload.signature: {message}")));
            }
            None => return Err(E::missing_field("signature")),
        };
        let authorization = self
            .authorization
            .map_err(|message| E::custom(format_args!("payload.authorization: {message}")))?;
        Ok(ExactEvmPayload {
            signature,
            authorization,
        })
    }
}

impl<'de> Deserialize<'de> for Eip3009Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;

        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Eip3009Fields;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an EIP-3009 payload object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Eip3009Fields, A::Error> {
                let mut signature = None;
                let mut authorization = None;
                let mut permit2 = false;
                // Duplicate keys: the last one wins, as with `JSON.parse` in the official SDK.
                while let Some(key) = map.next_key::<PayloadKey>()? {
                    match key {
                        PayloadKey::Signature => {
                            let Captured(value) = map.next_value::<Captured<HexSignature>>()?;
                            signature = Some(value.map(|HexSignature(bytes)| bytes));
                        }
                        PayloadKey::Authorization => {
                            let Captured(value) = map.next_value()?;
                            authorization = Some(value);
                        }
                        PayloadKey::Permit2Authorization => {
                            map.next_value::<IgnoredAny>()?;
                            permit2 = true;
                        }
                        PayloadKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                match authorization {
                    // Not EIP-3009 shaped: let `Classified` try the next variant.
                    None => Err(de::Error::custom("no `authorization`")),
                    Some(_) if permit2 => Err(de::Error::custom("a Permit2 payload")),
                    Some(authorization) => Ok(Eip3009Fields {
                        signature,
                        authorization,
                    }),
                }
            }
        }

        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// The fast path for the common payload: an EIP-3009 object read straight into its typed
/// fields, without [`Classified`]'s buffering.
///
/// It *fails* on anything else — a Permit2 or other payload, a missing or malformed field, not
/// an object — and the caller then parses with [`SchemePayload`], which decides what the
/// payload is and words the error. Where this succeeds, [`SchemePayload`] yields
/// `ExactEvm` of the same value: same keys, same field parsers, duplicate keys last-wins.
pub(crate) struct ExactEvmOnly(pub(crate) ExactEvmPayload);

impl<'de> Deserialize<'de> for ExactEvmOnly {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OnlyVisitor;

        impl<'de> Visitor<'de> for OnlyVisitor {
            type Value = ExactEvmOnly;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an EIP-3009 payload object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExactEvmOnly, A::Error> {
                let mut signature = None;
                let mut authorization = None;
                while let Some(key) = map.next_key::<PayloadKey>()? {
                    match key {
                        PayloadKey::Signature => {
                            let HexSignature(bytes) = map.next_value()?;
                            signature = Some(bytes);
                        }
                        PayloadKey::Authorization => authorization = Some(map.next_value()?),
                        PayloadKey::Permit2Authorization => {
                            return Err(de::Error::custom("a Permit2 payload"));
                        }
                        PayloadKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                match (signature, authorization) {
                    (Some(signature), Some(authorization)) => Ok(ExactEvmOnly(ExactEvmPayload {
                        signature,
                        authorization,
                    })),
                    _ => Err(de::Error::custom("not a complete EIP-3009 payload")),
                }
            }
        }

        deserializer.deserialize_map(OnlyVisitor)
    }
}

enum PayloadKey {
    Signature,
    Authorization,
    Permit2Authorization,
    Other,
}

impl<'de> Deserialize<'de> for PayloadKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl Visitor<'_> for KeyVisitor {
            type Value = PayloadKey;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<PayloadKey, E> {
                Ok(match key {
                    "signature" => PayloadKey::Signature,
                    "authorization" => PayloadKey::Authorization,
                    "permit2Authorization" => PayloadKey::Permit2Authorization,
                    _ => PayloadKey::Other,
                })
            }
        }

        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// A value whose deserialization error is kept as data instead of aborting the outer map.
struct Captured<T>(Result<T, String>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Captured<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(
            T::deserialize(deserializer).map_err(|error| error.to_string()),
        ))
    }
}

struct HexSignature(Bytes);

impl<'de> Deserialize<'de> for HexSignature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        hex_bytes::deserialize(deserializer).map(Self)
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The EVM `exact` payload: a signed EIP-3009 `TransferWithAuthorization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct ExactEvmPayload {
    /// The signature: 65 bytes `r‖s‖v` for an EOA, longer for smart wallets (ERC-1271/6492).
    /// `0x`-prefixed hex on the wire.
    #[serde(with = "hex_bytes")]
    pub signature: Bytes,
    /// The signed authorization.
    pub authorization: Eip3009Authorization,
}

/// The message of an EIP-3009 `TransferWithAuthorization`.
///
/// Addresses are read in any letter case (the official facilitator does not insist on the
/// EIP-55 checksum) and written checksummed, as the official clients write them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// Exhaustive on purpose: a protocol schema, built as a literal; it changes with the protocol.
pub struct Eip3009Authorization {
    /// The payer.
    #[serde(with = "hex_address")]
    pub from: Address,
    /// The recipient; must equal the requirement's `payTo`.
    #[serde(with = "hex_address")]
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
    /// 32 random bytes, `0x`-prefixed hex on the wire.
    #[serde(with = "hex_b256")]
    pub nonce: B256,
}

/// Strict `0x`-prefixed hex: the prefix is required, whitespace and odd lengths are not allowed
/// (alloy's own serde impls also take unprefixed hex and byte arrays, which no x402 SDK sends).
fn strip_hex_prefix(text: &str) -> Option<&str> {
    let digits = text.strip_prefix("0x")?;
    digits
        .bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then_some(digits)
}

struct HexVisitor<F> {
    expecting: &'static str,
    parse: F,
}

impl<T, F: FnOnce(&str) -> Option<T>> Visitor<'_> for HexVisitor<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        strip_hex_prefix(text).and_then(self.parse).ok_or_else(|| {
            E::custom(format_args!(
                "expected {}, found {:?}",
                self.expecting,
                Excerpt(text)
            ))
        })
    }
}

mod hex_address {
    use alloy_primitives::{Address, hex};
    use serde::{Deserializer, Serializer};

    use super::HexVisitor;

    pub(super) fn serialize<S: Serializer>(
        value: &Address,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.to_checksum_buffer(None).as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Address, D::Error> {
        deserializer.deserialize_str(HexVisitor {
            expecting: "a 0x-prefixed 20-byte hex address",
            parse: |digits: &str| {
                hex::decode_to_array::<_, 20>(digits)
                    .ok()
                    .map(Address::from)
            },
        })
    }
}

mod hex_b256 {
    use alloy_primitives::{B256, hex};
    use serde::{Deserializer, Serialize, Serializer};

    use super::HexVisitor;

    pub(super) fn serialize<S: Serializer>(value: &B256, serializer: S) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<B256, D::Error> {
        deserializer.deserialize_str(HexVisitor {
            expecting: "0x-prefixed hex of 32 bytes",
            parse: |digits: &str| hex::decode_to_array::<_, 32>(digits).ok().map(B256::from),
        })
    }
}

mod hex_bytes {
    use alloy_primitives::{Bytes, hex};
    use serde::{Deserializer, Serialize, Serializer};

    use super::HexVisitor;

    pub(super) fn serialize<S: Serializer>(
        value: &Bytes,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Bytes, D::Error> {
        deserializer.deserialize_str(HexVisitor {
            expecting: "non-empty 0x-prefixed hex bytes",
            parse: |digits: &str| {
                if digits.is_empty() {
                    return None;
                }
                hex::decode(digits).ok().map(Bytes::from)
            },
        })
    }
}
