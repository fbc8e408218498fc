//! Header codec benchmarks: decoding the §12.2 `PAYMENT-SIGNATURE` header the official 2.27 client
//! sends (the paid request path), and encoding a settlement receipt (`PAYMENT-RESPONSE`).
//!
//! Run with `cargo bench -p benches --bench codec`. Inputs are built outside the timed loops.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use x402_core::codec::{self, DEFAULT_MAX_HEADER_BYTES, PaymentHeader};
use x402_core::wire::v2;

/// x402-protocol.md §12.2: the `PAYMENT-SIGNATURE` value sent by `@x402/fetch@2.27.0`.
const PAYMENT_SIGNATURE: &str = "eyJ4NDAyVmVyc2lvbiI6MiwicGF5bG9hZCI6eyJhdXRob3JpemF0aW9uIjp7ImZyb20iOiIweGYzOUZkNmU1MWFhZDg4RjZGNGNlNmFCODgyNzI3OWNmZkZiOTIyNjYiLCJ0byI6IjB4MjA5NjkzQmM2YWZjMEM1MzI4YkEzNkZhRjAzQzUxNEVGMzEyMjg3QyIsInZhbHVlIjoiMTAwMCIsInZhbGlkQWZ0ZXIiOiIwIiwidmFsaWRCZWZvcmUiOiIxNzk1MzQ2NDIxIiwibm9uY2UiOiIweGZlY2I4NjUzNWFkNTZjMjc0YmNmNDI2MWFmMmMzZDViNGJhMjQ1NWRmMDI0MWI5MDAxODkyMjYxMWMxNzAyMDQifSwic2lnbmF0dXJlIjoiMHgxZmNmZThjZGQ1N2YyMzMxYmMyNTM4OTYwMGUzNmY4NGNiMDcwNDA5ZDBkMzNhY2NkMDRkMzE4NzZjZGUwNjhlNTAzNDYyZDNlMDcyMzljNjNiMmU1YzM2NDk1ODkyZDM5MzFlMmJjNDZhN2NjMmNiMzBlN2FiMjM4ODNhNTc4ZTFjIn0sInJlc291cmNlIjp7InVybCI6Imh0dHA6Ly8xMjcuMC4wLjE6NDAyMS93ZWF0aGVyP2NpdHk9U0YiLCJkZXNjcmlwdGlvbiI6IldlYXRoZXIgZGF0YSIsIm1pbWVUeXBlIjoiYXBwbGljYXRpb24vanNvbiJ9LCJhY2NlcHRlZCI6eyJzY2hlbWUiOiJleGFjdCIsIm5ldHdvcmsiOiJlaXAxNTU6ODQ1MzIiLCJhbW91bnQiOiIxMDAwIiwiYXNzZXQiOiIweDAzNkNiRDUzODQyYzU0MjY2MzRlNzkyOTU0MWVDMjMxOGYzZENGN2UiLCJwYXlUbyI6IjB4MjA5NjkzQmM2YWZjMEM1MzI4YkEzNkZhRjAzQzUxNEVGMzEyMjg3QyIsIm1heFRpbWVvdXRTZWNvbmRzIjozMDAsImV4dHJhIjp7Im5hbWUiOiJVU0RDIiwidmVyc2lvbiI6IjIifX19";

/// x402-protocol.md §12.2: the `PAYMENT-RESPONSE` value of a successful settlement.
const PAYMENT_RESPONSE: &str = "eyJzdWNjZXNzIjp0cnVlLCJwYXllciI6IjB4ZjM5RmQ2ZTUxYWFkODhGNkY0Y2U2YUI4ODI3Mjc5Y2ZmRmI5MjI2NiIsInRyYW5zYWN0aW9uIjoiMHhhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiIiwibmV0d29yayI6ImVpcDE1NTo4NDUzMiJ9";

fn decode(c: &mut Criterion) {
    let header = PAYMENT_SIGNATURE.as_bytes();
    let mut group = c.benchmark_group("codec/decode_payment_signature");
    group.throughput(Throughput::Bytes(header.len() as u64));

    // What the server does per paid request: typed payload plus the verbatim JSON.
    group.bench_function("decode_payment", |b| {
        b.iter(|| {
            codec::decode_payment(
                PaymentHeader::PaymentSignature,
                black_box(header),
                DEFAULT_MAX_HEADER_BYTES,
            )
        });
    });
    // The parts, for comparison: base64 alone, and base64 + typed JSON without the raw copy.
    group.bench_function("base64_only", |b| {
        b.iter(|| codec::decode_base64(black_box(header), DEFAULT_MAX_HEADER_BYTES));
    });
    group.bench_function("typed_only", |b| {
        b.iter(|| {
            codec::decode_header::<v2::PaymentPayload>(black_box(header), DEFAULT_MAX_HEADER_BYTES)
        });
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let receipt =
        codec::decode_settle_response(PAYMENT_RESPONSE.as_bytes(), DEFAULT_MAX_HEADER_BYTES)
            .expect("the §12.2 receipt decodes");
    c.bench_function("codec/encode_settle_receipt", |b| {
        b.iter(|| codec::encode_header(black_box(&receipt)));
    });
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
