//! criterion benchmarks for the x402 crates: run them with `cargo bench -p benches`.
//!
//! The library target holds nothing; the benchmarks are the `[[bench]]` targets beside it.
