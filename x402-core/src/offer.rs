//! A priced route's payment offer, with its 402 challenge serialized once.
//!
//! An [`Offer`] is built when the route table is compiled. It holds the route's payment options
//! ([`Accept`]s) — each with its v2 requirement already serialized for the facilitator — and
//! the challenge bodies (the v2 `PAYMENT-REQUIRED` JSON and the v1 402 body) as templates whose
//! only holes are the resource URL and the `error` text. Answering a 402 is therefore a copy
//! of precomputed bytes plus two JSON-escaped strings, and a base64 pass over the JSON up to
//! the last hole: the rest of the v2 JSON (the payment options, most of it) is kept
//! base64-encoded from each of the three offsets a group of three bytes can start at.
//!
//! ```
//! use x402_core::{RouteTable, spec::RouteSpec, codec, wire::v2};
//!
//! let spec = RouteSpec::from_json(r#"{
//!   "payment": {"wallet": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "network": "base-sepolia"},
//!   "routes": [{"path": "/weather", "price": "$0.001", "description": "Weather data",
//!               "mimeType": "application/json"}]
//! }"#).unwrap();
//! let table = RouteTable::from_spec(&spec).unwrap();
//! let offer = table.routes()[0].offer().unwrap();
//!
//! let header = offer.payment_required_header("http://127.0.0.1:4021/weather", "Payment required");
//! let decoded: v2::PaymentRequired =
//!     codec::decode_header(header.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES).unwrap();
//! assert_eq!(decoded.resource.url, "http://127.0.0.1:4021/weather");
//! assert_eq!(decoded.accepts[0].amount, "1000");
//! ```

use std::sync::Arc;

use alloy_primitives::{Address, U256};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::{
    codec,
    flow::{self, PaymentFlow},
    labels::{Reason, RouteLabels},
    mechanism::{Mechanism, OfferError, Terms},
    network::{Asset, Network},
    payment_identifier::PaymentIdentifier,
    telemetry::RouteSeries,
    wire::{ResourceInfo, SupportedResponse, V1, V2, v1, v2},
};

/// The payment options of a priced route and its precomputed challenge.
#[derive(Debug, Clone)]
pub struct Offer {
    accepts: Box<[Accept]>,
    /// `PaymentRequired.extensions` (the gas-sponsoring declarations of Permit2 options, the
    /// `payment-identifier` declaration).
    extensions: Option<crate::wire::JsonObject>,
    payment_identifier: Option<PaymentIdentifier>,
    description: Box<str>,
    mime_type: Box<str>,
    v2_template: HeaderTemplate,
    v1_template: Option<JsonTemplate>,
}

/// One payment option: a network, an asset, an amount and a recipient.
#[derive(Debug, Clone)]
pub struct Accept {
    mechanism: &'static dyn Mechanism,
    /// Shared with every [`Payment`](crate::gate::Payment) made for this option.
    requirements: Arc<v2::PaymentRequirements>,
    requirements_json: Box<RawValue>,
    v1: Option<V1Accept>,
    network: Network,
    asset: Asset,
    amount: U256,
    pay_to: Address,
    flow: PaymentFlow,
    series: RouteSeries,
}

#[derive(Debug, Clone)]
struct V1Accept {
    requirements: v1::PaymentRequirements,
    template: JsonTemplate,
}

/// What the table compiler resolved for one payment option.
#[derive(Debug)]
pub(crate) struct ResolvedAccept {
    pub(crate) mechanism: &'static dyn Mechanism,
    pub(crate) network: Network,
    pub(crate) asset: Asset,
    pub(crate) amount: U256,
    pub(crate) pay_to: Address,
    pub(crate) max_timeout_seconds: u64,
    pub(crate) flow: PaymentFlow,
    pub(crate) labels: RouteLabels,
}

/// An offer could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TemplateError {
    /// Only possible if configured text contains the template's private placeholder.
    #[error("description or mimeType contains reserved placeholder text")]
    Placeholder,
    /// The mechanism could not build its part.
    #[error(transparent)]
    Mechanism(#[from] OfferError),
}

impl Offer {
    /// The offer of `resolved`'s options. `supported` is the facilitator's `/supported` answer
    /// when the table builder was given one: each mechanism reads its kind there.
    #[cfg(test)]
    pub(crate) fn new(
        resolved: Vec<ResolvedAccept>,
        description: &str,
        mime_type: &str,
        supported: Option<&SupportedResponse>,
    ) -> Result<Self, TemplateError> {
        Self::offering(resolved, description, mime_type, supported, None, None)
            .map(|(offer, _)| offer)
    }

