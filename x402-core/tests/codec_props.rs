//! Properties of the header codecs: whatever the wire types hold survives encode → decode, and
//! no input, however long or malformed, makes a decoder panic, exceed its size bound, or produce
//! a long error message.

use alloy_primitives::{Address, B256, Bytes, U256};
use proptest::prelude::*;
use serde_json::Value;
use x402_core::codec::{self, DecodeError, PaymentHeader};
use x402_core::wire::{
    Eip3009Authorization, ExactEvmPayload, JsonObject, PaymentPayload, ResourceInfo, SchemePayload,
    SettleResponse, V1, V2, v1, v2,
};

/// A decoded payment is about 1 KiB; errors quote far less than any input here.
const MAX_MESSAGE_CHARS: usize = 300;

// ---- strategies ---------------------------------------------------------------------------------

/// Plain identifiers most of the time, arbitrary Unicode (quotes, control characters,
/// astral planes) otherwise, to exercise JSON escaping.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-zA-Z0-9:_./-]{0,24}", 1 => any::<String>()]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Keys of at most 8 letters, so never `authorization`: such an object stays `Other`.
fn json_object() -> impl Strategy<Value = JsonObject> {
    prop::collection::btree_map("[a-zA-Z]{1,8}", json_value(), 0..4)
        .prop_map(|map| map.into_iter().collect())
}

fn decimal() -> impl Strategy<Value = String> {
    "[0-9]{1,30}"
}

fn requirements_v2() -> impl Strategy<Value = v2::PaymentRequirements> {
    (
        text(),
        text(),
        decimal(),
        text(),
        text(),
        any::<u64>(),
        prop::option::of(json_object()),
    )
        .prop_map(
            |(scheme, network, amount, asset, pay_to, max_timeout_seconds, extra)| {
                v2::PaymentRequirements {
                    scheme,
                    network,
                    amount,
                    asset,
                    pay_to,
                    max_timeout_seconds,
                    extra,
                }
            },
        )
}

fn resource() -> impl Strategy<Value = ResourceInfo> {
    (
        text(),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(prop::collection::vec(text(), 0..5)),
        prop::option::of(text()),
    )
        .prop_map(
            |(url, description, mime_type, service_name, tags, icon_url)| ResourceInfo {
                url,
                description,
                mime_type,
                service_name,
                tags,
                icon_url,
            },
        )
}

fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        any::<u64>().prop_map(U256::from),
        any::<[u64; 4]>().prop_map(U256::from_limbs),
    ]
}

fn exact_evm() -> impl Strategy<Value = ExactEvmPayload> {
    (
        prop::collection::vec(any::<u8>(), 1..200),
        any::<[u8; 20]>(),
        any::<[u8; 20]>(),
        u256(),
        u256(),
        u256(),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(signature, from, to, value, valid_after, valid_before, nonce)| ExactEvmPayload {
                signature: Bytes::from(signature),
                authorization: Eip3009Authorization {
                    from: Address::from(from),
                    to: Address::from(to),
                    value,
                    valid_after,
                    valid_before,
                    nonce: B256::from(nonce),
                },
            },
        )
}

fn scheme_payload() -> impl Strategy<Value = SchemePayload> {
    prop_oneof![
        exact_evm().prop_map(SchemePayload::ExactEvm),
        json_object().prop_map(SchemePayload::Other),
    ]
}

fn payment_v2() -> impl Strategy<Value = v2::PaymentPayload> {
    (
        prop::option::of(resource()),
        requirements_v2(),
        scheme_payload(),
        prop::option::of(json_object()),
    )
        .prop_map(
            |(resource, accepted, payload, extensions)| v2::PaymentPayload {
                x402_version: V2,
                resource,
                accepted,
                payload,
                extensions,
            },
        )
}

fn payment_v1() -> impl Strategy<Value = v1::PaymentPayload> {
    (text(), text(), scheme_payload()).prop_map(|(scheme, network, payload)| v1::PaymentPayload {
        x402_version: V1,
        scheme,
        network,
        payload,
    })
}

fn payment_required_v2() -> impl Strategy<Value = v2::PaymentRequired> {
    (
        prop::option::of(text()),
        resource(),
        prop::collection::vec(requirements_v2(), 1..4),
        prop::option::of(json_object()),
    )
        .prop_map(
            |(error, resource, accepts, extensions)| v2::PaymentRequired {
                x402_version: V2,
                error,
                resource,
                accepts,
                extensions,
            },
        )
}

