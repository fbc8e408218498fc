//! Networks and assets. (Stub: being implemented.)
#![allow(missing_docs, unreachable_pub, clippy::todo)]

use std::borrow::Cow;

use alloy_primitives::Address;

use crate::wire::JsonObject;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    _p: (),
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    #[error("todo")]
    Todo,
}

impl Network {
    pub fn parse(_s: &str) -> Result<Self, NetworkError> {
        todo!()
    }
    pub fn caip2(&self) -> &str {
        todo!()
    }
    pub fn chain_id(&self) -> u64 {
        todo!()
    }
    pub fn v1_name(&self) -> Option<&'static str> {
        todo!()
    }
    pub fn default_asset(&self) -> Option<Asset> {
        todo!()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eip712Domain {
    pub name: Cow<'static, str>,
    pub version: Cow<'static, str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub address: Address,
    pub decimals: u8,
    pub eip712: Option<Eip712Domain>,
}

impl Asset {
    pub fn extra(&self) -> Option<JsonObject> {
        todo!()
    }
}
