//! A facilitator whose answers are scripted per test, with call counters.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;
use x402_core::{
    facilitator::{BoxFuture, Facilitator, FacilitatorError, FacilitatorRequest},
    labels::FacilitatorOperation,
    wire::{SettleResponse, SupportedKind, SupportedResponse, VerifyResponse},
};

/// The transaction hash the scripted facilitator reports for a successful settlement.
pub const TX: &str = "0xabababababababababababababababababababababababababababababababab";

/// What the facilitator does for one operation.
#[derive(Debug, Clone)]
pub enum Script {
    /// `isValid: true` / `success: true`.
    Accept,
    /// `isValid: false` / `success: false` with this reason.
    Refuse(&'static str),
    /// Unreachable (503 to the client).
    Unavailable,
    /// Timed out (503 to the client).
    Timeout,
    /// Nonsense answer (502 to the client).
    Malformed,
    /// Settlement outcome unknown, with a transaction hash.
    SettleUnknown(&'static str),
    /// `settlement_pending` with this transaction hash: broadcast, not confirmed yet.
    SettlementPending(&'static str),
    /// Wait, then act.
    Delay(Duration, Box<Script>),
}

/// An in-process [`Facilitator`] following a script and counting calls.
#[derive(Debug)]
pub struct ScriptedFacilitator {
    verify: Mutex<Script>,
    settle: Mutex<Script>,
    /// Scripts for the next settle calls, one each, before `settle` applies again.
    settle_next: Mutex<std::collections::VecDeque<Script>>,
    /// Verify calls so far, watched so a test can wait for the n-th one.
    verify_calls: watch::Sender<usize>,
    settle_calls: AtomicUsize,
    /// The `amount` of the requirement of every settle call, in order.
    settle_amounts: Mutex<Vec<String>>,
}

impl Default for ScriptedFacilitator {
    fn default() -> Self {
        Self {
            verify: Mutex::new(Script::Accept),
            settle: Mutex::new(Script::Accept),
            settle_next: Mutex::default(),
            verify_calls: watch::Sender::new(0),
            settle_calls: AtomicUsize::new(0),
            settle_amounts: Mutex::new(Vec::new()),
        }
    }
}

impl ScriptedFacilitator {
    /// A facilitator accepting everything.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Scripts `/verify`.
    pub fn on_verify(&self, script: Script) {
        *self.verify.lock().unwrap() = script;
    }

    /// Scripts `/settle`.
    pub fn on_settle(&self, script: Script) {
        *self.settle.lock().unwrap() = script;
    }

    /// Scripts the next settle calls, one script each; then [`on_settle`](Self::on_settle)'s
    /// script applies again.
    pub fn on_next_settles(&self, scripts: impl IntoIterator<Item = Script>) {
        self.settle_next.lock().unwrap().extend(scripts);
    }

    /// How many verify calls were made.
    pub fn verify_calls(&self) -> usize {
        *self.verify_calls.borrow()
    }

    /// Waits until at least `n` verify calls have been made: the hand-off a test uses to act
    /// while a paid request is known to be in flight.
    pub async fn verify_called(&self, n: usize) {
        let mut calls = self.verify_calls.subscribe();
        calls
            .wait_for(|&calls| calls >= n)
            .await
            .expect("the facilitator holds its own sender");
    }

    /// How many settle calls were made.
    pub fn settle_calls(&self) -> usize {
        self.settle_calls.load(Ordering::SeqCst)
    }

    /// The requirement `amount` each settle call asked for, in order (for `upto`, the charge).
    pub fn settle_amounts(&self) -> Vec<String> {
        self.settle_amounts.lock().unwrap().clone()
    }
}

fn error(operation: FacilitatorOperation, script: &Script) -> Option<FacilitatorError> {
    let facilitator = "scripted".into();
    match script {
        Script::Unavailable => Some(FacilitatorError::Unavailable {
            facilitator,
            operation,
            detail: "scripted outage".into(),
        }),
        Script::Timeout => Some(FacilitatorError::Timeout {
            facilitator,
            operation,
            after: Duration::from_secs(5),
        }),
        Script::Malformed => Some(FacilitatorError::Malformed {
            facilitator,
            operation,
            detail: "scripted nonsense".into(),
        }),
        Script::SettleUnknown(tx) => Some(FacilitatorError::SettleUnknown {
            facilitator,
            transaction: Some((*tx).to_owned()),
            detail: "scripted unknown outcome".into(),
        }),
        // What the HTTP client makes of a `settlement_pending` answer.
        Script::SettlementPending(tx) => Some(FacilitatorError::SettleUnknown {
            facilitator,
            transaction: Some((*tx).to_owned()),
            detail: "status 200: settlement_pending".into(),
        }),
        Script::Accept | Script::Refuse(_) | Script::Delay(..) => None,
    }
}

async fn unwind(mut script: Script) -> Script {
    while let Script::Delay(delay, next) = script {
        tokio::time::sleep(delay).await;
        script = *next;
    }
    script
}

fn network_of(request: &FacilitatorRequest<'_>) -> String {
    match request.requirements() {
        x402_core::facilitator::Requirements::V1(r) => r.network.clone(),
        x402_core::facilitator::Requirements::V2(r) => r.network.clone(),
    }
}

impl Facilitator for ScriptedFacilitator {
    fn verify<'a>(
        &'a self,
        request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<VerifyResponse, FacilitatorError>> {
        self.verify_calls.send_modify(|calls| *calls += 1);
        let script = self.verify.lock().unwrap().clone();
        Box::pin(async move {
            let script = unwind(script).await;
            if let Some(error) = error(FacilitatorOperation::Verify, &script) {
                return Err(error);
            }
            let _ = request;
            Ok(match script {
                Script::Refuse(reason) => VerifyResponse::invalid(reason),
                _ => VerifyResponse::valid(None),
            })
        })
    }

    fn settle<'a>(
        &'a self,
        request: &'a FacilitatorRequest<'a>,
    ) -> BoxFuture<'a, Result<SettleResponse, FacilitatorError>> {
        self.settle_calls.fetch_add(1, Ordering::SeqCst);
        let amount = match request.requirements() {
            x402_core::facilitator::Requirements::V1(r) => r.max_amount_required.clone(),
            x402_core::facilitator::Requirements::V2(r) => r.amount.clone(),
        };
        self.settle_amounts.lock().unwrap().push(amount);
        let next = self.settle_next.lock().unwrap().pop_front();
        let script = next.unwrap_or_else(|| self.settle.lock().unwrap().clone());
        Box::pin(async move {
            let script = unwind(script).await;
            if let Some(error) = error(FacilitatorOperation::Settle, &script) {
                return Err(error);
            }
            let success = matches!(script, Script::Accept);
            let mut settled =
                SettleResponse::success(if success { TX } else { "" }, network_of(request));
            settled.success = success;
            settled.error_reason = match script {
                Script::Refuse(reason) => Some(reason.to_owned()),
                _ => None,
            };
            Ok(settled)
        })
    }

    fn supported(&self) -> BoxFuture<'_, Result<Arc<SupportedResponse>, FacilitatorError>> {
        Box::pin(async {
            Ok(Arc::new(SupportedResponse::new(vec![SupportedKind::new(
                2,
                "exact",
                "eip155:84532",
            )])))
        })
    }
}
