//! The [`Signer`] a buyer pays with: async and object-safe, so a KMS, an HSM or a remote wallet
//! can implement it as well as a local key.

use std::{error::Error as StdError, fmt, future::Future, pin::Pin};

use alloy_primitives::{Address, B256, Bytes};

use crate::{
    evm::Eip3009Domain,
    wire::{Eip3009Authorization, Permit2Authorization},
};

/// What [`Signer::sign_authorization`] returns.
pub type SignFuture<'a> = Pin<Box<dyn Future<Output = Result<Bytes, SignerError>> + Send + 'a>>;

/// An EIP-3009 `TransferWithAuthorization` to sign, with its EIP-712 digest already computed.
///
/// A signer that signs hashes (a local key, a cloud KMS) signs [`digest`](Self::digest); one
/// that signs typed data (a hardware or browser wallet) rebuilds it from `domain` and
/// `authorization`. Both give the same signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizationToSign<'a> {
    /// The token's EIP-712 domain.
    pub domain: Eip3009Domain<'a>,
    /// The authorization; `from` is the signer's [`address`](Signer::address).
    pub authorization: &'a Eip3009Authorization,
    /// `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(authorization))`.
    pub digest: B256,
}

/// A Permit2 `PermitWitnessTransferFrom` to sign (EVM `upto`, and `exact` by Permit2), with
/// its EIP-712 digest already computed over the Permit2 domain `{name: "Permit2", chainId,
/// verifyingContract: 0x000000000022D473030F116dDEE9F6B43aC78BA3}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Permit2ToSign<'a> {
    /// The EIP-155 chain id of the domain.
    pub chain_id: u64,
    /// The permit; `from` is the signer's [`address`](Signer::address) (not signed: Permit2
    /// recovers the owner).
    pub permit: &'a Permit2Authorization,
    /// `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(permit))`.
    pub digest: B256,
}

/// Signs a buyer's payments.
///
/// Object-safe: keep one as `Arc<dyn Signer>`. The returned signature is the 65-byte
/// `r ‖ s ‖ v` of an EOA, or a longer ERC-1271/ERC-6492 signature of a smart wallet.
///
/// ```
/// use x402_core::client::{AuthorizationToSign, SignFuture, Signer, SignerError};
/// use alloy_primitives::Address;
///
/// /// A signer that asks a remote service (sketched).
/// #[derive(Debug)]
/// struct Remote { address: Address }
///
/// impl Signer for Remote {
///     fn address(&self) -> Address { self.address }
///     fn sign_authorization<'a>(&'a self, request: AuthorizationToSign<'a>) -> SignFuture<'a> {
///         Box::pin(async move {
///             let _digest = request.digest; // send it, await the signature...
///             Err(SignerError::new("the remote signer is not reachable"))
///         })
///     }
/// }
/// let signer: std::sync::Arc<dyn Signer> = std::sync::Arc::new(Remote { address: Address::ZERO });
/// ```
pub trait Signer: fmt::Debug + Send + Sync {
    /// The payer's address, `authorization.from`.
    fn address(&self) -> Address;

    /// Signs `request`.
    fn sign_authorization<'a>(&'a self, request: AuthorizationToSign<'a>) -> SignFuture<'a>;

    /// Signs a Permit2 permit (`upto`, `exact` by Permit2). The default refuses: a signer that
    /// implements only [`sign_authorization`](Self::sign_authorization) pays EIP-3009 options
    /// only (the policy prefers those anyway).
    fn sign_permit2<'a>(&'a self, request: Permit2ToSign<'a>) -> SignFuture<'a> {
        let _ = request;
        Box::pin(std::future::ready(Err(SignerError::new(
            "this signer does not sign Permit2 permits",
        ))))
    }
}

/// A signer failed; the message and the causes are the signer's.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SignerError(Box<dyn StdError + Send + Sync>);

impl SignerError {
    /// A failure described by `message` or wrapping an error.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// A local private key (feature `evm-signer`): signs the digest in process.
#[cfg(feature = "evm-signer")]
impl Signer for alloy_signer_local::PrivateKeySigner {
    fn address(&self) -> Address {
        alloy_signer_local::PrivateKeySigner::address(self)
    }

    fn sign_authorization<'a>(&'a self, request: AuthorizationToSign<'a>) -> SignFuture<'a> {
        use alloy_signer::SignerSync as _;
        let signed = self
            .sign_hash_sync(&request.digest)
            .map(|signature| Bytes::from(signature.as_bytes()))
            .map_err(SignerError::new);
        Box::pin(std::future::ready(signed))
    }

    fn sign_permit2<'a>(&'a self, request: Permit2ToSign<'a>) -> SignFuture<'a> {
        use alloy_signer::SignerSync as _;
        let signed = self
            .sign_hash_sync(&request.digest)
            .map(|signature| Bytes::from(signature.as_bytes()))
            .map_err(SignerError::new);
        Box::pin(std::future::ready(signed))
    }
}
