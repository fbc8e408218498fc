//! The request decision: [`Gate::admit`] matches the route, reads and decodes the payment
//! header, and runs the local checks, without I/O.

use std::sync::OnceLock;

use super::{
    AdmittedPayment, Gate, PAYMENT_REQUIRED_TEXT, PathRule, Reply, UnmatchedPolicy, json_reply,
    ledgered::LedgerRequest,
};
use crate::{
    codec::{self, DecodeError, DecodedPayment, PaymentHeader},
    labels::{ErrorCode, Outcome, Reason},
    mechanism::Checked,
    offer::Accept,
    path::{self, PathError},
    payment_identifier::{self, PaymentId, PaymentIdentifier},
    replay::ReplayKey,
    table::{HeaderLookup, RequestParts, Route, RouteMatch},
    telemetry,
    wire::{PaymentPayload, SchemePayload, v1},
};

/// What to do with a request. (Deliberately exhaustive: a new kind of admission is a breaking
/// change every adapter must handle, not a case a wildcard arm could pass through.)
#[derive(Debug)]
pub enum Admission {
    /// Not priced: call the handler untouched.
    Pass,
    /// Answer with this reply; the handler is not called.
    Reply(Reply),
    /// A payment to authorize, then the handler, then settlement. (Boxed: the common,
    /// unpriced answers stay small.)
    Pay(Box<AdmittedPayment>),
}

