//! The x402 protocol reference's §12 test vectors (and the §3 examples), decoded from their exact
//! text, typed, re-encoded and compared as JSON values; and every way a header can be refused.

use alloy_primitives::{Address, B256, U256, address, b256};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use x402_core::codec::{
    self, Base64Fault, DEFAULT_MAX_HEADER_BYTES, DecodeError, DecodedPayment, PaymentHeader,
};
use x402_core::wire::{
    PaymentPayload, SchemePayload, SettleResponse, SupportedResponse, V1, V2, VerifyResponse, v1,
    v2,
};

const MAX: usize = DEFAULT_MAX_HEADER_BYTES;

// Verbatim from x402-protocol.md §12 (header values without the header name).
const SPEC_V2_PAYMENT_JSON: &str = r#"{"x402Version":2,"resource":{"url":"https://api.example.com/premium-data","description":"Access to premium market data","mimeType":"application/json"},"accepted":{"scheme":"exact","network":"eip155:84532","amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}},"payload":{"signature":"0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c","authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"10000","validAfter":"1740672089","validBefore":"1740672154","nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}}}"#;
const SPEC_V2_PAYMENT_SIGNATURE: &str = r#"eyJ4NDAyVmVyc2lvbiI6MiwicmVzb3VyY2UiOnsidXJsIjoiaHR0cHM6Ly9hcGkuZXhhbXBsZS5jb20vcHJlbWl1bS1kYXRhIiwiZGVzY3JpcHRpb24iOiJBY2Nlc3MgdG8gcHJlbWl1bSBtYXJrZXQgZGF0YSIsIm1pbWVUeXBlIjoiYXBwbGljYXRpb24vanNvbiJ9LCJhY2NlcHRlZCI6eyJzY2hlbWUiOiJleGFjdCIsIm5ldHdvcmsiOiJlaXAxNTU6ODQ1MzIiLCJhbW91bnQiOiIxMDAwMCIsImFzc2V0IjoiMHgwMzZDYkQ1Mzg0MmM1NDI2NjM0ZTc5Mjk1NDFlQzIzMThmM2RDRjdlIiwicGF5VG8iOiIweDIwOTY5M0JjNmFmYzBDNTMyOGJBMzZGYUYwM0M1MTRFRjMxMjI4N0MiLCJtYXhUaW1lb3V0U2Vjb25kcyI6NjAsImV4dHJhIjp7Im5hbWUiOiJVU0RDIiwidmVyc2lvbiI6IjIifX0sInBheWxvYWQiOnsic2lnbmF0dXJlIjoiMHgyZDZhNzU4OGQ2YWNjYTUwNWNiZjBkOWE0YTIyN2UwYzUyYzZjMzQwMDhjOGU4OTg2YTEyODMyNTk3NjQxNzM2MDhhMmNlNjQ5NjY0MmUzNzdkNmRhOGRiYmY1ODM2ZTliZDE1MDkyZjllY2FiMDVkZWQzZDYyOTNhZjE0OGI1NzFjIiwiYXV0aG9yaXphdGlvbiI6eyJmcm9tIjoiMHg4NTdiMDY1MTlFOTFlM0E1NDUzODc5MWJEYmIwRTIyMzczZTM2YjY2IiwidG8iOiIweDIwOTY5M0JjNmFmYzBDNTMyOGJBMzZGYUYwM0M1MTRFRjMxMjI4N0MiLCJ2YWx1ZSI6IjEwMDAwIiwidmFsaWRBZnRlciI6IjE3NDA2NzIwODkiLCJ2YWxpZEJlZm9yZSI6IjE3NDA2NzIxNTQiLCJub25jZSI6IjB4ZjM3NDY2MTNjMmQ5MjBiNWZkYWJjMDg1NmYyYWViMmQ0Zjg4ZWU2MDM3YjhjYzVkMDRhNzFhNDQ2MmYxMzQ4MCJ9fX0="#;
const SPEC_V1_PAYMENT_JSON: &str = r#"{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{"signature":"0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c","authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"10000","validAfter":"1740672089","validBefore":"1740672154","nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}}}"#;
const SDK_PAYMENT_REQUIRED: &str = r#"eyJ4NDAyVmVyc2lvbiI6MiwiZXJyb3IiOiJQYXltZW50IHJlcXVpcmVkIiwicmVzb3VyY2UiOnsidXJsIjoiaHR0cDovLzEyNy4wLjAuMTo0MDIxL3dlYXRoZXI/Y2l0eT1TRiIsImRlc2NyaXB0aW9uIjoiV2VhdGhlciBkYXRhIiwibWltZVR5cGUiOiJhcHBsaWNhdGlvbi9qc29uIn0sImFjY2VwdHMiOlt7InNjaGVtZSI6ImV4YWN0IiwibmV0d29yayI6ImVpcDE1NTo4NDUzMiIsImFtb3VudCI6IjEwMDAiLCJhc3NldCI6IjB4MDM2Q2JENTM4NDJjNTQyNjYzNGU3OTI5NTQxZUMyMzE4ZjNkQ0Y3ZSIsInBheVRvIjoiMHgyMDk2OTNCYzZhZmMwQzUzMjhiQTM2RmFGMDNDNTE0RUYzMTIyODdDIiwibWF4VGltZW91dFNlY29uZHMiOjMwMCwiZXh0cmEiOnsibmFtZSI6IlVTREMiLCJ2ZXJzaW9uIjoiMiJ9fV19"#;
const SDK_PAYMENT_REQUIRED_JSON: &str = r#"{"x402Version":2,"error":"Payment required","resource":{"url":"http://127.0.0.1:4021/weather?city=SF","description":"Weather data","mimeType":"application/json"},"accepts":[{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}]}"#;
const SDK_PAYMENT_SIGNATURE: &str = r#"eyJ4NDAyVmVyc2lvbiI6MiwicGF5bG9hZCI6eyJhdXRob3JpemF0aW9uIjp7ImZyb20iOiIweGYzOUZkNmU1MWFhZDg4RjZGNGNlNmFCODgyNzI3OWNmZkZiOTIyNjYiLCJ0byI6IjB4MjA5NjkzQmM2YWZjMEM1MzI4YkEzNkZhRjAzQzUxNEVGMzEyMjg3QyIsInZhbHVlIjoiMTAwMCIsInZhbGlkQWZ0ZXIiOiIwIiwidmFsaWRCZWZvcmUiOiIxNzk1MzQ2NDIxIiwibm9uY2UiOiIweGZlY2I4NjUzNWFkNTZjMjc0YmNmNDI2MWFmMmMzZDViNGJhMjQ1NWRmMDI0MWI5MDAxODkyMjYxMWMxNzAyMDQifSwic2lnbmF0dXJlIjoiMHgxZmNmZThjZGQ1N2YyMzMxYmMyNTM4OTYwMGUzNmY4NGNiMDcwNDA5ZDBkMzNhY2NkMDRkMzE4NzZjZGUwNjhlNTAzNDYyZDNlMDcyMzljNjNiMmU1YzM2NDk1ODkyZDM5MzFlMmJjNDZhN2NjMmNiMzBlN2FiMjM4ODNhNTc4ZTFjIn0sInJlc291cmNlIjp7InVybCI6Imh0dHA6Ly8xMjcuMC4wLjE6NDAyMS93ZWF0aGVyP2NpdHk9U0YiLCJkZXNjcmlwdGlvbiI6IldlYXRoZXIgZGF0YSIsIm1pbWVUeXBlIjoiYXBwbGljYXRpb24vanNvbiJ9LCJhY2NlcHRlZCI6eyJzY2hlbWUiOiJleGFjdCIsIm5ldHdvcmsiOiJlaXAxNTU6ODQ1MzIiLCJhbW91bnQiOiIxMDAwIiwiYXNzZXQiOiIweDAzNkNiRDUzODQyYzU0MjY2MzRlNzkyOTU0MWVDMjMxOGYzZENGN2UiLCJwYXlUbyI6IjB4MjA5NjkzQmM2YWZjMEM1MzI4YkEzNkZhRjAzQzUxNEVGMzEyMjg3QyIsIm1heFRpbWVvdXRTZWNvbmRzIjozMDAsImV4dHJhIjp7Im5hbWUiOiJVU0RDIiwidmVyc2lvbiI6IjIifX19"#;
const SDK_PAYMENT_SIGNATURE_JSON: &str = r#"{"x402Version":2,"payload":{"authorization":{"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"1000","validAfter":"0","validBefore":"1795346421","nonce":"0xfecb86535ad56c274bcf4261af2c3d5b4ba2455df0241b90018922611c170204"},"signature":"0x1fcfe8cdd57f2331bc25389600e36f84cb070409d0d33accd04d31876cde068e503462d3e07239c63b2e5c36495892d3931e2bc46a7cc2cb30e7ab23883a578e1c"},"resource":{"url":"http://127.0.0.1:4021/weather?city=SF","description":"Weather data","mimeType":"application/json"},"accepted":{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}}"#;
const SDK_PAYMENT_RESPONSE: &str = r#"eyJzdWNjZXNzIjp0cnVlLCJwYXllciI6IjB4ZjM5RmQ2ZTUxYWFkODhGNkY0Y2U2YUI4ODI3Mjc5Y2ZmRmI5MjI2NiIsInRyYW5zYWN0aW9uIjoiMHhhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiIiwibmV0d29yayI6ImVpcDE1NTo4NDUzMiJ9"#;
const SDK_PAYMENT_RESPONSE_JSON: &str = r#"{"success":true,"payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","transaction":"0xabababababababababababababababababababababababababababababababab","network":"eip155:84532"}"#;
const SDK_X_PAYMENT: &str = r#"eyJ4NDAyVmVyc2lvbiI6MSwic2NoZW1lIjoiZXhhY3QiLCJuZXR3b3JrIjoiYmFzZS1zZXBvbGlhIiwicGF5bG9hZCI6eyJhdXRob3JpemF0aW9uIjp7ImZyb20iOiIweGYzOUZkNmU1MWFhZDg4RjZGNGNlNmFCODgyNzI3OWNmZkZiOTIyNjYiLCJ0byI6IjB4MjA5NjkzQmM2YWZjMEM1MzI4YkEzNkZhRjAzQzUxNEVGMzEyMjg3QyIsInZhbHVlIjoiMTAwMCIsInZhbGlkQWZ0ZXIiOiIxNzk1MzQ1NTQ0IiwidmFsaWRCZWZvcmUiOiIxNzk1MzQ2MjA0Iiwibm9uY2UiOiIweDllMDE0NjgzZWUxODdjZDBiNzA4MTVjZTE1NTVlMjIyMzc3MDk4MjIyNWY1OGQzYmRjMWRiNmYzMDkxNTE5NzEifSwic2lnbmF0dXJlIjoiMHhkNTVlN2EwNDIzOTY0NzRmOTU2NjhiMDI5MDdjZWY4MDBlMTJkODU1ZjcxNGI0ODYzNzIzN2IzM2MyODc0ZGFhNWFhYjcyNWRlMzlkN2FlNTZhMDBmZGFhODZiNjIyYzY2NzYxOWM1ZmZlM2M0MDQ3NWI5YmM2ZGNlNzM2NmQ3MTFiIn19"#;
const SDK_X_PAYMENT_JSON: &str = r#"{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{"authorization":{"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"1000","validAfter":"1795345544","validBefore":"1795346204","nonce":"0x9e014683ee187cd0b70815ce1555e2223770982225f58d3bdc1db6f309151971"},"signature":"0xd55e7a042396474f95668b02907cef800e12d855f714b48637237b33c2874daa5aab725de39d7ae56a00fdaa86b622c667619c5ffe3c40475b9bc6dce7366d711b"}}"#;

