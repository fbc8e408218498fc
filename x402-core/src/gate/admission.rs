//! The request decision: [`Gate::admit`] matches the route, reads and decodes the payment
//! header, and runs the local checks, without I/O.

use std::sync::OnceLock;

use alloy_primitives::{Address, U256};

use super::{Gate, PAYMENT_REQUIRED_TEXT, PendingPayment, Reply, UnmatchedPolicy, json_reply};
use crate::{
    codec::{self, DecodeError, DecodedPayment, PaymentHeader},
    labels::{Outcome, Reason},
    offer::Accept,
    replay::ReplayKey,
    table::{HeaderLookup, RequestInfo, RouteMatch},
    telemetry,
    wire::{ExactEvmPayload, PaymentPayload, SchemePayload, v1},
};

/// The request parts the gate reads. Adapters fill it from their request type.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a, H: ?Sized> {
    /// The method, e.g. `"GET"`.
    pub method: &'a str,
    /// The scheme the connection used (`"http"`/`"https"`), when the adapter knows it.
    pub scheme: Option<&'a str>,
    /// The host when the adapter has it without a header lookup: the request-target's
    /// authority (HTTP/2 `:authority`, an absolute-form target — these take precedence over
    /// `Host`, RFC 9113 §8.3.1 and RFC 9112 §3.2.2) or a forwarded host. When `None`, the gate
    /// reads the `Host` header from `headers`, and only if it needs the host (a route restricted
    /// to hosts, a resource URL without a configured base URL).
    pub host: Option<&'a str>,
    /// The request target's path and query, as received.
    pub path_and_query: &'a str,
    /// The request headers.
    pub headers: &'a H,
}

impl<'a, H: HeaderLookup + ?Sized> RequestParts<'a, H> {
    /// The host: [`RequestParts::host`] if set, else the `Host` header.
    pub fn host(&self) -> Option<&'a str> {
        self.host.or_else(|| self.headers.first("host"))
    }
}

/// What to do with a request.
#[derive(Debug)]
pub enum Admission {
    /// Not priced: call the handler untouched.
    Pass,
    /// Answer with this reply; the handler is not called.
    Reply(Reply),
    /// A payment to authorize, then the handler, then settlement. (Boxed: the common,
    /// unpriced answers stay small.)
    Pay(Box<PendingPayment>),
}