impl Gate {
    /// Decides what to do with a request, without I/O. One table load; no allocation when the
    /// request is not priced.
    pub fn admit<H: HeaderLookup + ?Sized>(&self, request: &RequestParts<'_, H>) -> Admission {
        // The gateway's rule: a spelling servers read differently is refused, unless it reaches a
        // priced route that accepts it (`allowAmbiguousPath`) and is charged there.
        let ambiguous = match self.config.path_rule {
            // The byte scan only: the table match below parses (and refuses) the rest.
            PathRule::Gateway => path::gateway::scan_ambiguous(request.path_and_query).err(),
            PathRule::Embedded => None,
        };
        let table = self.config.routes.guard();
        let matched = table.match_request(request);
        if let Some(error) = &ambiguous
            && !matches!(&matched, Ok(RouteMatch::Priced(route, _)) if route.allows_ambiguous_path())
        {
            return Admission::Reply(invalid_path(error));
        }
        let (route, offer) = match matched {
            Ok(RouteMatch::Unmatched) => {
                return match self.config.unmatched {
                    UnmatchedPolicy::Allow => Admission::Pass,
                    UnmatchedPolicy::Deny => Admission::Reply(json_reply(
                        403,
                        Outcome::BadRequest,
                        None,
                        ErrorCode::NoRoute,
                        "no route is configured for this path",
                        false,
                    )),
                };
            }
            Ok(RouteMatch::Free(route)) => {
                telemetry::request(route.series(), Outcome::Free);
                return Admission::Pass;
            }
            Ok(RouteMatch::Priced(route, offer)) => (route, offer),
            Err(error) => return Admission::Reply(invalid_path(&error)),
        };

        let Some((header, value)) = self.payment_header(request.headers) else {
            telemetry::request(route.series(), Outcome::PaymentRequired);
            return Admission::Reply(self.challenge(
                offer,
                &self.resource_url(request),
                PAYMENT_REQUIRED_TEXT,
                None,
                is_browser(request.headers),
            ));
        };

        let url = self.resource_url(request);
        let decoded =
            match codec::decode_payment(header, value.as_bytes(), self.config.max_header_bytes) {
                Ok(decoded) => decoded,
                Err(error) => {
                    let reason = if matches!(
                        error,
                        DecodeError::VersionMismatch { .. }
                            | DecodeError::UnsupportedVersion { .. }
                    ) {
                        Reason::VersionMismatch
                    } else {
                        Reason::InvalidPaymentHeader
                    };
                    tracing::debug!(route = %route.name(), %error, "payment header refused");
                    return Admission::Reply(self.reject(route, offer, &url, reason, None));
                }
            };

        let now = self.config.clock.now();
        let selected = match &decoded.payload() {
            PaymentPayload::V2(payload) => offer.select_v2(&payload.accepted).and_then(|accept| {
                self.check(accept, &payload.payload, now)
                    .map(|c| (accept, c))
            }),
            PaymentPayload::V1(payload) => {
                let mut result = Err(Reason::NoMatchingRequirement);
                for accept in offer.find_v1(&payload.scheme, &payload.network) {
                    result = self
                        .check(accept, &payload.payload, now)
                        .map(|c| (accept, c));
                    if result.is_ok() {
                        break;
                    }
                }
                result
            }
        };
        let (accept, checked) = match selected {
            Ok(selected) => selected,
            Err(reason) => return Admission::Reply(self.reject(route, offer, &url, reason, None)),
        };
        let payment_id = match offer.payment_identifier() {
            None => None,
            Some(declared) => match self.payment_id(route, declared, decoded.payload()) {
                Ok(id) => id,
                Err(reply) => return Admission::Reply(reply),
            },
        };
        let accept_index = offer
            .accepts()
            .iter()
            .position(|a| std::ptr::eq(a, accept))
            .unwrap_or(0);

        let v1 = match &decoded.payload() {
            PaymentPayload::V1(_) => accept.v1_requirements().map(|r| {
                let json = accept
                    .v1_requirements_json(&url)
                    .map(String::from_utf8)
                    .and_then(Result::ok)
                    .unwrap_or_default();
                (
                    v1::PaymentRequirements {
                        resource: url.clone(),
                        ..r.clone()
                    },
                    json,
                )
            }),
            PaymentPayload::V2(_) => None,
        };
        let replay_key = replay_key(accept, &decoded);
        let span = tracing::info_span!(
            "x402.payment",
            route = %route.name(),
            chain = %accept.labels().chain(),
            x402_version = decoded.payload().x402_version(),
            payer = tracing::field::Empty,
            amount = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        if let Some(payer) = checked.payer {
            span.record("payer", tracing::field::display(payer));
        }
        let route_index = route.index();
        let table = arc_swap::Guard::into_inner(table);
        Admission::Pay(Box::new(AdmittedPayment {
            gate: self.clone(),
            table,
            route: route_index,
            accept: accept_index,
            decoded,
            v1,
            url,
            replay_key,
            expires_at: checked.expires_at,
            payer: checked.payer,
            facilitator_body: OnceLock::new(),
            claimed: false,
            settled: None,
            ledger_request: self
                .config
                .ledger
                .is_some()
                .then(|| LedgerRequest::of(request)),
            ledger_token: None,
            payment_id,
            replayed: None,
            charge: None,
            span,
        }))
    }

    /// The payment's `payment-identifier` id on a route that declares the extension: 400 when
    /// it is malformed or missing where required; 503 when the gate has no ledger to keep it.
    fn payment_id(
        &self,
        route: &Route,
        declared: PaymentIdentifier,
        payload: &PaymentPayload,
    ) -> Result<Option<PaymentId>, Reply> {
        let bad_request = |code, message: &str| {
            telemetry::request(route.series(), Outcome::BadRequest);
            json_reply(400, Outcome::BadRequest, None, code, message, false)
        };
        if self.config.ledger.is_none() {
            tracing::error!(
                route = %route.name(),
                "the route declares paymentIdentifier but the gate has no ledger to keep ids; \
                 refusing the payment"
            );
            telemetry::request(route.series(), Outcome::FacilitatorError);
            return Err(json_reply(
                503,
                Outcome::FacilitatorError,
                None,
                ErrorCode::LedgerUnavailable,
                "this route's payment-identifier ids need a payment ledger, and this server has \
                 none configured",
                false,
            ));
        }
        let extensions = match payload {
            PaymentPayload::V2(payload) => payload.extensions.as_ref(),
            PaymentPayload::V1(_) => None,
        };
        match payment_identifier::from_extensions(extensions) {
            Ok(None) if declared.is_required() => Err(bad_request(
                ErrorCode::PaymentIdentifierRequired,
                "this route requires a payment-identifier id (extensions[\"payment-identifier\"].info.id)",
            )),
            Ok(id) => Ok(id),
            Err(error) => Err(bad_request(
                ErrorCode::InvalidPaymentIdentifier,
                &error.to_string(),
            )),
        }
    }

    fn payment_header<'h, H: HeaderLookup + ?Sized>(
        &self,
        headers: &'h H,
    ) -> Option<(PaymentHeader, &'h str)> {
        if let Some(value) = headers.first("payment-signature") {
            return Some((PaymentHeader::PaymentSignature, value));
        }
        if self.config.v1
            && let Some(value) = headers.first("x-payment")
        {
            return Some((PaymentHeader::XPayment, value));
        }
        None
    }