    /// [`Offer::new`], leaving out the options whose mechanism cannot build its part (e.g.
    /// `upto` without a facilitator address in `/supported`): they are returned beside the
    /// offer, by index, with the reason. An error when no option is left. `payment_identifier`
    /// declares that extension, `bazaar` is the [discovery](crate::discovery) declaration.
    pub(crate) fn offering(
        resolved: Vec<ResolvedAccept>,
        description: &str,
        mime_type: &str,
        supported: Option<&SupportedResponse>,
        payment_identifier: Option<PaymentIdentifier>,
        bazaar: Option<serde_json::Value>,
    ) -> Result<(Self, Vec<(usize, OfferError)>), TemplateError> {
        let mut accepts = Vec::with_capacity(resolved.len());
        let mut left_out = Vec::new();
        for (i, r) in resolved.into_iter().enumerate() {
            match Accept::new(r, description, mime_type, supported) {
                Ok(accept) => accepts.push(accept),
                Err(TemplateError::Mechanism(error)) => left_out.push((i, error)),
                Err(error) => return Err(error),
            }
        }
        if accepts.is_empty()
            && let Some((_, error)) = left_out.first()
        {
            return Err(TemplateError::Mechanism(error.clone()));
        }
        let accepts: Box<[Accept]> = accepts.into();
        let permit2: Vec<&Accept> = accepts
            .iter()
            .filter(|a| a.mechanism.id().transfer == crate::mechanism::Transfer::Permit2)
            .collect();
        let mut extensions = if permit2.is_empty() {
            None
        } else {
            let eip2612 = permit2.iter().any(|a| a.asset.eip712.is_some());
            crate::gas_sponsoring::declarations(supported, eip2612)
        };
        if let Some(declared) = payment_identifier {
            extensions.get_or_insert_default().insert(
                crate::payment_identifier::PAYMENT_IDENTIFIER.to_owned(),
                declared.declaration(),
            );
        }
        if let Some(declaration) = bazaar {
            extensions
                .get_or_insert_default()
                .insert(crate::discovery::BAZAAR.to_owned(), declaration);
        }

        let v2_template = HeaderTemplate::new(JsonTemplate::new(&v2::PaymentRequired {
            x402_version: V2,
            error: Some(ERROR_HOLE.to_owned()),
            resource: ResourceInfo {
                url: URL_HOLE.to_owned(),
                description: Some(description.to_owned()),
                mime_type: Some(mime_type.to_owned()),
                service_name: None,
                tags: None,
                icon_url: None,
            },
            accepts: accepts.iter().map(|a| (*a.requirements).clone()).collect(),
            extensions: extensions.clone(),
        })?);

        let v1_accepts: Vec<_> = accepts
            .iter()
            .filter_map(|a| a.v1.as_ref().map(|v| v.requirements_with_hole()))
            .collect();
        let v1_template = if v1_accepts.is_empty() {
            None
        } else {
            Some(JsonTemplate::new(&v1::PaymentRequired {
                x402_version: V1,
                error: Some(ERROR_HOLE.to_owned()),
                accepts: v1_accepts,
                payer: None,
            })?)
        };

        let offer = Self {
            accepts,
            extensions,
            payment_identifier,
            description: description.into(),
            mime_type: mime_type.into(),
            v2_template,
            v1_template,
        };
        Ok((offer, left_out))
    }

    /// The payment options, in the order they are advertised.
    pub fn accepts(&self) -> &[Accept] {
        &self.accepts
    }

    /// Whether the offer declares the [`payment-identifier`](crate::payment_identifier)
    /// extension, and how.
    pub fn payment_identifier(&self) -> Option<PaymentIdentifier> {
        self.payment_identifier
    }

    /// The resource description sent in the challenge (`""` when not configured).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The resource media type sent in the challenge (`""` when not configured).
    pub fn mime_type(&self) -> &str {
        &self.mime_type
    }

    /// Writes the v2 `PaymentRequired` JSON for `resource_url` with `error` into `out`.
    pub fn write_payment_required_json(&self, resource_url: &str, error: &str, out: &mut Vec<u8>) {
        self.v2_template.json.render(resource_url, error, out);
    }