fn requirements_v1() -> impl Strategy<Value = v1::PaymentRequirements> {
    (
        (text(), text(), decimal(), text(), text(), text()),
        (
            prop::option::of(json_object()),
            text(),
            any::<u64>(),
            text(),
        ),
        prop::option::of(json_object()),
    )
        .prop_map(
            |(
                (scheme, network, max_amount_required, resource, description, mime_type),
                (output_schema, pay_to, max_timeout_seconds, asset),
                extra,
            )| v1::PaymentRequirements {
                scheme,
                network,
                max_amount_required,
                resource,
                description,
                mime_type,
                output_schema,
                pay_to,
                max_timeout_seconds,
                asset,
                extra,
            },
        )
}

fn payment_required_v1() -> impl Strategy<Value = v1::PaymentRequired> {
    (
        prop::option::of(text()),
        prop::collection::vec(requirements_v1(), 0..3),
        prop::option::of(text()),
    )
        .prop_map(|(error, accepts, payer)| v1::PaymentRequired {
            x402_version: V1,
            error,
            accepts,
            payer,
        })
}

fn settle_response() -> impl Strategy<Value = SettleResponse> {
    (
        (
            any::<bool>(),
            prop::option::of(text()),
            prop::option::of(text()),
        ),
        (
            prop::option::of(text()),
            text(),
            text(),
            prop::option::of(decimal()),
        ),
        (
            prop::option::of(json_object()),
            prop::option::of(json_object()),
        ),
    )
        .prop_map(
            |(
                (success, error_reason, error_message),
                (payer, transaction, network, amount),
                (extensions, extra),
            )| {
                let mut response = SettleResponse::success(transaction, network);
                response.success = success;
                response.error_reason = error_reason;
                response.error_message = error_message;
                response.payer = payer;
                response.amount = amount;
                response.extensions = extensions;
                response.extra = extra;
                response
            },
        )
}

/// A valid payment header's JSON with one stretch replaced by arbitrary text: mostly still
/// base64 of almost-JSON, which reaches the deepest parsing code.
fn mangled_payment_json() -> impl Strategy<Value = String> {
    (
        payment_v2(),
        any::<prop::sample::Index>(),
        0..8_usize,
        text(),
    )
        .prop_map(|(payment, at, len, replacement)| {
            let json = serde_json::to_string(&payment).unwrap();
            let chars: Vec<char> = json.chars().collect();
            let start = at.index(chars.len());
            let end = (start + len).min(chars.len());
            chars[..start]
                .iter()
                .chain(replacement.chars().collect::<Vec<_>>().iter())
                .chain(chars[end..].iter())
                .collect()
        })
}

// ---- helpers -------------------------------------------------------------------------------------

fn assert_short_message(error: &DecodeError) {
    let message = error.to_string();
    assert!(
        message.chars().count() < MAX_MESSAGE_CHARS,
        "{} chars: {message}",
        message.chars().count()
    );
}

/// Runs every decoder over `value` with `max_len` and checks the common contract.
fn check_all_decoders(value: &[u8], max_len: usize) {
    let results = [
        codec::decode_base64(value, max_len).map(drop),
        codec::decode_header::<Value>(value, max_len).map(drop),
        codec::decode_payment_required(value, max_len).map(drop),
        codec::decode_settle_response(value, max_len).map(drop),
        codec::decode_payment(PaymentHeader::PaymentSignature, value, max_len).map(drop),
        codec::decode_payment(PaymentHeader::XPayment, value, max_len).map(drop),
    ];
    for result in results {
        match result {
            Err(error) => {
                assert_short_message(&error);
                if value.is_empty() {
                    assert_eq!(error, DecodeError::Empty);
                } else if value.len() > max_len {
                    assert_eq!(
                        error,
                        DecodeError::TooLarge {
                            len: value.len(),
                            max: max_len
                        }
                    );
                }
            }
            Ok(()) => assert!(!value.is_empty() && value.len() <= max_len),
        }
    }
}

// ---- round trips -----------------------------------------------------------------------------------

