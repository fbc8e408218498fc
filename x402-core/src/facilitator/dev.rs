//! The dev facilitator: an in-process [`Facilitator`] for tests, demos and the offline
//! quickstart.
//!
//! # Warning: it settles nothing on chain
//!
//! [`DevFacilitator`] checks payments with the local EVM checks ([`crate::evm`]) and records
//! "settlements" in memory. No transaction is sent, no token moves, and its transaction hashes
//! are made up. A server that uses it gives its resources away. Every response it writes says
//! so in its `extra` (`"devFacilitator": "settles nothing on chain"`).
//!
//! What it does, and how that compares with a real facilitator:
//!
//! - `verify`: the local checks (scheme, network, `to`, `value`, time window with the 6-second
//!   margin, the EIP-712 signature recovering to `from`), then its own state: an authorization
//!   it has settled is refused (`invalid_exact_evm_nonce_already_used`, as the token contract
//!   would), and, when balances are on, a payer short of funds is refused
//!   (`insufficient_funds`). Smart-wallet signatures (not 65 bytes) need a chain, so they are
//!   refused with `unsupported_signature`.
//! - `settle`: verify again, then record the authorization as used, debit the balance (when
//!   balances are on) and answer with a deterministic fake transaction hash,
//!   `keccak256(chainId as uint256 ‖ from ‖ nonce)`. Settling the same authorization twice
//!   fails the second time — unless built
//!   [`with_idempotent_settles`](DevFacilitator::with_idempotent_settles): then a repeat settle
//!   of the same payment (same payer, nonce, recipient, value and network) answers the first
//!   settlement's receipt again and records nothing, as a facilitator reconciling a repeat
//!   against the transaction it broadcast does (x402 `settlement_pending` recovery); the
//!   authorization still moves money once.
//! - Permit2 payments (`upto`, and `exact` with `assetTransferMethod: "permit2"`): the local
//!   Permit2 checks of [`crate::permit2`] (spender, recipient, the `upto` witness naming
//!   [`DEV_FACILITATOR_ADDRESS`], deadline, `validAfter`, token, the EIP-712 signature); at
//!   `/verify` the permitted amount must equal the requirement's `amount`, at `/settle` of an
//!   `upto` payment the requirement's `amount` is the charge and may be anything up to the
//!   permitted maximum: the partial settlement is recorded (`DevSettlement::value`), and a
//!   charge of zero records nothing and answers `amount: "0"` with an empty `transaction`, as the
//!   reference facilitator does. No allowance exists here, so `permit2_allowance_required` never
//!   comes from it.
//! - `supported`: the configured networks, each as a v2 kind (CAIP-2) and, when it has one, a
//!   v1 kind (its v1 name), scheme `exact`; and a v2 `upto` kind per network whose `extra`
//!   names [`DEV_FACILITATOR_ADDRESS`] as `facilitatorAddress`.
//!
//! # Example
//!
//! ```
//! use x402_core::evm::FixedClock;
//! use x402_core::facilitator::dev::{DevFacilitator, DevNetwork};
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! let facilitator = DevFacilitator::new([DevNetwork::base_sepolia()])
//!     .with_clock(FixedClock::new(1_795_346_121));
//!
//! // The `/verify` body the official 2.27 server sent in a recorded run.
//! let body = br#"{"x402Version":2,"paymentPayload":{"x402Version":2,"payload":{"authorization":{"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"1000","validAfter":"0","validBefore":"1795346421","nonce":"0xfecb86535ad56c274bcf4261af2c3d5b4ba2455df0241b90018922611c170204"},"signature":"0x1fcfe8cdd57f2331bc25389600e36f84cb070409d0d33accd04d31876cde068e503462d3e07239c63b2e5c36495892d3931e2bc46a7cc2cb30e7ab23883a578e1c"},"accepted":{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}},"paymentRequirements":{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}}"#;
//!
//! let verified = block_on(facilitator.verify_body(body)).unwrap();
//! assert!(verified.is_valid);
//! let settled = block_on(facilitator.settle_body(body)).unwrap();
//! assert!(settled.success);
//! assert_eq!(settled.network, "eip155:84532");
//! // The same authorization cannot be settled twice.
//! assert!(!block_on(facilitator.settle_body(body)).unwrap().success);
//! ```

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use alloy_primitives::{Address, B256, U256, keccak256};
use serde::Deserialize;
use serde_json::{Value, value::RawValue};