    /// The `PAYMENT-REQUIRED` header value (base64 of the v2 `PaymentRequired` JSON).
    pub fn payment_required_header(&self, resource_url: &str, error: &str) -> String {
        self.v2_template.render_base64(resource_url, error)
    }

    /// The v1 402 body (`{"x402Version":1,"error":…,"accepts":[…]}`), listing the options whose
    /// network v1 clients know; `None` when there is none.
    pub fn v1_body(&self, resource_url: &str, error: &str) -> Option<Vec<u8>> {
        let template = self.v1_template.as_ref()?;
        let mut json = Vec::with_capacity(template.len_hint(resource_url, error));
        template.render(resource_url, error, &mut json);
        Some(json)
    }

    /// The typed v2 challenge (allocates; the adapters use the precomputed header instead).
    pub fn payment_required(&self, resource_url: &str, error: &str) -> v2::PaymentRequired {
        v2::PaymentRequired {
            x402_version: V2,
            error: Some(error.to_owned()),
            resource: ResourceInfo {
                url: resource_url.to_owned(),
                description: Some(self.description.to_string()),
                mime_type: Some(self.mime_type.to_string()),
                service_name: None,
                tags: None,
                icon_url: None,
            },
            accepts: self
                .accepts
                .iter()
                .map(|a| (*a.requirements).clone())
                .collect(),
            extensions: self.extensions.clone(),
        }
    }

    /// The option a v2 payment chose: the first whose requirement equals the client's
    /// `accepted` on every field, where the server's `extra` must be a subset of the client's
    /// (the client may add keys), as the official server matches.
    pub fn find_v2(&self, accepted: &v2::PaymentRequirements) -> Option<&Accept> {
        self.select_v2(accepted).ok()
    }

    /// [`Offer::find_v2`], saying why nothing matched: [`Reason::PaymentFlowMismatch`] when an
    /// option matches but for the payment flow `accepted` names (another flow than the
    /// option's, or one we do not serve), else [`Reason::NoMatchingRequirement`].
    pub fn select_v2(&self, accepted: &v2::PaymentRequirements) -> Result<&Accept, Reason> {
        if let Some(accept) = self.accepts.iter().find(|a| a.matches_accepted(accepted)) {
            return Ok(accept);
        }
        if self.accepts.iter().any(|a| a.matches_except_flow(accepted)) {
            return Err(Reason::PaymentFlowMismatch);
        }
        Err(Reason::NoMatchingRequirement)
    }

    /// The options a v1 payment may be for: those with the same scheme and v1 network name.
    /// (A v1 payload does not name the asset or amount; the local checks pick among these.)
    pub fn find_v1<'a>(
        &'a self,
        scheme: &'a str,
        network: &'a str,
    ) -> impl Iterator<Item = &'a Accept> + 'a {
        self.accepts.iter().filter(move |a| {
            a.requirements.scheme == scheme && a.network.v1_name() == Some(network)
        })
    }
}