/// §3.1, the spec's v2 `PaymentRequired` example.
const SPEC_PAYMENT_REQUIRED_JSON: &str = r#"{
  "x402Version": 2,
  "error": "Payment required",
  "resource": { "url": "https://api.example.com/weather?city=SF", "description": "Weather data", "mimeType": "application/json" },
  "accepts": [ { "scheme": "exact", "network": "eip155:84532", "amount": "1000",
                 "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                 "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                 "maxTimeoutSeconds": 300, "extra": { "name": "USDC", "version": "2" } } ],
  "extensions": { }
}"#;

/// §3.5, a `GET /supported` answer.
const SUPPORTED_JSON: &str = r#"{ "kinds": [ { "x402Version": 2, "scheme": "exact", "network": "eip155:84532" },
             { "x402Version": 1, "scheme": "exact", "network": "base-sepolia" },
             { "x402Version": 2, "scheme": "exact", "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1", "extra": { "feePayer": "..." } } ],
  "extensions": [ "bazaar" ],
  "signers": { "eip155:*": ["0x..."], "solana:*": ["..."] } }"#;

/// §3.6, the exact v1 402 body of `x402-express@1.2.0`.
const V1_402_BODY_JSON: &str = r#"{
  "x402Version": 1,
  "error": "X-PAYMENT header is required",
  "accepts": [ {
    "scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "1000",
    "resource": "http://127.0.0.1:4023/weather", "description": "Weather data", "mimeType": "",
    "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "maxTimeoutSeconds": 60,
    "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
    "outputSchema": { "input": { "type": "http", "method": "GET", "discoverable": true } },
    "extra": { "name": "USDC", "version": "2" } } ]
}"#;