use super::{BoxFuture, Facilitator, FacilitatorError, FacilitatorRequest, Requirements};
use crate::{
    evm::{
        CheckError, CheckOptions, Clock, EXACT, SignatureCheck, SystemClock, check_payment_with,
        eip155_chain_id,
    },
    network::Network,
    permit2::{Permit2Terms, check_permit2},
    wire::PaymentPayload,
    wire::{
        JsonObject, Permit2Payload, SchemePayload, SettleResponse, SupportedKind,
        SupportedResponse, VerifyResponse, v1, v2,
    },
};

/// The key of the marker every response carries in its `extra`.
pub const DEV_MARKER_KEY: &str = "devFacilitator";
/// The marker's value.
pub const DEV_MARKER_VALUE: &str = "settles nothing on chain";

/// `invalidReason` for a smart-wallet signature, which the dev facilitator cannot check.
pub const UNSUPPORTED_SIGNATURE: &str = "unsupported_signature";
/// `invalidReason` / `errorReason` for an authorization already settled here.
pub const NONCE_ALREADY_USED: &str = "invalid_exact_evm_nonce_already_used";
/// `invalidReason` / `errorReason` for a payer short of funds (balances on).
pub const INSUFFICIENT_FUNDS: &str = "insufficient_funds";
/// `invalidReason` for a network the dev facilitator is not configured for.
pub const INVALID_NETWORK: &str = "invalid_network";
/// `invalidReason` / `errorReason` for an `upto` charge above the permitted maximum.
pub const UPTO_AMOUNT_EXCEEDS_PERMITTED: &str = "upto_amount_exceeds_permitted";

/// The facilitator address the dev facilitator advertises for `upto` (`facilitatorAddress` in
/// its `/supported`), which `upto` witnesses must name. A made-up address: no key exists.
pub const DEV_FACILITATOR_ADDRESS: Address =
    alloy_primitives::address!("00000000000000000000000000000000de7f4020");

/// A network the dev facilitator accepts payments on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevNetwork {
    caip2: String,
    v1_name: Option<String>,
    chain_id: u64,
}

impl DevNetwork {
    /// A network by its CAIP-2 id (`eip155:<chainId>`) and, for v1 payments, its v1 name.
    pub fn new(caip2: &str, v1_name: Option<&str>) -> Result<Self, DevError> {
        let chain_id = eip155_chain_id(caip2).ok_or_else(|| DevError::InvalidNetwork {
            network: caip2.to_owned(),
        })?;
        Ok(Self {
            caip2: caip2.to_owned(),
            v1_name: v1_name.map(str::to_owned),
            chain_id,
        })
    }

    /// A network from the network table ([`Network`]); only EVM networks qualify.
    pub fn from_network(network: &Network) -> Result<Self, DevError> {
        Self::new(network.caip2(), network.v1_name())
    }

    /// Base Sepolia: `eip155:84532`, v1 `base-sepolia`.
    pub fn base_sepolia() -> Self {
        Self {
            caip2: "eip155:84532".to_owned(),
            v1_name: Some("base-sepolia".to_owned()),
            chain_id: 84_532,
        }
    }

    /// The CAIP-2 id.
    pub fn caip2(&self) -> &str {
        &self.caip2
    }

    /// The v1 name, if v1 payments are accepted on this network.
    pub fn v1_name(&self) -> Option<&str> {
        self.v1_name.as_deref()
    }

    /// The EIP-155 chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }
}

/// One payment the dev facilitator pretended to settle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DevSettlement {
    /// `authorization.from`.
    pub payer: Address,
    /// `authorization.to`.
    pub pay_to: Address,
    /// `authorization.value`.
    pub value: U256,
    /// `authorization.nonce`.
    pub nonce: B256,
    /// The network as the payment named it (v1 name or CAIP-2).
    pub network: String,
    /// The fake transaction hash.
    pub transaction: B256,
}

impl DevSettlement {
    /// Whether `accepted` is this very payment settled again.
    fn same_payment(&self, accepted: &Accepted, transaction: B256) -> bool {
        self.transaction == transaction
            && self.payer == accepted.payer
            && self.nonce == accepted.nonce
            && self.pay_to == accepted.pay_to
            && self.value == accepted.value
            && self.network == accepted.network
    }
}