impl Accept {
    fn new(
        resolved: ResolvedAccept,
        description: &str,
        mime_type: &str,
        supported: Option<&SupportedResponse>,
    ) -> Result<Self, TemplateError> {
        let ResolvedAccept {
            mechanism,
            network,
            asset,
            amount,
            pay_to,
            max_timeout_seconds,
            flow,
            labels,
        } = resolved;
        let terms = Terms {
            network: &network,
            asset: &asset,
            amount,
            pay_to,
            max_timeout_seconds,
            extra: None,
        };
        let scheme = mechanism.id().scheme;
        // The facilitator's v2 kind for this scheme and network, if it named one.
        let kind = supported.and_then(|s| {
            s.kinds
                .iter()
                .find(|k| k.x402_version == 2 && k.scheme == scheme && k.network == network.caip2())
        });
        let mut extra = mechanism.extra(&terms, kind)?;
        if let Some(value) = flow.wire_value() {
            extra.get_or_insert_with(Default::default).insert(
                flow::PAYMENT_FLOW_KEY.to_owned(),
                serde_json::Value::from(value),
            );
        }
        let requirements = v2::PaymentRequirements {
            scheme: scheme.to_owned(),
            network: network.caip2().to_owned(),
            amount: amount.to_string(),
            asset: asset.address.to_checksum(None),
            pay_to: pay_to.to_checksum(None),
            max_timeout_seconds,
            extra: extra.clone(),
        };
        let requirements_json =
            serde_json::value::to_raw_value(&requirements).expect("requirements serialize to JSON");
        // x402 v1 knows `exact` by EIP-3009 only (no Permit2, no `upto`).
        let v1_payable = mechanism.id().transfer == crate::mechanism::Transfer::Eip3009;
        let v1 = match network.v1_name().filter(|_| v1_payable) {
            Some(name) => {
                let requirements = v1::PaymentRequirements {
                    scheme: scheme.to_owned(),
                    network: name.to_owned(),
                    max_amount_required: requirements.amount.clone(),
                    resource: String::new(),
                    description: description.to_owned(),
                    mime_type: mime_type.to_owned(),
                    output_schema: None,
                    pay_to: requirements.pay_to.clone(),
                    max_timeout_seconds,
                    asset: requirements.asset.clone(),
                    extra,
                };
                let template = JsonTemplate::new(&V1Accept::with_hole(&requirements))?;
                Some(V1Accept {
                    requirements,
                    template,
                })
            }
            None => None,
        };
        Ok(Self {
            mechanism,
            requirements: Arc::new(requirements),
            requirements_json,
            v1,
            network,
            asset,
            amount,
            pay_to,
            flow,
            series: RouteSeries::new(labels),
        })
    }

    /// The mechanism paying this option.
    pub fn mechanism(&self) -> &'static dyn Mechanism {
        self.mechanism
    }

    /// Our terms, as the mechanism reads them.
    pub fn terms(&self) -> Terms<'_> {
        Terms {
            network: &self.network,
            asset: &self.asset,
            amount: self.amount,
            pay_to: self.pay_to,
            max_timeout_seconds: self.requirements.max_timeout_seconds,
            extra: self.requirements.extra.as_ref(),
        }
    }

    /// The v2 requirement advertised for this option.
    pub fn requirements(&self) -> &v2::PaymentRequirements {
        &self.requirements
    }

    /// The v2 requirement, shared (a payment holds it without copying it).
    pub(crate) fn shared_requirements(&self) -> &Arc<v2::PaymentRequirements> {
        &self.requirements
    }

    /// The v2 requirement serialized once, for facilitator request bodies.
    pub fn requirements_json(&self) -> &RawValue {
        &self.requirements_json
    }

    /// The v1 requirement (with an empty `resource`; see [`Accept::v1_requirements_json`]),
    /// when v1 clients know this network.
    pub fn v1_requirements(&self) -> Option<&v1::PaymentRequirements> {
        self.v1.as_ref().map(|v| &v.requirements)
    }

    /// The v1 requirement JSON for `resource_url`, for facilitator request bodies.
    pub fn v1_requirements_json(&self, resource_url: &str) -> Option<Vec<u8>> {
        let v1 = self.v1.as_ref()?;
        let mut json = Vec::with_capacity(v1.template.len_hint(resource_url, ""));
        v1.template.render(resource_url, "", &mut json);
        Some(json)
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The token.
    pub fn asset(&self) -> &Asset {
        &self.asset
    }

    /// The price in atomic units of the asset.
    pub fn amount(&self) -> U256 {
        self.amount
    }

    /// The recipient.
    pub fn pay_to(&self) -> Address {
        self.pay_to
    }

    /// The payment flow: when this option's payments are verified and settled.
    pub fn flow(&self) -> PaymentFlow {
        self.flow
    }

    /// The requirement as the local EVM checks read it, from the values typed at build time
    /// (nothing is parsed per request).
    #[cfg(feature = "evm")]
    pub fn requirement_view(&self) -> crate::evm::RequirementView<'_> {
        crate::mechanism::exact_eip3009::requirement_view(&self.terms())
    }

    /// The metric labels of this option (`route`, resolved `chain`).
    pub fn labels(&self) -> &RouteLabels {
        self.series.labels()
    }

    /// The metric series of [`Accept::labels`].
    pub(crate) fn series(&self) -> &RouteSeries {
        &self.series
    }

    /// Whether a client's `accepted` is this option: equal on every field but `extra`, and
    /// every key of our `extra` present in the client's with the same value.
    ///
    /// The payment flow must be ours exactly: a client's `accepted` may not add a
    /// `paymentFlow` our option does not name.
    pub fn matches_accepted(&self, accepted: &v2::PaymentRequirements) -> bool {
        self.matches_except_flow(accepted)
            && PaymentFlow::of_extra(accepted.extra.as_ref()) == Ok(self.flow)
    }

    /// [`Accept::matches_accepted`] without the payment-flow rule.
    fn matches_except_flow(&self, accepted: &v2::PaymentRequirements) -> bool {
        let ours = &self.requirements;
        ours.scheme == accepted.scheme
            && ours.network == accepted.network
            && ours.amount == accepted.amount
            && ours.asset == accepted.asset
            && ours.pay_to == accepted.pay_to
            && ours.max_timeout_seconds == accepted.max_timeout_seconds
            && match (&ours.extra, &accepted.extra) {
                (None, _) => true,
                (Some(ours), Some(theirs)) => ours
                    .iter()
                    .filter(|(k, _)| *k != flow::PAYMENT_FLOW_KEY)
                    .all(|(k, v)| theirs.get(k) == Some(v)),
                (Some(ours), None) => ours.keys().all(|k| k == flow::PAYMENT_FLOW_KEY),
            }
    }
}