    /// Local checks of one payment option by its mechanism; the verdict carries what replay
    /// protection needs. A payload the mechanism does not recognize is left to the facilitator.
    fn check(&self, accept: &Accept, payload: &SchemePayload, now: u64) -> Result<Checked, Reason> {
        // Replay state is kept until the authorization expires, but never more than a day.
        let horizon = now.saturating_add(MAX_REPLAY_MEMORY_SECONDS);
        let terms = accept.terms();
        let checked = if accept.mechanism().recognizes(payload) {
            accept
                .mechanism()
                .check(&terms, payload, now, self.config.local_checks)?
        } else {
            Checked::new(None, now.saturating_add(terms.max_timeout_seconds))
        };
        Ok(Checked::new(checked.payer, checked.expires_at.min(horizon)))
    }

    /// The absolute URL of the request, for challenges. Built with one exact allocation (the
    /// pieces are concatenated, not formatted): it runs for every 402 and every payment.
    pub(super) fn resource_url<H: HeaderLookup + ?Sized>(
        &self,
        request: &RequestParts<'_, H>,
    ) -> String {
        self.url_with(request, request.path_and_query)
    }

    /// The request's origin (or the base URL, which may end in a path prefix) followed by
    /// `path`.
    pub(super) fn url_with<H: HeaderLookup + ?Sized>(
        &self,
        request: &RequestParts<'_, H>,
        path: &str,
    ) -> String {
        if let Some(base) = &self.config.base_url {
            return [&**base, path].concat();
        }
        if self.config.trust_forwarded {
            let proto = request
                .headers
                .first("x-forwarded-proto")
                .map(|p| p.split(',').next().unwrap_or("").trim())
                .filter(|p| *p == "http" || *p == "https");
            let host = request
                .headers
                .first("x-forwarded-host")
                .map(|h| h.split(',').next().unwrap_or("").trim())
                .filter(|h| valid_authority(h));
            if let (Some(proto), Some(host)) = (proto, host) {
                return [proto, "://", host, path].concat();
            }
        }
        let scheme = request
            .scheme
            .filter(|s| *s == "http" || *s == "https")
            .unwrap_or("http");
        let host = request
            .host()
            .filter(|h| valid_authority(h))
            .unwrap_or("localhost");
        [scheme, "://", host, path].concat()
    }
}

/// How long replay state is kept at most, whatever the authorization's `validBefore`.
const MAX_REPLAY_MEMORY_SECONDS: u64 = 86_400;

/// The payment's replay key: its mechanism's identity for it, else its JSON text.
fn replay_key(accept: &Accept, decoded: &DecodedPayment) -> ReplayKey {
    let payload = match &decoded.payload() {
        PaymentPayload::V2(p) => &p.payload,
        PaymentPayload::V1(p) => &p.payload,
    };
    match accept.mechanism().replay_id(&accept.terms(), payload) {
        Some(id) => ReplayKey::from_bytes(id.as_bytes()),
        None => ReplayKey::from_bytes(decoded.json_text().as_bytes()),
    }
}

/// `400 invalid_path`, naming what is wrong with the path (never the path itself).
fn invalid_path(error: &PathError) -> Reply {
    json_reply(
        400,
        Outcome::BadRequest,
        None,
        ErrorCode::InvalidPath,
        &error.to_string(),
        false,
    )
}

fn is_browser<H: HeaderLookup + ?Sized>(headers: &H) -> bool {
    headers
        .first("accept")
        .is_some_and(|a| a.contains("text/html"))
        && headers
            .first("user-agent")
            .is_some_and(|u| u.contains("Mozilla"))
}

fn valid_authority(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}