/// Why a facilitator request body could not be handled (answer 400), or a network could not be
/// configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevError {
    /// The body is not `{x402Version, paymentPayload, paymentRequirements}` JSON.
    #[error("the request body is not {{x402Version, paymentPayload, paymentRequirements}} JSON")]
    InvalidBody(#[source] serde_json::Error),
    /// `x402Version` is neither 1 nor 2.
    #[error("x402Version {0} is not supported (1 or 2)")]
    UnsupportedVersion(u64),
    /// `paymentPayload` or `paymentRequirements` is not valid for the body's `x402Version`.
    #[error("{field} is not a valid x402Version {version} object")]
    InvalidField {
        /// `"paymentPayload"` or `"paymentRequirements"`.
        field: &'static str,
        /// The body's `x402Version`.
        version: u8,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A configured network is not `eip155:<chainId>`.
    #[error("network {network:?} is not an EVM network (eip155:<chainId>)")]
    InvalidNetwork {
        /// The network as given.
        network: String,
    },
}

#[derive(Debug, Default)]
struct Ledger {
    /// Settled authorizations, `(from, nonce)` → transaction hash.
    used: HashMap<(Address, B256), B256>,
    /// Balances by payer; `None` = unlimited funds.
    balances: Option<HashMap<Address, U256>>,
    settlements: Vec<DevSettlement>,
}

impl Ledger {
    fn refuse(&self, payer: Address, nonce: B256, value: U256) -> Option<(&'static str, String)> {
        if self.used.contains_key(&(payer, nonce)) {
            return Some((
                NONCE_ALREADY_USED,
                format!("authorization {nonce} of {payer} has already been settled"),
            ));
        }
        if let Some(balances) = &self.balances {
            let balance = balances.get(&payer).copied().unwrap_or_default();
            if balance < value {
                return Some((
                    INSUFFICIENT_FUNDS,
                    format!("{payer} has {balance}, needs {value}"),
                ));
            }
        }
        None
    }
}

/// An in-process facilitator for tests and demos. **It settles nothing on chain**: see the
/// [module docs](self).
#[derive(Debug)]
pub struct DevFacilitator {
    networks: Vec<DevNetwork>,
    supported: Arc<SupportedResponse>,
    clock: Arc<dyn Clock>,
    options: CheckOptions,
    marker: JsonObject,
    ledger: Mutex<Ledger>,
    idempotent_settles: bool,
}

/// A payment that passed every check, about to be answered or recorded.
struct Accepted {
    payer: Address,
    pay_to: Address,
    value: U256,
    nonce: B256,
    chain_id: u64,
    network: String,
    v2: bool,
}

/// A refused payment: `(reason, message, payer)`.
struct Refused {
    reason: &'static str,
    message: String,
    payer: Option<Address>,
}

impl DevFacilitator {
    /// A dev facilitator accepting `exact` payments on `networks`, with the system clock,
    /// the default checks and unlimited funds.
    ///
    /// **For tests and demos only: it settles nothing on chain**, so a server using it gives
    /// its resources away.
    pub fn new(networks: impl IntoIterator<Item = DevNetwork>) -> Self {
        let networks: Vec<DevNetwork> = networks.into_iter().collect();
        let mut marker = JsonObject::new();
        marker.insert(DEV_MARKER_KEY.to_owned(), Value::from(DEV_MARKER_VALUE));
        let supported = Arc::new(supported_response(&networks, &marker));
        Self {
            networks,
            supported,
            clock: Arc::new(SystemClock),
            options: CheckOptions::default(),
            marker,
            ledger: Mutex::default(),
            idempotent_settles: false,
        }
    }

    /// A repeat settle of a payment already settled here answers its first receipt again
    /// (success, the same transaction hash) and records nothing, instead of failing with
    /// [`NONCE_ALREADY_USED`]: what a facilitator that reconciles a repeated `/settle` of the
    /// same payload against its broadcast transaction answers. A *different* payment reusing
    /// the nonce (another recipient, value or network) is still refused. `/verify` of a settled
    /// authorization is still refused either way.
    #[must_use]
    pub fn with_idempotent_settles(mut self) -> Self {
        self.idempotent_settles = true;
        self
    }

    /// With another clock (a [`FixedClock`](crate::evm::FixedClock) in tests).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// With other local check options (e.g. another `validBefore` margin). With the signature
    /// check off, signatures are not checked at all.
    #[must_use]
    pub fn with_check_options(mut self, options: CheckOptions) -> Self {
        self.options = options;
        self
    }

    /// With balance tracking on and these starting balances. Payers not listed have none.
    #[must_use]
    pub fn with_balances(self, balances: impl IntoIterator<Item = (Address, U256)>) -> Self {
        self.ledger().balances = Some(balances.into_iter().collect());
        self
    }

    /// Sets a payer's balance, turning balance tracking on if it was off (other payers then
    /// have none).
    pub fn set_balance(&self, payer: Address, amount: U256) {
        self.ledger()
            .balances
            .get_or_insert_with(HashMap::new)
            .insert(payer, amount);
    }

    /// A payer's balance; `None` when balances are off (unlimited funds).
    pub fn balance(&self, payer: Address) -> Option<U256> {
        let ledger = self.ledger();
        let balances = ledger.balances.as_ref()?;
        Some(balances.get(&payer).copied().unwrap_or_default())
    }

    /// The payments "settled" so far, oldest first.
    pub fn settlements(&self) -> Vec<DevSettlement> {
        self.ledger().settlements.clone()
    }

    /// The configured networks.
    pub fn networks(&self) -> &[DevNetwork] {
        &self.networks
    }

    /// `POST /verify` on a raw request body `{x402Version, paymentPayload,
    /// paymentRequirements}` (v1 or v2). An invalid payment is `Ok` with `isValid: false`; an
    /// unreadable body is a [`DevError`] (answer 400).
    pub async fn verify_body(&self, body: &[u8]) -> Result<VerifyResponse, DevError> {
        let (payment, requirements) = parse_body(body)?;
        Ok(self.verify_payment(&payment, requirements.as_requirements()))
    }

    /// `POST /settle` on a raw request body, as [`verify_body`](Self::verify_body).
    pub async fn settle_body(&self, body: &[u8]) -> Result<SettleResponse, DevError> {
        let (payment, requirements) = parse_body(body)?;
        Ok(self.settle_payment(&payment, requirements.as_requirements()))
    }

    /// Verifies a typed payment against a requirement.
    pub fn verify_payment(
        &self,
        payment: &PaymentPayload,
        requirements: Requirements<'_>,
    ) -> VerifyResponse {
        let outcome = self
            .check(payment, requirements, false)
            .and_then(|accepted| {
                match self
                    .ledger()
                    .refuse(accepted.payer, accepted.nonce, accepted.value)
                {
                    Some((reason, message)) => Err(Refused {
                        reason,
                        message,
                        payer: Some(accepted.payer),
                    }),
                    None => Ok(accepted),
                }
            });
        match outcome {
            Ok(accepted) => VerifyResponse {
                is_valid: true,
                invalid_reason: None,
                invalid_message: None,
                payer: Some(accepted.payer.to_string()),
                extensions: None,
                extra: Some(self.marker.clone()),
            },
            Err(refused) => VerifyResponse {
                is_valid: false,
                invalid_reason: Some(refused.reason.to_owned()),
                invalid_message: Some(refused.message),
                payer: refused.payer.map(|payer| payer.to_string()),
                extensions: None,
                extra: Some(self.marker.clone()),
            },
        }
    }

    /// Settles a typed payment: verifies it, then records it. Nothing happens on chain.
    pub fn settle_payment(
        &self,
        payment: &PaymentPayload,
        requirements: Requirements<'_>,
    ) -> SettleResponse {
        let outcome = self
            .check(payment, requirements, true)
            .and_then(|accepted| {
                if accepted.value.is_zero() {
                    // An `upto` charge of zero moves nothing and uses no nonce.
                    return Ok((accepted, None));
                }
                self.record(accepted).map(|(a, tx)| (a, Some(tx)))
            });
        match outcome {
            Ok((accepted, transaction)) => SettleResponse {
                success: true,
                error_reason: None,
                error_message: None,
                payer: Some(accepted.payer.to_string()),
                transaction: transaction.map(|tx| tx.to_string()).unwrap_or_default(),
                network: accepted.network,
                amount: accepted.v2.then(|| accepted.value.to_string()),
                extensions: None,
                extra: Some(self.marker.clone()),
            },
            Err(refused) => SettleResponse {
                success: false,
                error_reason: Some(refused.reason.to_owned()),
                error_message: Some(refused.message),
                payer: refused.payer.map(|payer| payer.to_string()),
                transaction: String::new(),
                network: payment_network(payment).to_owned(),
                amount: None,
                extensions: None,
                extra: Some(self.marker.clone()),
            },
        }
    }

    /// The stateless checks: a configured network, then the local EVM checks.
    fn check(
        &self,
        payment: &PaymentPayload,
        requirements: Requirements<'_>,
        settling: bool,
    ) -> Result<Accepted, Refused> {
        let claimed_payer = claimed_payer(payment);
        let (network, v2) = match requirements {
            Requirements::V2(requirement) => (
                self.networks
                    .iter()
                    .find(|known| known.caip2 == requirement.network),
                true,
            ),
            Requirements::V1(requirement) => (
                self.networks
                    .iter()
                    .find(|known| known.v1_name.as_deref() == Some(&requirement.network)),
                false,
            ),
        };
        let Some(network) = network else {
            let named = match requirements {
                Requirements::V2(requirement) => &requirement.network,
                Requirements::V1(requirement) => &requirement.network,
            };
            return Err(Refused {
                reason: INVALID_NETWORK,
                message: format!("the dev facilitator is not configured for network {named:?}"),
                payer: claimed_payer,
            });
        };
        if let (PaymentPayload::V2(v2_payment), Requirements::V2(requirement)) =
            (payment, requirements)
            && let SchemePayload::Other(object) = &v2_payment.payload
            && Permit2Payload::is_permit2(object)
        {
            return self.check_permit2(v2_payment, object, requirement, network, settling);
        }
        let refuse = |error: CheckError| Refused {
            reason: error.invalid_reason(),
            message: error.to_string(),
            payer: claimed_payer,
        };
        let verdict = check_payment_with(
            payment,
            requirements,
            self.clock.now(),
            &self.options,
            |_| Ok(network.chain_id),
        )
        .map_err(refuse)?;
        if let SignatureCheck::SmartWallet { len } = verdict.signature {
            return Err(Refused {
                reason: UNSUPPORTED_SIGNATURE,
                message: format!(
                    "a {len}-byte smart-wallet signature needs a chain; the dev facilitator checks only 65-byte ECDSA signatures"
                ),
                payer: claimed_payer,
            });
        }
        // `check_payment_with` succeeded, so the payload is EIP-3009.
        let Some(authorization) = exact_evm(payment).map(|payload| &payload.authorization) else {
            return Err(refuse(CheckError::UnsupportedPayload));
        };
        Ok(Accepted {
            payer: verdict.payer,
            pay_to: authorization.to,
            value: authorization.value,
            nonce: authorization.nonce,
            chain_id: network.chain_id,
            network: payment_network(payment).to_owned(),
            v2,
        })
    }

    /// The checks of a Permit2 payment (`upto`, or `exact` by Permit2). The payer's agreed
    /// maximum is `accepted.amount`; the requirement's `amount` is the charge (equal to it
    /// except when settling `upto`).
    fn check_permit2(
        &self,
        payment: &v2::PaymentPayload,
        object: &JsonObject,
        requirement: &v2::PaymentRequirements,
        network: &DevNetwork,
        settling: bool,
    ) -> Result<Accepted, Refused> {
        let refused = |reason: &'static str, message: String, payer: Option<Address>| Refused {
            reason,
            message,
            payer,
        };
        let upto = requirement.scheme == UPTO;
        if !upto
            && (requirement.scheme != EXACT
                || crate::mechanism::transfer_method(requirement.extra.as_ref()) != Some("permit2"))
        {
            return Err(refused(
                "unsupported_payload_type",
                "a Permit2 payload pays `upto`, or `exact` with assetTransferMethod permit2"
                    .to_owned(),
                None,
            ));
        }
        let payload = Permit2Payload::from_object(object)
            .map_err(|e| refused("invalid_permit2_payload", format!("payload: {e}"), None))?;
        let auth = &payload.permit2_authorization;
        let payer = Some(auth.from);
        let parse = |field: &'static str, text: &str| {
            text.parse::<Address>().map_err(|_| {
                refused(
                    "invalid_payment_requirements",
                    format!("{field} {text:?} is not an address"),
                    payer,
                )
            })
        };
        let amount = |field: &'static str, text: &str| {
            U256::from_str_radix(text, 10).map_err(|_| {
                refused(
                    "invalid_payment_requirements",
                    format!("{field} {text:?} is not a decimal amount"),
                    payer,
                )
            })
        };
        let maximum = amount("accepted.amount", &payment.accepted.amount)?;
        let charge = amount("amount", &requirement.amount)?;
        if upto && settling {
            if charge > maximum {
                return Err(refused(
                    UPTO_AMOUNT_EXCEEDS_PERMITTED,
                    format!("charge {charge} is above the permitted {maximum}"),
                    payer,
                ));
            }
        } else if charge != maximum {
            return Err(refused(
                "permit2_amount_mismatch",
                format!("amount {charge} is not the accepted {maximum}"),
                payer,
            ));
        }
        let terms = Permit2Terms {
            chain_id: network.chain_id,
            asset: parse("asset", &requirement.asset)?,
            pay_to: parse("payTo", &requirement.pay_to)?,
            amount: maximum,
            spender: if upto {
                crate::permit2::UPTO_PERMIT2_PROXY
            } else {
                crate::permit2::EXACT_PERMIT2_PROXY
            },
            facilitator: upto.then_some(DEV_FACILITATOR_ADDRESS),
        };
        if self.options.check_signature && payload.signature.len() != 65 {
            return Err(refused(
                UNSUPPORTED_SIGNATURE,
                format!(
                    "a {}-byte signature needs a chain; the dev facilitator checks only 65-byte ECDSA signatures",
                    payload.signature.len()
                ),
                payer,
            ));
        }
        check_permit2(
            &payload,
            &terms,
            self.clock.now(),
            self.options.check_signature,
        )
        .map_err(|e| refused(e.invalid_reason(), e.to_string(), payer))?;
        // Permit2 nonces belong to the owner, not the token: kept apart from EIP-3009 nonces.
        let mut preimage = [0u8; 39];
        preimage[..7].copy_from_slice(b"permit2");
        preimage[7..].copy_from_slice(&auth.nonce.to_be_bytes::<32>());
        Ok(Accepted {
            payer: auth.from,
            pay_to: terms.pay_to,
            value: charge,
            nonce: keccak256(preimage),
            chain_id: network.chain_id,
            network: payment.accepted.network.clone(),
            v2: true,
        })
    }

    /// Marks the authorization used and debits the payer, atomically.
    fn record(&self, accepted: Accepted) -> Result<(Accepted, B256), Refused> {
        let transaction = fake_transaction_hash(accepted.chain_id, accepted.payer, accepted.nonce);
        let mut ledger = self.ledger();
        if self.idempotent_settles
            && ledger
                .settlements
                .iter()
                .any(|s| s.same_payment(&accepted, transaction))
        {
            // The same payment again: its first receipt, nothing moves twice.
            drop(ledger);
            return Ok((accepted, transaction));
        }
        if let Some((reason, message)) =
            ledger.refuse(accepted.payer, accepted.nonce, accepted.value)
        {
            return Err(Refused {
                reason,
                message,
                payer: Some(accepted.payer),
            });
        }
        if let Some(balance) = ledger
            .balances
            .as_mut()
            .and_then(|balances| balances.get_mut(&accepted.payer))
        {
            // `refuse` checked the balance covers the value.
            *balance = balance.saturating_sub(accepted.value);
        }
        ledger
            .used
            .insert((accepted.payer, accepted.nonce), transaction);
        ledger.settlements.push(DevSettlement {
            payer: accepted.payer,
            pay_to: accepted.pay_to,
            value: accepted.value,
            nonce: accepted.nonce,
            network: accepted.network.clone(),
            transaction,
        });
        drop(ledger);
        Ok((accepted, transaction))
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // The ledger is consistent after every statement, so a panic elsewhere cannot have
        // left it half-updated.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Facilitator for DevFacilitator {
    fn verify<'a>(
        &'a self,
        request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<VerifyResponse, FacilitatorError>> {
        Box::pin(async move { Ok(self.verify_payment(request.payment(), request.requirements())) })
    }

    fn settle<'a>(
        &'a self,
        request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<SettleResponse, FacilitatorError>> {
        Box::pin(async move { Ok(self.settle_payment(request.payment(), request.requirements())) })
    }

    fn supported(&self) -> BoxFuture<'_, Result<Arc<SupportedResponse>, FacilitatorError>> {
        Box::pin(async move { Ok(Arc::clone(&self.supported)) })
    }
}

