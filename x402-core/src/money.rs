//! Exact prices. (Stub: being implemented.)
#![allow(missing_docs, unreachable_pub, clippy::todo)]

use alloy_primitives::U256;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    #[error("todo")]
    Todo,
}

pub fn parse_price(_text: &str, _decimals: u8) -> Result<U256, MoneyError> {
    todo!()
}
pub fn parse_atomic(_text: &str) -> Result<U256, MoneyError> {
    todo!()
}
pub fn format_units(_amount: U256, _decimals: u8) -> String {
    todo!()
}