/// §4.2, a Permit2 scheme payload (abbreviated addresses as in the reference).
const PERMIT2_PAYLOAD_JSON: &str = r#"{
  "signature": "0x...",
  "permit2Authorization": {
    "from": "0x857b...",
    "permitted": { "token": "0x036C...", "amount": "10000" },
    "spender": "0x402085c248EeA27D92E8b30b2C58ed07f9E20001",
    "nonce": "33247007178036348590600198031289925668252061821958005840077069883511451257277",
    "deadline": "1740672154",
    "witness": { "to": "0x2096...", "validAfter": "0" }
  }
}"#;

const SDK_PAYER: Address = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
const SPEC_PAYER: Address = address!("0x857b06519E91e3A54538791bDbb0E22373e36b66");
const PAY_TO: Address = address!("0x209693Bc6afc0C5328bA36FaF03C514EF312287C");

fn value(json: &str) -> Value {
    serde_json::from_str(json).expect("test vector is JSON")
}

fn decoded_json(header: &str) -> Value {
    let bytes = codec::decode_base64(header.as_bytes(), MAX).expect("test vector is base64");
    serde_json::from_slice(&bytes).expect("test vector decodes to JSON")
}

/// JSON text → `T` → JSON value, which must equal the original value.
fn assert_json_round_trip<T: Serialize + DeserializeOwned>(json: &str) -> T {
    let typed: T = serde_json::from_str(json).expect("vector parses as the wire type");
    assert_eq!(serde_json::to_value(&typed).unwrap(), value(json));
    typed
}

/// Header → `T` → header → JSON value, which must equal the header's decoded JSON.
fn assert_header_round_trip<T: Serialize + DeserializeOwned>(header: &str) -> T {
    let typed: T = codec::decode_header(header.as_bytes(), MAX).expect("vector decodes");
    let reencoded = codec::encode_header(&typed);
    assert_eq!(decoded_json(&reencoded), decoded_json(header));
    typed
}

fn decode_payment(header: PaymentHeader, value: &str) -> Result<DecodedPayment, DecodeError> {
    codec::decode_payment(header, value.as_bytes(), MAX)
}

fn v2_payment(value: &str) -> Result<DecodedPayment, DecodeError> {
    decode_payment(PaymentHeader::PaymentSignature, value)
}

fn v1_payment(value: &str) -> Result<DecodedPayment, DecodeError> {
    decode_payment(PaymentHeader::XPayment, value)
}

fn header_for(json: &str) -> String {
    codec::encode_json_bytes(json.as_bytes())
}

fn exact_evm(payload: &PaymentPayload) -> &x402_core::wire::ExactEvmPayload {
    payload
        .scheme_payload()
        .as_exact_evm()
        .expect("an EIP-3009 payload")
}

// ---- the vectors ----------------------------------------------------------------------------

#[test]
fn spec_payment_signature_decodes_to_the_spec_payload_json() {
    assert_eq!(
        decoded_json(SPEC_V2_PAYMENT_SIGNATURE),
        value(SPEC_V2_PAYMENT_JSON)
    );
}

#[test]
fn spec_payment_signature_round_trips_through_the_v2_type() {
    let payment: v2::PaymentPayload = assert_header_round_trip(SPEC_V2_PAYMENT_SIGNATURE);
    assert_eq!(payment.accepted.amount, "10000");
    assert_eq!(
        payment.resource.unwrap().url,
        "https://api.example.com/premium-data"
    );
}

#[test]
fn spec_payment_signature_carries_the_signed_eip3009_authorization() {
    let decoded = v2_payment(SPEC_V2_PAYMENT_SIGNATURE).unwrap();
    let evm = exact_evm(decoded.payload());
    let auth = &evm.authorization;
    assert_eq!(auth.from, SPEC_PAYER);
    assert_eq!(auth.to, PAY_TO);
    assert_eq!(auth.value, U256::from(10_000));
    assert_eq!(auth.valid_after, U256::from(1_740_672_089_u64));
    assert_eq!(auth.valid_before, U256::from(1_740_672_154_u64));
    assert_eq!(
        auth.nonce,
        b256!("0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480")
    );
    assert_eq!(evm.signature.len(), 65);
    assert_eq!(evm.signature[0], 0x2d);
    assert_eq!(evm.signature[64], 0x1c);
}