/// The fake transaction hash of a dev settlement: `keccak256(chainId as uint256 ‖ from ‖
/// nonce)`.
pub fn fake_transaction_hash(chain_id: u64, payer: Address, nonce: B256) -> B256 {
    let mut preimage = [0u8; 32 + 20 + 32];
    preimage[..32].copy_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
    preimage[32..52].copy_from_slice(payer.as_slice());
    preimage[52..].copy_from_slice(nonce.as_slice());
    keccak256(preimage)
}

fn supported_response(networks: &[DevNetwork], marker: &JsonObject) -> SupportedResponse {
    let kind = |x402_version: u8, network: &str| SupportedKind {
        x402_version,
        scheme: EXACT.to_owned(),
        network: network.to_owned(),
        extra: Some(marker.clone()),
    };
    let v2_kinds = networks.iter().map(|network| kind(2, &network.caip2));
    let v1_kinds = networks
        .iter()
        .filter_map(|network| Some(kind(1, network.v1_name.as_deref()?)));
    let upto_kinds = networks.iter().map(|network| {
        let mut extra = marker.clone();
        extra.insert(
            crate::mechanism::FACILITATOR_ADDRESS_KEY.to_owned(),
            Value::from(DEV_FACILITATOR_ADDRESS.to_checksum(None)),
        );
        SupportedKind {
            x402_version: 2,
            scheme: UPTO.to_owned(),
            network: network.caip2.clone(),
            extra: Some(extra),
        }
    });
    SupportedResponse {
        kinds: v2_kinds.chain(v1_kinds).chain(upto_kinds).collect(),
        extensions: Vec::new(),
        signers: serde_json::Map::new(),
    }
}