impl Gate {
    /// Decides what to do with a request, without I/O. One table load; no allocation when the
    /// request is not priced.
    pub fn admit<H: HeaderLookup + ?Sized>(&self, request: &RequestParts<'_, H>) -> Admission {
        let table = self.config.routes.guard();
        let info = RequestInfo::new(request.method, request.host, request.path_and_query);
        let (route, offer) = match table.match_request(&info, request.headers) {
            Ok(RouteMatch::Unmatched) => {
                return match self.config.unmatched {
                    UnmatchedPolicy::Allow => Admission::Pass,
                    UnmatchedPolicy::Deny => Admission::Reply(json_reply(
                        403,
                        Outcome::BadRequest,
                        None,
                        crate::labels::ErrorCode::NoRoute,
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
            Err(error) => {
                return Admission::Reply(json_reply(
                    400,
                    Outcome::BadRequest,
                    None,
                    crate::labels::ErrorCode::InvalidPath,
                    &error.to_string(),
                    false,
                ));
            }
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
            PaymentPayload::V2(payload) => match offer.find_v2(&payload.accepted) {
                Some(accept) => self
                    .check(accept, &payload.payload, now)
                    .map(|c| (accept, c)),
                None => Err(Reason::NoMatchingRequirement),
            },
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
        let replay_key = replay_key(accept, &decoded, &checked);
        let span = tracing::info_span!(
            "x402.payment",
            route = %route.name(),
            chain = %accept.labels().chain(),
            x402_version = decoded.payload().x402_version(),
            payer = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        if let Some(payer) = checked.payer {
            span.record("payer", tracing::field::display(payer));
        }
        let route_index = route.index();
        let table = arc_swap::Guard::into_inner(table);
        Admission::Pay(Box::new(PendingPayment {
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
            span,
        }))
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

    /// Local checks of one payment option; the verdict carries what replay protection needs.
    fn check(&self, accept: &Accept, payload: &SchemePayload, now: u64) -> Result<Checked, Reason> {
        // Replay state is kept until the authorization expires, but never more than a day.
        let horizon = now.saturating_add(MAX_REPLAY_MEMORY_SECONDS);
        let Some(evm) = payload.as_exact_evm() else {
            // Another scheme's payload: only the facilitator can judge it.
            return Ok(Checked {
                payer: None,
                expires_at: now
                    .saturating_add(accept.requirements().max_timeout_seconds)
                    .min(horizon),
            });
        };
        if self.config.local_checks {
            local_check(accept, evm, now)?;
        }
        Ok(Checked {
            payer: Some(evm.authorization.from),
            expires_at: u256_to_u64(evm.authorization.valid_before).min(horizon),
        })
    }

    /// The absolute URL of the request, for challenges. Built with one exact allocation (the
    /// pieces are concatenated, not formatted): it runs for every 402 and every payment.
    fn resource_url<H: HeaderLookup + ?Sized>(&self, request: &RequestParts<'_, H>) -> String {
        let path = request.path_and_query;
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

/// The local checks of an EIP-3009 payment against our requirement: recipient, amount,
/// validity window and the EIP-712 signature (see [`crate::evm`]).
#[cfg(feature = "evm")]
fn local_check(accept: &Accept, payload: &ExactEvmPayload, now: u64) -> Result<(), Reason> {
    use crate::evm::{CheckOptions, check_exact_evm};
    check_exact_evm(
        payload,
        &accept.requirement_view(),
        now,
        &CheckOptions::default(),
    )
    .map(|_| ())
    .map_err(|e| e.reason())
}

/// Without the `evm` feature the signature cannot be checked here (the facilitator still
/// checks it); the cheap field checks still run.
#[cfg(not(feature = "evm"))]
fn local_check(accept: &Accept, payload: &ExactEvmPayload, now: u64) -> Result<(), Reason> {
    let auth = &payload.authorization;
    if auth.to != accept.pay_to() {
        return Err(Reason::RecipientMismatch);
    }
    if auth.value != accept.amount() {
        return Err(Reason::AmountMismatch);
    }
    if auth.valid_after > U256::from(now) {
        return Err(Reason::NotYetValid);
    }
    if auth.valid_before < U256::from(now.saturating_add(VALIDITY_MARGIN_SECONDS)) {
        return Err(Reason::Expired);
    }
    Ok(())
}

/// The facilitator refuses authorizations expiring within this many seconds.
#[cfg(not(feature = "evm"))]
const VALIDITY_MARGIN_SECONDS: u64 = 6;

/// What the local checks established.
#[derive(Debug, Clone, Copy)]
struct Checked {
    payer: Option<Address>,
    expires_at: u64,
}

fn u256_to_u64(value: U256) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

fn replay_key(accept: &Accept, decoded: &DecodedPayment, checked: &Checked) -> ReplayKey {
    let evm = match &decoded.payload() {
        PaymentPayload::V2(p) => p.payload.as_exact_evm(),
        PaymentPayload::V1(p) => p.payload.as_exact_evm(),
    };
    match (evm, checked.payer) {
        (Some(evm), Some(from)) => {
            let mut bytes = [0u8; 8 + 20 + 20 + 32];
            bytes[..8].copy_from_slice(&accept.network().chain_id().to_be_bytes());
            bytes[8..28].copy_from_slice(accept.asset().address.as_slice());
            bytes[28..48].copy_from_slice(from.as_slice());
            bytes[48..].copy_from_slice(evm.authorization.nonce.as_slice());
            ReplayKey::from_bytes(&bytes)
        }
        _ => ReplayKey::from_bytes(decoded.json_text().as_bytes()),
    }
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