#[test]
fn spec_v1_payload_round_trips_through_the_v1_type_and_x_payment() {
    let typed: v1::PaymentPayload = assert_json_round_trip(SPEC_V1_PAYMENT_JSON);
    assert_eq!(typed.network, "base-sepolia");

    let decoded = v1_payment(&header_for(SPEC_V1_PAYMENT_JSON)).unwrap();
    assert_eq!(decoded.header(), PaymentHeader::XPayment);
    assert_eq!(exact_evm(decoded.payload()).authorization.from, SPEC_PAYER);
    assert_eq!(decoded.payload(), &PaymentPayload::V1(typed));
}

#[test]
fn sdk_payment_required_header_decodes_to_the_captured_json_and_round_trips() {
    assert_eq!(
        decoded_json(SDK_PAYMENT_REQUIRED),
        value(SDK_PAYMENT_REQUIRED_JSON)
    );
    let challenge: v2::PaymentRequired = assert_header_round_trip(SDK_PAYMENT_REQUIRED);
    assert_eq!(challenge.error.as_deref(), Some("Payment required"));
    assert_eq!(challenge.accepts[0].max_timeout_seconds, 300);
    assert_eq!(challenge.extensions, None);

    let typed = codec::decode_payment_required(SDK_PAYMENT_REQUIRED.as_bytes(), MAX).unwrap();
    assert_eq!(typed, challenge);
}

#[test]
fn sdk_payment_signature_header_round_trips_and_keeps_valid_after_zero() {
    assert_eq!(
        decoded_json(SDK_PAYMENT_SIGNATURE),
        value(SDK_PAYMENT_SIGNATURE_JSON)
    );
    let _: v2::PaymentPayload = assert_header_round_trip(SDK_PAYMENT_SIGNATURE);

    let decoded = v2_payment(SDK_PAYMENT_SIGNATURE).unwrap();
    let auth = &exact_evm(decoded.payload()).authorization;
    assert_eq!(auth.from, SDK_PAYER);
    assert_eq!(auth.value, U256::from(1000));
    assert_eq!(auth.valid_after, U256::ZERO);
    assert_eq!(auth.valid_before, U256::from(1_795_346_421_u64));
    assert_eq!(decoded.payload().network(), "eip155:84532");
    assert_eq!(decoded.payload().scheme(), "exact");
    assert_eq!(decoded.payload().x402_version(), 2);
}

#[test]
fn sdk_payment_response_header_round_trips() {
    assert_eq!(
        decoded_json(SDK_PAYMENT_RESPONSE),
        value(SDK_PAYMENT_RESPONSE_JSON)
    );
    let receipt: SettleResponse = assert_header_round_trip(SDK_PAYMENT_RESPONSE);
    assert!(receipt.success);
    assert_eq!(
        receipt.payer.as_deref(),
        Some("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
    );

    let typed = codec::decode_settle_response(SDK_PAYMENT_RESPONSE.as_bytes(), MAX).unwrap();
    assert_eq!(typed, receipt);
}

#[test]
fn sdk_settle_receipt_encodes_to_the_captured_header_bytes() {
    // Field order of `SettleResponse` differs from the SDK's, so compare a receipt built in the
    // SDK's order: `encode_json_bytes` must reproduce the captured value byte for byte.
    assert_eq!(header_for(SDK_PAYMENT_RESPONSE_JSON), SDK_PAYMENT_RESPONSE);
}

#[test]
fn sdk_x_payment_header_round_trips_as_a_v1_payment() {
    assert_eq!(decoded_json(SDK_X_PAYMENT), value(SDK_X_PAYMENT_JSON));
    let _: v1::PaymentPayload = assert_header_round_trip(SDK_X_PAYMENT);

    let decoded = v1_payment(SDK_X_PAYMENT).unwrap();
    let auth = &exact_evm(decoded.payload()).authorization;
    assert_eq!(auth.from, SDK_PAYER);
    assert_eq!(auth.valid_after, U256::from(1_795_345_544_u64));
    assert_eq!(decoded.payload().network(), "base-sepolia");
    assert_eq!(decoded.payload().x402_version(), 1);
}

#[test]
fn spec_payment_required_example_with_empty_extensions_round_trips() {
    let challenge: v2::PaymentRequired = assert_json_round_trip(SPEC_PAYMENT_REQUIRED_JSON);
    assert_eq!(challenge.extensions, Some(serde_json::Map::new()));
    let _: v2::PaymentRequired = assert_header_round_trip(&codec::encode_header(&challenge));
}

#[test]
fn supported_example_round_trips() {
    let supported: SupportedResponse = assert_json_round_trip(SUPPORTED_JSON);
    assert_eq!(supported.kinds.len(), 3);
    assert_eq!(supported.kinds[1].x402_version, 1);
    assert_eq!(supported.extensions, ["bazaar"]);
    assert!(supported.kinds[2].extra.is_some());
}

#[test]
fn supported_response_without_extensions_or_signers_defaults_them() {
    let supported: SupportedResponse = serde_json::from_value(json!({
        "kinds": [{ "x402Version": 1, "scheme": "exact", "network": "base-sepolia" }]
    }))
    .unwrap();
    assert!(supported.extensions.is_empty());
    assert!(supported.signers.is_empty());
    assert_eq!(supported.kinds[0].extra, None);
}

#[test]
fn v1_402_body_round_trips() {
    let body: v1::PaymentRequired = assert_json_round_trip(V1_402_BODY_JSON);
    assert_eq!(body.accepts[0].mime_type, "");
    assert_eq!(body.accepts[0].max_amount_required, "1000");
    assert!(body.accepts[0].output_schema.is_some());
}

#[test]
fn settle_failure_receipts_round_trip() {
    let receipts = [
        // §12.3: the facilitator's own 2xx failure, forwarded as is.
        r#"{"success":false,"errorReason":"insufficient_funds","payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","transaction":"","network":"eip155:84532"}"#,
        // §12.3: the failure the 2.27 server builds itself, with `errorMessage`.
        r#"{"success":false,"errorReason":"settlement_pending","errorMessage":"still pending","payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","transaction":"0xabababababababababababababababababababababababababababababababab","network":"eip155:84532"}"#,
        // §3.3: the v2 optional fields.
        r#"{"success":true,"transaction":"0x01","network":"eip155:8453","amount":"5","extensions":{"bazaar":{"status":"success"}},"extra":{"k":1}}"#,
    ];
    for json in receipts {
        let receipt: SettleResponse = assert_json_round_trip(json);
        let _: SettleResponse = assert_header_round_trip(&codec::encode_header(&receipt));
    }
}

#[test]
fn verify_responses_round_trip() {
    for json in [
        r#"{"isValid":false,"invalidReason":"invalid_exact_evm_signature"}"#,
        r#"{"isValid":false,"invalidReason":"invalid_payload","invalidMessage":"bad","payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}"#,
        r#"{"isValid":true,"payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}"#,
    ] {
        let _: VerifyResponse = assert_json_round_trip(json);
    }
}

#[test]
fn decoded_payment_keeps_the_clients_json_text_verbatim() {
    let decoded = v2_payment(SDK_PAYMENT_SIGNATURE).unwrap();
    // Key order (`payload` before `resource` before `accepted`) and spelling are the client's.
    assert_eq!(decoded.json().get(), SDK_PAYMENT_SIGNATURE_JSON);
    let (_, json) = decoded.into_parts();
    assert_eq!(json.get(), SDK_PAYMENT_SIGNATURE_JSON);
}

#[test]
fn verify_body_built_from_the_raw_payload_matches_the_official_server_byte_for_byte() {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct VerifyRequest<'a> {
        x402_version: u8,
        payment_payload: &'a serde_json::value::RawValue,
        payment_requirements: &'a v2::PaymentRequirements,
    }

    let challenge = codec::decode_payment_required(SDK_PAYMENT_REQUIRED.as_bytes(), MAX).unwrap();
    let decoded = v2_payment(SDK_PAYMENT_SIGNATURE).unwrap();
    let body = serde_json::to_string(&VerifyRequest {
        x402_version: decoded.payload().x402_version(),
        payment_payload: decoded.json(),
        payment_requirements: &challenge.accepts[0],
    })
    .unwrap();

    let expected = format!(
        r#"{{"x402Version":2,"paymentPayload":{SDK_PAYMENT_SIGNATURE_JSON},"paymentRequirements":{{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{{"name":"USDC","version":"2"}}}}}}"#
    );
    assert_eq!(body, expected);
    assert_eq!(
        body.len(),
        1074,
        "§12.2 gives the official server's body as 1074 bytes"
    );
}