fn exact_evm(payment: &PaymentPayload) -> Option<&crate::wire::ExactEvmPayload> {
    let payload = match payment {
        PaymentPayload::V1(payment) => &payment.payload,
        PaymentPayload::V2(payment) => &payment.payload,
    };
    match payload {
        SchemePayload::ExactEvm(payload) => Some(payload),
        SchemePayload::Other(_) => None,
    }
}

fn claimed_payer(payment: &PaymentPayload) -> Option<Address> {
    exact_evm(payment).map(|payload| payload.authorization.from)
}

/// The scheme of `upto` payments.
const UPTO: &str = "upto";

fn payment_network(payment: &PaymentPayload) -> &str {
    match payment {
        PaymentPayload::V1(payment) => &payment.network,
        PaymentPayload::V2(payment) => &payment.accepted.network,
    }
}

/// The parsed requirement of a request body, owned.
enum OwnedRequirements {
    V1(v1::PaymentRequirements),
    V2(v2::PaymentRequirements),
}

impl OwnedRequirements {
    fn as_requirements(&self) -> Requirements<'_> {
        match self {
            Self::V1(requirement) => Requirements::V1(requirement),
            Self::V2(requirement) => Requirements::V2(requirement),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestBody<'a> {
    x402_version: u64,
    #[serde(borrow)]
    payment_payload: &'a RawValue,
    #[serde(borrow)]
    payment_requirements: &'a RawValue,
}

fn parse_body(body: &[u8]) -> Result<(PaymentPayload, OwnedRequirements), DevError> {
    let body: RequestBody<'_> = serde_json::from_slice(body).map_err(DevError::InvalidBody)?;
    fn field<'de, T: Deserialize<'de>>(
        raw: &'de RawValue,
        field: &'static str,
        version: u8,
    ) -> Result<T, DevError> {
        serde_json::from_str(raw.get()).map_err(|source| DevError::InvalidField {
            field,
            version,
            source,
        })
    }
    match body.x402_version {
        1 => Ok((
            PaymentPayload::V1(field(body.payment_payload, "paymentPayload", 1)?),
            OwnedRequirements::V1(field(body.payment_requirements, "paymentRequirements", 1)?),
        )),
        2 => Ok((
            PaymentPayload::V2(field(body.payment_payload, "paymentPayload", 2)?),
            OwnedRequirements::V2(field(body.payment_requirements, "paymentRequirements", 2)?),
        )),
        other => Err(DevError::UnsupportedVersion(other)),
    }
}