impl V1Accept {
    fn with_hole(requirements: &v1::PaymentRequirements) -> v1::PaymentRequirements {
        v1::PaymentRequirements {
            resource: URL_HOLE.to_owned(),
            ..requirements.clone()
        }
    }

    fn requirements_with_hole(&self) -> v1::PaymentRequirements {
        Self::with_hole(&self.requirements)
    }
}

// Placeholders serialized in place of the per-request strings, then cut out of the JSON.
// They hold control characters, which serde_json always escapes as `\u0001`, so configured
// text can only produce the same bytes by containing those control characters itself.
const URL_HOLE: &str = "\u{1}x402:resource-url\u{1}";
const ERROR_HOLE: &str = "\u{1}x402:error\u{1}";

/// JSON serialized once, with holes for the resource URL and the error text.
#[derive(Debug, Clone)]
struct JsonTemplate {
    /// The last part is always a literal (possibly empty).
    parts: Box<[Part]>,
    literal_len: usize,
}

/// A JSON template sent base64-encoded (the `PAYMENT-REQUIRED` header).
#[derive(Debug, Clone)]
struct HeaderTemplate {
    json: JsonTemplate,
    /// The template's last literal base64-encoded without its first 0, 1 and 2 bytes. Base64
    /// encodes groups of three bytes independently, so once the rest of the JSON has been
    /// rendered and topped up to a multiple of three with the first bytes of the last literal,
    /// the header is that encoded plus one of these.
    tail_base64: [Box<str>; 3],
}

#[derive(Debug, Clone)]
enum Part {
    Literal(Box<[u8]>),
    Url,
    Error,
}

impl JsonTemplate {
    fn new(value: &impl Serialize) -> Result<Self, TemplateError> {
        let json = serde_json::to_vec(value).expect("challenge serializes to JSON");
        let url = serde_json::to_vec(URL_HOLE).expect("string serializes");
        let error = serde_json::to_vec(ERROR_HOLE).expect("string serializes");

        let mut parts = Vec::new();
        let mut rest = &json[..];
        let mut start = 0;
        let mut i = 0;
        while i < rest.len() {
            let hole = if rest[i..].starts_with(&url) {
                Some((Part::Url, url.len()))
            } else if rest[i..].starts_with(&error) {
                Some((Part::Error, error.len()))
            } else {
                None
            };
            match hole {
                Some((part, len)) => {
                    parts.push(Part::Literal(rest[start..i].into()));
                    parts.push(part);
                    rest = &rest[i + len..];
                    start = 0;
                    i = 0;
                }
                None => i += 1,
            }
        }
        parts.push(Part::Literal(rest[start..].into()));

        let literal_len = parts
            .iter()
            .map(|p| match p {
                Part::Literal(bytes) => bytes.len(),
                Part::Url | Part::Error => 0,
            })
            .sum();
        // Configured text can only collide with a hole by containing U+0001 itself; a
        // template whose JSON still holds the escaped marker after cutting is refused.
        let marker = b"\\u0001x402:";
        if parts.iter().any(|p| match p {
            Part::Literal(bytes) => bytes.windows(marker.len()).any(|w| w == marker),
            Part::Url | Part::Error => false,
        }) {
            return Err(TemplateError::Placeholder);
        }
        Ok(Self {
            parts: parts.into(),
            literal_len,
        })
    }