proptest! {
    #[test]
    fn payment_required_survives_encode_then_decode(challenge in payment_required_v2()) {
        let header = codec::encode_header(&challenge);
        let back = codec::decode_payment_required(header.as_bytes(), usize::MAX).unwrap();
        prop_assert_eq!(back, challenge);
    }

    #[test]
    fn v1_payment_required_survives_encode_then_decode(body in payment_required_v1()) {
        let header = codec::encode_header(&body);
        let back: v1::PaymentRequired = codec::decode_header(header.as_bytes(), usize::MAX).unwrap();
        prop_assert_eq!(back, body);
    }

    #[test]
    fn settle_response_survives_encode_then_decode(receipt in settle_response()) {
        let header = codec::encode_header(&receipt);
        let back = codec::decode_settle_response(header.as_bytes(), usize::MAX).unwrap();
        prop_assert_eq!(back, receipt);
    }

    #[test]
    fn v2_payment_survives_encode_then_decode_with_its_json_kept(payment in payment_v2()) {
        let header = codec::encode_header(&payment);
        let decoded =
            codec::decode_payment(PaymentHeader::PaymentSignature, header.as_bytes(), usize::MAX)
                .unwrap();
        prop_assert_eq!(decoded.json().get(), serde_json::to_string(&payment).unwrap());
        prop_assert_eq!(decoded.header(), PaymentHeader::PaymentSignature);
        prop_assert_eq!(decoded.payload(), &PaymentPayload::V2(payment));
    }

    #[test]
    fn v1_payment_survives_encode_then_decode_with_its_json_kept(payment in payment_v1()) {
        let header = codec::encode_header(&payment);
        let decoded =
            codec::decode_payment(PaymentHeader::XPayment, header.as_bytes(), usize::MAX).unwrap();
        prop_assert_eq!(decoded.json().get(), serde_json::to_string(&payment).unwrap());
        prop_assert_eq!(decoded.payload(), &PaymentPayload::V1(payment));
    }

    #[test]
    fn a_payment_in_the_other_versions_header_is_a_version_mismatch(
        v2_payment in payment_v2(),
        v1_payment in payment_v1(),
    ) {
        let v2_header = codec::encode_header(&v2_payment);
        prop_assert_eq!(
            codec::decode_payment(PaymentHeader::XPayment, v2_header.as_bytes(), usize::MAX)
                .unwrap_err(),
            DecodeError::VersionMismatch { header: PaymentHeader::XPayment, found: 2 }
        );
        let v1_header = codec::encode_header(&v1_payment);
        prop_assert_eq!(
            codec::decode_payment(PaymentHeader::PaymentSignature, v1_header.as_bytes(), usize::MAX)
                .unwrap_err(),
            DecodeError::VersionMismatch { header: PaymentHeader::PaymentSignature, found: 1 }
        );
    }

    #[test]
    fn base64_round_trips_padded_and_unpadded(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let padded = codec::encode_json_bytes(&bytes);
        prop_assert!(padded.len().is_multiple_of(4));
        let unpadded = padded.trim_end_matches('=');
        for value in [padded.as_str(), unpadded] {
            match codec::decode_base64(value.as_bytes(), usize::MAX) {
                Ok(decoded) => prop_assert_eq!(&decoded, &bytes),
                Err(error) => {
                    prop_assert!(bytes.is_empty());
                    prop_assert_eq!(error, DecodeError::Empty);
                }
            }
        }
    }
}

// ---- robustness ----------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(
        value in prop::collection::vec(any::<u8>(), 0..3_000),
        max_len in 0..4_000_usize,
    ) {
        check_all_decoders(&value, max_len);
    }

    #[test]
    fn decoders_never_panic_on_long_inputs_and_keep_the_bound(
        value in prop::collection::vec(any::<u8>(), 16_000..40_000),
        max_len in prop_oneof![Just(codec::DEFAULT_MAX_HEADER_BYTES), 0..50_000_usize],
    ) {
        check_all_decoders(&value, max_len);
    }

    #[test]
    fn decoders_never_panic_on_base64_alphabet_text(value in "[A-Za-z0-9+/]{0,600}={0,3}") {
        check_all_decoders(value.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES);
    }

    #[test]
    fn decoders_never_panic_on_base64_of_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..2_000),
    ) {
        check_all_decoders(codec::encode_json_bytes(&bytes).as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES);
    }

    #[test]
    fn decoders_never_panic_on_base64_of_mangled_payments(json in mangled_payment_json()) {
        check_all_decoders(codec::encode_json_bytes(json.as_bytes()).as_bytes(), usize::MAX);
    }

    #[test]
    fn decoders_never_panic_on_base64_of_arbitrary_json(value in json_value()) {
        let json = serde_json::to_vec(&value).unwrap();
        check_all_decoders(codec::encode_json_bytes(&json).as_bytes(), usize::MAX);
    }
}