// ---- base64 -------------------------------------------------------------------------------------

#[test]
fn padded_and_unpadded_headers_decode_to_the_same_payment() {
    assert!(SPEC_V2_PAYMENT_SIGNATURE.ends_with('='));
    let unpadded = SPEC_V2_PAYMENT_SIGNATURE.trim_end_matches('=');
    let padded = v2_payment(SPEC_V2_PAYMENT_SIGNATURE).unwrap();
    let bare = v2_payment(unpadded).unwrap();
    assert_eq!(bare.payload(), padded.payload());
    assert_eq!(bare.json().get(), padded.json().get());
}

#[test]
fn encoded_headers_are_padded_standard_base64() {
    let encoded = codec::encode_json_bytes(b"{\"a\":\"\xff\xfe?>\"}");
    assert_eq!(encoded, "eyJhIjoi//4/PiJ9");
    assert_eq!(codec::encode_json_bytes(b"{}"), "e30=");
    assert_eq!(codec::encode_json_bytes(b"{\"\"}"), "eyIifQ==");
}

#[test]
fn url_safe_base64_is_rejected_naming_the_byte_and_its_position() {
    for (standard, url_safe) in [('/', '-'), ('+', '_'), ('/', '_')] {
        let header = "eyJhIjoi+/+/PiJ9".replacen(standard, &url_safe.to_string(), 1);
        let position = header.find(url_safe).unwrap();
        assert_eq!(
            codec::decode_base64(header.as_bytes(), MAX),
            Err(DecodeError::InvalidBase64 {
                position,
                fault: Base64Fault::InvalidByte(url_safe as u8),
            })
        );
    }
}

#[test]
fn whitespace_anywhere_in_the_value_is_rejected() {
    for header in [
        format!(" {SDK_PAYMENT_RESPONSE}"),
        format!("{SDK_PAYMENT_RESPONSE}\n"),
        format!(
            "{} {}",
            &SDK_PAYMENT_RESPONSE[..8],
            &SDK_PAYMENT_RESPONSE[8..]
        ),
        format!(
            "{}\t{}",
            &SDK_PAYMENT_RESPONSE[..8],
            &SDK_PAYMENT_RESPONSE[8..]
        ),
    ] {
        let err = codec::decode_settle_response(header.as_bytes(), MAX).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::InvalidBase64 {
                    fault: Base64Fault::InvalidByte(b' ' | b'\n' | b'\t'),
                    ..
                }
            ),
            "{header:?} gave {err:?}"
        );
    }
}

#[test]
fn misplaced_padding_is_rejected() {
    for header in [
        "ab=", "a===", "ab===", "abc==", "ab=c", "e30=e30=", "e30=e", "====",
    ] {
        assert!(
            matches!(
                codec::decode_base64(header.as_bytes(), MAX),
                Err(DecodeError::InvalidBase64 {
                    fault: Base64Fault::InvalidPadding,
                    ..
                })
            ),
            "{header:?}"
        );
    }
}

#[test]
fn a_lone_trailing_symbol_is_rejected_as_truncated() {
    assert_eq!(
        codec::decode_base64(b"e30e3", MAX),
        Err(DecodeError::InvalidBase64 {
            position: 5,
            fault: Base64Fault::Truncated
        })
    );
}

#[test]
fn a_bad_byte_is_reported_before_a_truncated_length() {
    assert_eq!(
        codec::decode_base64(b"e3-0e", MAX),
        Err(DecodeError::InvalidBase64 {
            position: 2,
            fault: Base64Fault::InvalidByte(b'-')
        })
    );
}

