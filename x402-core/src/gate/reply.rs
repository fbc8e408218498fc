//! The gate's own responses: challenges, rejections and facilitator trouble.

use std::borrow::Cow;

use bytes::Bytes;

use super::{
    Gate,
    headers::{self, Header},
};
use crate::{
    facilitator::FacilitatorError,
    labels::{ErrorCode, Outcome, Reason},
    offer::Offer,
    paywall,
    table::Route,
    telemetry::{self, RouteSeries},
};

/// The error text of a plain challenge (what the official server sends).
pub const PAYMENT_REQUIRED_TEXT: &str = "Payment required";

/// A response produced by the gate (challenge, rejection, facilitator trouble).
#[derive(Debug, Clone)]
pub struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(Header, Cow<'static, str>)>,
    pub(super) body: Bytes,
    pub(super) outcome: Outcome,
    pub(super) reason: Option<Reason>,
}

impl Reply {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, names as the protocol spells them (HTTP is case-insensitive).
    pub fn headers(&self) -> &[(Header, Cow<'static, str>)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, owned.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// The headers and the body, owned: what an adapter moves into its response (no copy).
    pub fn into_parts(self) -> (Vec<(Header, Cow<'static, str>)>, Bytes) {
        (self.headers, self.body)
    }

    /// What happened (for metrics and logs).
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Why a payment was refused, when it was.
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }
}

impl Reply {
    /// `200` with a JSON document that crawlers may cache for a minute.
    pub(super) fn document(json: String) -> Self {
        Self {
            status: 200,
            headers: vec![
                (Header::ContentType, Cow::Borrowed(headers::JSON)),
                (Header::CacheControl, Cow::Borrowed(headers::PUBLIC_MINUTE)),
            ],
            body: Bytes::from(json),
            outcome: Outcome::Free,
            reason: None,
        }
    }
}

impl Gate {
    pub(super) fn challenge(
        &self,
        offer: &Offer,
        url: &str,
        error: &str,
        reason: Option<Reason>,
        browser: bool,
    ) -> Reply {
        let header = offer.payment_required_header(url, error);
        let (content_type, body) = if browser && self.config.paywall && reason.is_none() {
            (headers::HTML, Bytes::from(paywall::render(offer, url)))
        } else {
            let body = if self.config.v1 {
                offer.v1_body(url, error).map(Bytes::from)
            } else {
                None
            };
            (
                headers::JSON,
                body.unwrap_or_else(|| Bytes::from_static(b"{}")),
            )
        };
        Reply {
            status: 402,
            headers: vec![
                (Header::PaymentRequired, Cow::Owned(header)),
                (Header::ContentType, Cow::Borrowed(content_type)),
                (Header::CacheControl, Cow::Borrowed(headers::NO_STORE)),
                (
                    Header::AccessControlExposeHeaders,
                    Cow::Borrowed(headers::EXPOSE_VALUE),
                ),
            ],
            body,
            outcome: if reason.is_some() {
                Outcome::Rejected
            } else {
                Outcome::PaymentRequired
            },
            reason,
        }
    }

    /// A 402 re-challenge naming why the payment was refused (`detail` overrides the text, e.g.
    /// the facilitator's own reason).
    pub(super) fn reject(
        &self,
        route: &Route,
        offer: &Offer,
        url: &str,
        reason: Reason,
        detail: Option<&str>,
    ) -> Reply {
        telemetry::rejection(route.series(), reason);
        telemetry::request(route.series(), Outcome::Rejected);
        self.challenge(
            offer,
            url,
            detail.unwrap_or(reason.as_str()),
            Some(reason),
            false,
        )
    }

    pub(super) fn facilitator_trouble(
        &self,
        series: &RouteSeries,
        error: &FacilitatorError,
    ) -> Reply {
        telemetry::request(series, Outcome::FacilitatorError);
        let mut reply = json_reply(
            error.status(),
            Outcome::FacilitatorError,
            None,
            error.code(),
            "the payment facilitator could not process this payment; try again later",
            error.is_retriable(),
        );
        if error.status() == 503 {
            reply.headers.push((
                Header::RetryAfter,
                Cow::Owned(self.config.retry_after_seconds.to_string()),
            ));
        }
        reply
    }
}

pub(super) fn json_reply(
    status: u16,
    outcome: Outcome,
    reason: Option<Reason>,
    code: ErrorCode,
    message: &str,
    retriable: bool,
) -> Reply {
    let body = serde_json::json!({ "error": message, "reason": code, "retriable": retriable });
    Reply {
        status,
        headers: vec![
            (Header::ContentType, Cow::Borrowed(headers::JSON)),
            (Header::CacheControl, Cow::Borrowed(headers::NO_STORE)),
            (
                Header::AccessControlExposeHeaders,
                Cow::Borrowed(headers::EXPOSE_VALUE),
            ),
        ],
        body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        outcome,
        reason,
    }
}