    fn len_hint(&self, url: &str, error: &str) -> usize {
        self.literal_len + 2 * (url.len() + error.len()) + 8
    }

    /// The parts before the last literal, and the last literal.
    fn split_tail(&self) -> (&[Part], &[u8]) {
        match self.parts.split_last() {
            Some((Part::Literal(tail), head)) => (head, tail),
            _ => (&self.parts, &[]),
        }
    }

    fn render(&self, url: &str, error: &str, out: &mut Vec<u8>) {
        render_parts(&self.parts, url, error, out);
    }
}

impl HeaderTemplate {
    fn new(json: JsonTemplate) -> Self {
        let (_, tail) = json.split_tail();
        let tail_base64 = std::array::from_fn(|skip| {
            codec::encode_json_bytes(tail.get(skip..).unwrap_or_default()).into_boxed_str()
        });
        Self { json, tail_base64 }
    }

    /// Base64 of the rendered JSON (the same text as encoding [`JsonTemplate::render`]'s
    /// output), encoding only the part before the last literal.
    fn render_base64(&self, url: &str, error: &str) -> String {
        let (head, tail) = self.json.split_tail();
        let mut json = Vec::with_capacity(self.json.len_hint(url, error) - tail.len());
        render_parts(head, url, error, &mut json);
        // Complete the last group of three with the first bytes of the tail.
        let skip = (3 - json.len() % 3) % 3;
        if tail.len() < skip {
            // A tail too short to top up the head (not a challenge's shape): encode it all.
            json.extend_from_slice(tail);
            return codec::encode_json_bytes(&json);
        }
        json.extend_from_slice(&tail[..skip]);
        let tail_base64 = &self.tail_base64[skip];
        // The same encoder as `codec::encode_json_bytes`, appending into a string sized for both.
        let mut header = String::with_capacity(json.len() / 3 * 4 + tail_base64.len());
        base64_simd::STANDARD.encode_append(&json, &mut header);
        header.push_str(tail_base64);
        header
    }
}

fn render_parts(parts: &[Part], url: &str, error: &str, out: &mut Vec<u8>) {
    for part in parts {
        match part {
            Part::Literal(bytes) => out.extend_from_slice(bytes),
            Part::Url => write_json_string(url, out),
            Part::Error => write_json_string(error, out),
        }
    }
}