#[test]
fn a_non_canonical_last_symbol_is_rejected() {
    // "e30=" is canonical for "{}"; "e31=" sets bits the encoding discards.
    assert!(matches!(
        codec::decode_base64(b"e31=", MAX),
        Err(DecodeError::InvalidBase64 {
            fault: Base64Fault::NonCanonicalEnding,
            ..
        })
    ));
}

#[test]
fn an_oversized_value_is_refused_before_it_is_decoded() {
    // Not even base64: the size check comes first.
    let huge = vec![b'-'; MAX + 1];
    assert_eq!(
        codec::decode_base64(&huge, MAX),
        Err(DecodeError::TooLarge {
            len: MAX + 1,
            max: MAX
        })
    );
    let header = SDK_PAYMENT_SIGNATURE.as_bytes();
    assert_eq!(
        codec::decode_payment(PaymentHeader::PaymentSignature, header, header.len() - 1)
            .unwrap_err(),
        DecodeError::TooLarge {
            len: header.len(),
            max: header.len() - 1
        }
    );
    assert!(codec::decode_payment(PaymentHeader::PaymentSignature, header, header.len()).is_ok());
}

#[test]
fn an_empty_value_is_refused() {
    assert_eq!(codec::decode_base64(b"", MAX), Err(DecodeError::Empty));
    assert_eq!(v2_payment("").unwrap_err(), DecodeError::Empty);
    assert_eq!(
        codec::decode_settle_response(b"", MAX).unwrap_err(),
        DecodeError::Empty
    );
}

// ---- JSON and shape -----------------------------------------------------------------------------

#[test]
fn base64_of_something_other_than_json_is_not_json() {
    for bytes in [
        &b"hello"[..],
        b"{\"x402Version\":2,",
        b"{} {}",
        b"\xff\xfe{}",
    ] {
        let header = codec::encode_json_bytes(bytes);
        assert!(
            matches!(v2_payment(&header), Err(DecodeError::NotJson { .. })),
            "{bytes:?}"
        );
        assert!(
            matches!(
                codec::decode_settle_response(header.as_bytes(), MAX),
                Err(DecodeError::NotJson { .. })
            ),
            "{bytes:?}"
        );
    }
}

#[test]
fn json_that_is_not_an_object_is_refused_naming_what_it_is() {
    for (json, found) in [
        ("[2]", "an array"),
        (" \"x\"", "a string"),
        ("2", "a number"),
        ("true", "a boolean"),
        ("null", "null"),
    ] {
        let header = header_for(json);
        assert_eq!(
            v2_payment(&header).unwrap_err(),
            DecodeError::NotAnObject { found }
        );
        assert_eq!(
            v1_payment(&header).unwrap_err(),
            DecodeError::NotAnObject { found }
        );
        assert_eq!(
            codec::decode_payment_required(header.as_bytes(), MAX).unwrap_err(),
            DecodeError::NotAnObject { found }
        );
    }
}

