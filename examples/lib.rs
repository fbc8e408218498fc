//! Runnable examples for the x402 crates, one file per example.
//!
//! Run one with `cargo run -p examples --example NAME`. This library target is empty; it only
//! exists so the package has a target while examples are added.