/// `text` as a JSON string, exactly as serde_json writes it. URLs and error texts rarely need
/// an escape: those are copied between quotes without serde_json's per-character escaping.
fn write_json_string(text: &str, out: &mut Vec<u8>) {
    // No early exit: the loop over every byte vectorizes.
    let plain = !text.bytes().fold(false, |escape, b| {
        escape | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(out, text).expect("writing to a Vec cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{
        RouteTable, codec,
        labels::Reason,
        mechanism::{Checked, MechanismId, ReplayId},
        spec::RouteSpec,
        wire::{JsonObject, SchemePayload, SupportedKind},
    };

    /// A mechanism whose offer needs the facilitator's fee payer, as a Solana one does.
    #[derive(Debug)]
    struct NeedsFeePayer;

    impl Mechanism for NeedsFeePayer {
        fn id(&self) -> MechanismId {
            crate::mechanism::ExactEip3009.id()
        }
        fn serves(&self, _: &str, _: &Network, _: Option<&JsonObject>) -> bool {
            true
        }
        fn extra(
            &self,
            _terms: &Terms<'_>,
            supported: Option<&SupportedKind>,
        ) -> Result<Option<JsonObject>, OfferError> {
            let fee_payer = supported
                .and_then(|kind| kind.extra.as_ref()?.get("feePayer").cloned())
                .ok_or(OfferError::MissingSupported {
                    mechanism: self.id(),
                    field: "feePayer",
                })?;
            Ok(Some(JsonObject::from_iter([(
                "feePayer".to_owned(),
                fee_payer,
            )])))
        }
        fn recognizes(&self, _: &SchemePayload) -> bool {
            false
        }
        fn check(
            &self,
            _: &Terms<'_>,
            _: &SchemePayload,
            _: u64,
            _: bool,
        ) -> Result<Checked, Reason> {
            Err(Reason::InvalidPaymentHeader)
        }
        fn replay_id(&self, _: &Terms<'_>, _: &SchemePayload) -> Option<ReplayId> {
            None
        }
        fn settled_amount(&self, terms: &Terms<'_>, _: &SchemePayload) -> U256 {
            terms.amount
        }
    }

    fn resolved(network: &str) -> ResolvedAccept {
        let network = Network::parse(network).unwrap();
        ResolvedAccept {
            mechanism: &NeedsFeePayer,
            asset: network.default_asset().unwrap(),
            labels: RouteLabels::new("r", network.caip2()),
            network,
            amount: U256::from(1000),
            pay_to: Address::ZERO,
            max_timeout_seconds: 60,
            flow: PaymentFlow::Authorization,
        }
    }

    #[test]
    fn a_mechanism_reads_its_offer_part_from_the_facilitators_supported_kind() {
        let supported: SupportedResponse = serde_json::from_value(serde_json::json!({
            "kinds": [
                {"x402Version": 1, "scheme": "exact", "network": "base-sepolia",
                 "extra": {"feePayer": "v1-payer"}},
                {"x402Version": 2, "scheme": "exact", "network": "eip155:84532",
                 "extra": {"feePayer": "v2-payer"}},
            ],
        }))
        .unwrap();
        // The v2 kind of the option's scheme and network is the one handed over.
        let offer = Offer::new(vec![resolved("eip155:84532")], "", "", Some(&supported)).unwrap();
        let extra = offer.accepts()[0].requirements().extra.clone().unwrap();
        assert_eq!(extra["feePayer"], "v2-payer");
        // No kind for the network, or no answer at all: the offer is refused, naming the field.
        for supported in [Some(&supported), None] {
            let error = Offer::new(vec![resolved("eip155:8453")], "", "", supported).unwrap_err();
            assert_eq!(
                error.to_string(),
                "the facilitator's /supported entry for exact on eip155 by eip3009 has no `feePayer`"
            );
        }
    }

    fn table(description: &str) -> RouteTable {
        let spec = serde_json::json!({
            "payment": {"wallet": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                        "network": "base-sepolia"},
            "routes": [{"path": "/weather", "price": "$0.001", "description": description,
                        "mimeType": "application/json",
                        "accepts": [{"network": "base-sepolia"}, {"network": "base"}]}],
        });
        RouteTable::from_spec(&RouteSpec::from_json(&spec.to_string()).unwrap()).unwrap()
    }

    proptest! {
        #[test]
        fn json_strings_are_written_as_serde_json_writes_them(text in any::<String>()) {
            let mut ours = Vec::new();
            write_json_string(&text, &mut ours);
            prop_assert_eq!(ours, serde_json::to_vec(&text).unwrap());
        }
    }

    #[test]
    fn json_strings_with_escapes_are_written_as_serde_json_writes_them() {
        for text in [
            "",
            "plain",
            "a\"b",
            "back\\slash",
            "tab\tnew\nline",
            "\u{1}",
            "é\u{7f}",
        ] {
            let mut ours = Vec::new();
            write_json_string(text, &mut ours);
            assert_eq!(ours, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
    }

    /// The header as it was built before the tail was kept encoded: render all, encode all.
    fn encoded_whole(offer: &Offer, url: &str, error: &str) -> String {
        let mut json = Vec::new();
        offer.write_payment_required_json(url, error, &mut json);
        codec::encode_json_bytes(&json)
    }

    #[test]
    fn header_is_the_base64_of_the_whole_json_at_every_alignment() {
        // Descriptions and URLs of every length modulo three, and errors that need escaping.
        for description in ["", "W", "We", "Weather data"] {
            let table = table(description);
            let offer = table.routes()[0].offer().unwrap();
            for url_len in 0..9 {
                let url = format!("http://a/{}", "x".repeat(url_len));
                for error in ["", "Payment required", "quote \" é \u{1}", "replay"] {
                    assert_eq!(
                        offer.payment_required_header(&url, error),
                        encoded_whole(offer, &url, error),
                        "description {description:?}, url {url:?}, error {error:?}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn header_matches_whole_encoding_for_any_text(url in ".{0,40}", error in ".{0,40}") {
            let table = table("Weather data");
            let offer = table.routes()[0].offer().unwrap();
            prop_assert_eq!(
                offer.payment_required_header(&url, &error),
                encoded_whole(offer, &url, &error)
            );
        }
    }
}
