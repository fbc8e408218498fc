//! The payment exchange, framework-free: what the tower and actix adapters both run.
//!
//! A [`Gate`] holds the live route table (swappable through a [`RouteTableHandle`]), the
//! facilitator, the replay guard and the settings. For each request an adapter calls
//! [`Gate::admit`], which decides without I/O:
//!
//! - [`Admission::Pass`]: unmatched or free — call the handler untouched (no allocation);
//! - [`Admission::Reply`]: answer now — the 402 challenge (JSON, or an HTML paywall for
//!   browsers), a 402 re-challenge naming why a payment was refused, or a 400 for a path that
//!   cannot be matched safely;
//! - [`Admission::Pay`]: an [`AdmittedPayment`], decoded and through the local checks. The
//!   adapter then awaits [`AdmittedPayment::authorize`] (replay claim + facilitator verify;
//!   settle instead for an option of the `upfront` [flow](crate::flow), and settle after
//!   verifying in [`SettlementMode::BeforeHandler`]), which consumes it and returns an
//!   [`AuthorizedPayment`] and the typed [`Payment`]; it calls the handler with the
//!   [`Payment`] in the request extensions, and finally awaits
//!   [`AuthorizedPayment::settle_with`] with the handler's status and the charge it chose for
//!   an `upto` payment ([`overrides`]: the typed [`SettlementOverrides`] in the response
//!   extensions, or the `Settlement-Overrides` header, which the adapter removes) *before*
//!   sending the body: settlement happens only if the status is below 400, and a failed
//!   settlement replaces the handler's response.
//!
//! The order is in the types: only [`AdmittedPayment::authorize`] makes an
//! [`AuthorizedPayment`], and only that can settle, so an adapter cannot settle a payment the
//! facilitator has not verified. Dropping either before settlement (the client went away)
//! settles nothing and releases the replay claim.
//!
//! The replies carry machine-readable reasons ([`Reason`](crate::labels::Reason)) and the
//! statuses the workspace README lists under "What a request goes through": 402 for the
//! client's payment problems, 503 (with `Retry-After`) when the facilitator or the replay store
//! is unreachable, 502 when the facilitator answers nonsense — never a 402 for our own trouble.

mod admission;
mod builder;
pub mod headers;
mod ledgered;
pub mod overrides;
mod pending;
mod reply;
mod settlement;

use std::sync::Arc;

pub use self::{
    admission::Admission,
    builder::{GateBuilder, GateConfigError, PathRule, SettlementMode, UnmatchedPolicy},
    overrides::{OverrideError, SETTLEMENT_OVERRIDES_HEADER, SettlementOverrides},
    pending::{AdmittedPayment, AuthorizedPayment, Payment},
    reply::{PAYMENT_REQUIRED_TEXT, Reply},
    settlement::{PaymentOutcome, ResponseHeaders, Settlement},
};
use self::{builder::Config, reply::json_reply};
use crate::table::HeaderLookup;
/// The live table handle and the request view, re-exported from [`crate::table`] where they
/// live.
pub use crate::table::{RequestParts, RouteTableHandle, TableSwap};

/// The payment exchange shared by every adapter. Cheap to clone: one `Arc` (the adapters'
/// services are cloned per request).
#[derive(Debug, Clone)]
pub struct Gate {
    config: Arc<Config>,
}

impl Gate {
    /// A [discovery document](crate::discovery) of the live table for this request: `200`,
    /// JSON, cacheable for a minute. The origin in it is the one the 402's `resource.url` would
    /// have; routes limited to other hosts than the request's are not listed. The adapter
    /// decides where it is served ([`Listing::path`](crate::discovery::Listing::path) is the
    /// usual place).
    pub fn discovery<H: HeaderLookup + ?Sized>(
        &self,
        listing: crate::discovery::Listing,
        request: &RequestParts<'_, H>,
    ) -> Reply {
        let origin = self.url_with(request, "");
        let table = self.config.routes.load();
        let document =
            table.discovery_document(listing, &origin, request.host(), &self.config.api_info);
        Reply::document(document)
    }

    /// The route table handle (to swap the table while serving).
    pub fn routes(&self) -> &RouteTableHandle {
        &self.config.routes
    }

    /// The settlement mode.
    pub fn settlement_mode(&self) -> SettlementMode {
        self.config.settlement
    }

    /// Whether an adapter should read this request's body before the payment is claimed, so
    /// that the payment is bound to it (`AdmittedPayment::bind_body`); `None` (read nothing)
    /// unless the gate has a ledger and the request carries a payment header. Only a bound
    /// payment with a body can be served again when its request is retried.
    pub fn body_to_bind<H: HeaderLookup + ?Sized>(&self, headers: &H) -> Option<BodyToBind> {
        self.config.ledger.as_ref()?;
        headers
            .first("payment-signature")
            .or_else(|| headers.first("x-payment"))?;
        if headers.first("transfer-encoding").is_some() {
            return None;
        }
        match headers.first("content-length") {
            None => Some(BodyToBind::IfEmpty),
            Some(length) => {
                let length: usize = length.trim().parse().ok()?;
                (length > 0 && length <= self.config.max_bound_body_bytes)
                    .then_some(BodyToBind::Read(length))
            }
        }
    }
}

/// What [`Gate::body_to_bind`] asks of an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyToBind {
    /// Read the body, this many bytes (its `Content-Length`, at most
    /// [`GateBuilder::max_bound_body_bytes`]), and bind the payment to them.
    Read(usize),
    /// No length is given: bind the payment to an empty body if the adapter knows there is
    /// none (HTTP/1 framing without `Content-Length` or `Transfer-Encoding`, or a body that
    /// ended with the headers); otherwise leave it unbound (HTTP/2 needs no length).
    IfEmpty,
}

/// The default of [`GateBuilder::max_bound_body_bytes`]: 1 MiB.
pub const DEFAULT_MAX_BOUND_BODY_BYTES: usize = 1 << 20;