#[test]
fn an_array_in_the_shape_of_a_struct_is_not_read_as_one() {
    // serde_json would read a struct from an array of its fields in order.
    let header = header_for(r#"[true,null,null,null,"0x01","eip155:8453"]"#);
    assert_eq!(
        codec::decode_settle_response(header.as_bytes(), MAX).unwrap_err(),
        DecodeError::NotAnObject { found: "an array" }
    );
}

#[test]
fn json_whitespace_around_the_object_is_accepted_and_trimmed() {
    let decoded = v2_payment(&header_for(&format!("\n {SDK_PAYMENT_SIGNATURE_JSON} \n"))).unwrap();
    assert_eq!(decoded.json().get(), SDK_PAYMENT_SIGNATURE_JSON);
}

#[test]
fn a_missing_field_is_a_shape_error_naming_it() {
    let json = SDK_PAYMENT_SIGNATURE_JSON.replacen(r#""amount":"1000","#, "", 1);
    let err = v2_payment(&header_for(&json)).unwrap_err();
    let DecodeError::InvalidShape { message } = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("missing field `amount`"), "{message}");
}

#[test]
fn a_missing_version_is_a_shape_error_naming_it() {
    let json = SDK_PAYMENT_SIGNATURE_JSON.replacen(r#""x402Version":2,"#, "", 1);
    assert_eq!(
        v2_payment(&header_for(&json)).unwrap_err(),
        DecodeError::InvalidShape {
            message: "missing field `x402Version`".to_owned()
        }
    );
}

#[test]
fn an_unknown_version_is_unsupported() {
    for (version, found) in [
        ("3", "3"),
        ("0", "0"),
        ("\"2\"", "\"2\""),
        ("null", "null"),
        ("2.5", "2.5"),
    ] {
        let json = SDK_PAYMENT_SIGNATURE_JSON.replacen(
            r#""x402Version":2"#,
            &format!(r#""x402Version":{version}"#),
            1,
        );
        assert_eq!(
            v2_payment(&header_for(&json)).unwrap_err(),
            DecodeError::UnsupportedVersion {
                header: PaymentHeader::PaymentSignature,
                found: found.to_owned()
            },
            "{version}"
        );
    }
}

#[test]
fn an_integral_float_version_is_accepted_as_javascript_does() {
    let json = SDK_PAYMENT_SIGNATURE_JSON.replacen(r#""x402Version":2"#, r#""x402Version":2.0"#, 1);
    let decoded = v2_payment(&header_for(&json)).unwrap();
    assert_eq!(decoded.payload().x402_version(), 2);
}

#[test]
fn x_payment_carrying_a_v2_payment_is_a_version_mismatch() {
    let err = v1_payment(SDK_PAYMENT_SIGNATURE).unwrap_err();
    assert_eq!(
        err,
        DecodeError::VersionMismatch {
            header: PaymentHeader::XPayment,
            found: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "X-PAYMENT expects x402Version 1, but the payment has x402Version 2"
    );
}

#[test]
fn payment_signature_carrying_a_v1_payment_is_a_version_mismatch() {
    let err = v2_payment(SDK_X_PAYMENT).unwrap_err();
    assert_eq!(
        err,
        DecodeError::VersionMismatch {
            header: PaymentHeader::PaymentSignature,
            found: 1
        }
    );
    assert_eq!(
        err.to_string(),
        "PAYMENT-SIGNATURE expects x402Version 2, but the payment has x402Version 1"
    );
}

#[test]
fn the_version_mismatch_wins_over_other_shape_errors_wherever_the_version_key_is() {
    // v2 shape, version 1 placed last, and a broken `payload` before it.
    let json =
        r#"{"payload":{"signature":"0x01","authorization":{}},"accepted":{},"x402Version":1}"#;
    assert_eq!(
        v2_payment(&header_for(json)).unwrap_err(),
        DecodeError::VersionMismatch {
            header: PaymentHeader::PaymentSignature,
            found: 1
        }
    );
}

#[test]
fn a_v1_challenge_is_not_a_v2_payment_required() {
    let err =
        codec::decode_payment_required(header_for(V1_402_BODY_JSON).as_bytes(), MAX).unwrap_err();
    let DecodeError::InvalidShape { message } = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("expected x402Version 2, found 1"),
        "{message}"
    );
}

#[test]
fn version_markers_serialize_as_their_number() {
    assert_eq!(serde_json::to_string(&V1).unwrap(), "1");
    assert_eq!(serde_json::to_string(&V2).unwrap(), "2");
    assert!(serde_json::from_str::<V2>("1").is_err());
    assert!(serde_json::from_str::<V1>("-1").is_err());
    assert!(serde_json::from_str::<V1>("\"1\"").is_err());
}

// ---- scheme payloads ----------------------------------------------------------------------------

fn v2_with_scheme_payload(payload: &str) -> String {
    let accepted = r#"{"scheme":"exact","network":"eip155:84532","amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2","assetTransferMethod":"permit2"}}"#;
    format!(r#"{{"x402Version":2,"accepted":{accepted},"payload":{payload}}}"#)
}

#[test]
fn a_permit2_payload_is_kept_as_other_json() {
    let json = v2_with_scheme_payload(PERMIT2_PAYLOAD_JSON);
    let decoded = v2_payment(&header_for(&json)).unwrap();
    let SchemePayload::Other(object) = decoded.payload().scheme_payload() else {
        panic!("Permit2 must not be typed as EIP-3009");
    };
    assert_eq!(Value::Object(object.clone()), value(PERMIT2_PAYLOAD_JSON));
    let _: v2::PaymentPayload = assert_json_round_trip(&json);
}

#[test]
fn a_payload_with_both_authorizations_is_permit2_as_the_facilitator_decides() {
    let payload = r#"{"signature":"0x01","permit2Authorization":{},"authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66"}}"#;
    let decoded = v2_payment(&header_for(&v2_with_scheme_payload(payload))).unwrap();
    assert!(matches!(
        decoded.payload().scheme_payload(),
        SchemePayload::Other(_)
    ));
}

#[test]
fn a_solana_payload_is_kept_as_other_json() {
    let decoded = v2_payment(&header_for(&v2_with_scheme_payload(
        r#"{"transaction":"AQID"}"#,
    )))
    .unwrap();
    assert_eq!(
        decoded.payload().scheme_payload(),
        &SchemePayload::Other(json!({"transaction": "AQID"}).as_object().unwrap().clone())
    );
}

#[test]
fn unknown_keys_beside_an_eip3009_authorization_are_ignored() {
    let json = SPEC_V2_PAYMENT_JSON
        .replacen(r#""payload":{"#, r#""payload":{"note":[1,{"x":null}],"#, 1)
        .replacen(r#""nonce":"#, r#""extraField":"ignored","nonce":"#, 1);
    let decoded = v2_payment(&header_for(&json)).unwrap();
    assert_eq!(exact_evm(decoded.payload()).authorization.from, SPEC_PAYER);
}

#[test]
fn a_malformed_eip3009_authorization_is_refused_naming_the_field() {
    let cases = [
        (r#""value":"10000""#, r#""value":10000"#, "authorization"),
        (r#""value":"10000""#, r#""value":"1e4""#, "decimal integer"),
        (
            r#""validAfter":"1740672089""#,
            r#""validAfter":"-1""#,
            "decimal integer",
        ),
        (
            r#""from":"0x857b06519E91e3A54538791bDbb0E22373e36b66""#,
            r#""from":"857b06519E91e3A54538791bDbb0E22373e36b66""#,
            "20-byte hex address",
        ),
        (
            r#""nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480""#,
            r#""nonce":"0xf374""#,
            "32 bytes",
        ),
        (
            r#""signature":"0x2d6a"#,
            r#""signature":"0xzz2d6a"#,
            "signature",
        ),
    ];
    for (good, bad, mentions) in cases {
        let json = SPEC_V2_PAYMENT_JSON.replacen(good, bad, 1);
        assert_ne!(json, SPEC_V2_PAYMENT_JSON, "{good} not found");
        let err = v2_payment(&header_for(&json)).unwrap_err();
        let DecodeError::InvalidShape { message } = &err else {
            panic!("{bad}: {err:?}")
        };
        assert!(message.contains(mentions), "{bad}: {message}");
    }
}

#[test]
fn an_eip3009_payload_without_a_signature_is_refused() {
    let json = SPEC_V2_PAYMENT_JSON.replacen(r#""signature":"#, r#""signatureX":"#, 1);
    let err = v2_payment(&header_for(&json)).unwrap_err();
    let DecodeError::InvalidShape { message } = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("missing field `signature`"), "{message}");
}

#[test]
fn a_scheme_payload_that_is_not_an_object_is_refused() {
    for payload in [r#""0xdead""#, "[1,2]", "null"] {
        let err = v2_payment(&header_for(&v2_with_scheme_payload(payload))).unwrap_err();
        let DecodeError::InvalidShape { message } = &err else {
            panic!("{err:?}")
        };
        assert!(
            message.contains("scheme payload to be a JSON object"),
            "{message}"
        );
    }
}

#[test]
fn addresses_are_read_in_any_case_and_written_checksummed() {
    let lower = SPEC_V2_PAYMENT_JSON.replace(
        "0x857b06519E91e3A54538791bDbb0E22373e36b66",
        "0x857b06519e91e3a54538791bdbb0e22373e36b66",
    );
    let typed: v2::PaymentPayload = serde_json::from_str(&lower).unwrap();
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        value(SPEC_V2_PAYMENT_JSON)
    );
}

#[test]
fn nonces_and_signatures_are_written_in_lower_case_hex() {
    let upper = SPEC_V2_PAYMENT_JSON
        .replace("0xf3746613c2d920b5fdabc", "0xF3746613C2D920B5FDABC")
        .replace("0x2d6a7588d6acca505cbf0d9a", "0x2D6A7588D6ACCA505CBF0D9A");
    let typed: v2::PaymentPayload = serde_json::from_str(&upper).unwrap();
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        value(SPEC_V2_PAYMENT_JSON)
    );
    assert_eq!(
        exact_evm(&PaymentPayload::V2(typed)).authorization.nonce,
        B256::from(b256!(
            "0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"
        ))
    );
}

#[test]
fn payment_payload_deserializes_either_version_by_its_x402_version() {
    let v1: PaymentPayload = serde_json::from_str(SDK_X_PAYMENT_JSON).unwrap();
    let v2: PaymentPayload = serde_json::from_str(SDK_PAYMENT_SIGNATURE_JSON).unwrap();
    assert_eq!(v1.x402_version(), 1);
    assert_eq!(v2.x402_version(), 2);
    assert_eq!(
        serde_json::to_value(&v2).unwrap(),
        value(SDK_PAYMENT_SIGNATURE_JSON)
    );
    assert!(serde_json::from_str::<PaymentPayload>(r#"{"x402Version":3}"#).is_err());
}

// ---- messages -----------------------------------------------------------------------------------

#[test]
fn error_messages_do_not_echo_long_client_input() {
    let long = "A".repeat(10_000);
    let cases = [
        SDK_PAYMENT_SIGNATURE_JSON.replacen(
            r#""x402Version":2"#,
            &format!(r#""x402Version":"{long}""#),
            1,
        ),
        SDK_PAYMENT_SIGNATURE_JSON.replacen(
            r#""amount":"1000""#,
            &format!(r#""amount":["{long}"]"#),
            1,
        ),
        SDK_PAYMENT_SIGNATURE_JSON.replacen(
            r#""value":"1000""#,
            &format!(r#""value":"{long}""#),
            1,
        ),
        SDK_PAYMENT_SIGNATURE_JSON.replacen(
            r#""nonce":"#,
            &format!(r#""nonce":"0x{long}","n":"#),
            1,
        ),
        SDK_PAYMENT_SIGNATURE_JSON.replacen(
            r#""scheme":"exact""#,
            &format!(r#""scheme":{long}"#),
            1,
        ),
    ];
    for json in cases {
        let header = header_for(&json);
        let err = codec::decode_payment(
            PaymentHeader::PaymentSignature,
            header.as_bytes(),
            64 * 1024,
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.len() < 300, "{} bytes: {message}", message.len());
    }
}

#[test]
fn payment_headers_know_their_names_versions_and_response_headers() {
    assert_eq!(
        PaymentHeader::PaymentSignature.name(),
        codec::PAYMENT_SIGNATURE
    );
    assert_eq!(PaymentHeader::XPayment.name(), codec::X_PAYMENT);
    assert_eq!(PaymentHeader::PaymentSignature.x402_version(), 2);
    assert_eq!(PaymentHeader::XPayment.x402_version(), 1);
    assert_eq!(
        PaymentHeader::PaymentSignature.response_header(),
        "PAYMENT-RESPONSE"
    );
    assert_eq!(
        PaymentHeader::XPayment.response_header(),
        "X-PAYMENT-RESPONSE"
    );
    assert_eq!(PaymentHeader::XPayment.to_string(), "X-PAYMENT");
    assert_eq!(codec::PAYMENT_REQUIRED, "PAYMENT-REQUIRED");
}

#[test]
fn payment_payload_refuses_a_version_it_does_not_know_naming_it() {
    for (json, mentions) in [
        (r#"{"x402Version":3}"#, "unsupported x402Version 3"),
        (r#"{"x402Version":"2"}"#, r#"unsupported x402Version "2""#),
        (r#"{"scheme":"exact"}"#, "missing field `x402Version`"),
    ] {
        let err = serde_json::from_str::<PaymentPayload>(json).unwrap_err();
        assert!(err.to_string().contains(mentions), "{json}: {err}");
    }
}

#[test]
fn a_decoded_payment_can_travel_in_request_extensions() {
    fn assert_extension<T: Clone + Send + Sync + 'static>() {}
    assert_extension::<DecodedPayment>();
    assert_extension::<DecodeError>();
}

#[test]
fn deeply_nested_json_is_refused_without_exhausting_the_stack() {
    let depth = 100_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    for nested in [arrays, objects] {
        for header in [PaymentHeader::PaymentSignature, PaymentHeader::XPayment] {
            let json = format!(
                r#"{{"x402Version":{},"payload":{nested}}}"#,
                header.x402_version()
            );
            let value = header_for(&json);
            let err = codec::decode_payment(header, value.as_bytes(), usize::MAX).unwrap_err();
            // Valid JSON, but deeper than serde_json's recursion limit.
            let DecodeError::NotJson { message } = &err else {
                panic!("{err:?}")
            };
            assert!(message.contains("recursion limit"), "{message}");
            // Here `payload` is an unknown field, skipped without recursion.
            let err = codec::decode_settle_response(value.as_bytes(), usize::MAX).unwrap_err();
            assert!(
                matches!(&err, DecodeError::InvalidShape { message } if message.contains("`success`")),
                "{err:?}"
            );
        }
    }
}
