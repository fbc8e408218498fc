//! The payment header decoders: any bytes in `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1), and
//! the receipt and challenge decoders, either decode or return an error — never panic. A payment
//! that decodes keeps its JSON verbatim: re-encoding that JSON decodes to the same payment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::codec::{self, DEFAULT_MAX_HEADER_BYTES, PaymentHeader};

fuzz_target!(|data: &[u8]| {
    // The raw header value, and the same bytes as JSON behind valid base64.
    let encoded = codec::encode_json_bytes(data);
    for value in [data, encoded.as_bytes()] {
        for header in [PaymentHeader::PaymentSignature, PaymentHeader::XPayment] {
            if let Ok(decoded) = codec::decode_payment(header, value, DEFAULT_MAX_HEADER_BYTES) {
                let again = codec::encode_json_bytes(decoded.json().get().as_bytes());
                let redecoded =
                    codec::decode_payment(header, again.as_bytes(), DEFAULT_MAX_HEADER_BYTES)
                        .expect("a decoded payment's own JSON decodes again");
                assert_eq!(redecoded.json().get(), decoded.json().get());
            }
        }
        let _ = codec::decode_settle_response(value, DEFAULT_MAX_HEADER_BYTES);
        let _ = codec::decode_payment_required(value, DEFAULT_MAX_HEADER_BYTES);
    }
});
