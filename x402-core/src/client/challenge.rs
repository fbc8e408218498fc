//! The 402 challenge a buyer receives: v2 in the `PAYMENT-REQUIRED` header, v1 in the JSON body.

use serde::Deserialize;
use serde_json::Value;

use crate::{
    codec::{self, DecodeError},
    wire::{v1, v2},
};

/// A decoded 402 challenge.
///
/// A v2 challenge keeps the JSON it was decoded from, so that the payment can copy the chosen
/// requirement (`accepted`), `resource` and `extensions` exactly as the seller sent them, fields
/// this library does not know included: the official server matches `accepted` field by field.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Challenge {
    /// `x402Version: 1`, from the 402's JSON body.
    V1(v1::PaymentRequired),
    /// `x402Version: 2`, from the `PAYMENT-REQUIRED` header.
    V2 {
        /// The typed challenge.
        required: v2::PaymentRequired,
        /// The decoded JSON object, as sent.
        json: Value,
    },
}

/// Why a 402 answer is not a challenge this library can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The `PAYMENT-REQUIRED` header does not decode to a v2 challenge.
    #[error("the 402's PAYMENT-REQUIRED header is not a v2 challenge")]
    Header(#[source] DecodeError),
    /// There is no `PAYMENT-REQUIRED` header and the body is not a v1 challenge.
    #[error("the 402 has no PAYMENT-REQUIRED header and its body is not a v1 challenge: {problem}")]
    Body {
        /// What is wrong with the body.
        problem: String,
    },
    /// The challenge lists no way to pay.
    #[error("the 402 challenge offers no payment options (`accepts` is empty)")]
    NoOptions,
}

impl Challenge {
    /// Decodes a 402 as the official v2 client does: the `PAYMENT-REQUIRED` header if there is
    /// one (v2), otherwise the body as a v1 challenge (`x402Version: 1`).
    ///
    /// `header` is at most `max_header_bytes` long (see [`codec::DEFAULT_MAX_HEADER_BYTES`]).
    pub fn decode(
        header: Option<&[u8]>,
        body: &[u8],
        max_header_bytes: usize,
    ) -> Result<Self, ChallengeError> {
        let challenge = match header {
            Some(header) => Self::from_header(header, max_header_bytes)?,
            None => Self::from_v1_body(body)?,
        };
        if challenge.is_empty() {
            return Err(ChallengeError::NoOptions);
        }
        Ok(challenge)
    }

    /// A v2 challenge from a `PAYMENT-REQUIRED` header value.
    pub fn from_header(header: &[u8], max_header_bytes: usize) -> Result<Self, ChallengeError> {
        let json: Value =
            codec::decode_header(header, max_header_bytes).map_err(ChallengeError::Header)?;
        let required = v2::PaymentRequired::deserialize(&json).map_err(|error| {
            ChallengeError::Header(DecodeError::InvalidShape {
                message: error.to_string(),
            })
        })?;
        Ok(Self::V2 { required, json })
    }

    /// A v1 challenge from a 402 JSON body.
    pub fn from_v1_body(body: &[u8]) -> Result<Self, ChallengeError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ChallengeError::Body {
                problem: "the body is empty".to_owned(),
            });
        }
        serde_json::from_slice::<v1::PaymentRequired>(body)
            .map(Self::V1)
            .map_err(|error| ChallengeError::Body {
                problem: shorten(&error.to_string()),
            })
    }

    /// The protocol version, `1` or `2`.
    pub fn x402_version(&self) -> u8 {
        match self {
            Self::V1(_) => 1,
            Self::V2 { .. } => 2,
        }
    }

    /// The number of payment options.
    pub fn len(&self) -> usize {
        match self {
            Self::V1(required) => required.accepts.len(),
            Self::V2 { required, .. } => required.accepts.len(),
        }
    }

    /// Whether the challenge offers no payment option.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The seller's `error` text, if any (e.g. why a payment was refused).
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::V1(required) => required.error.as_deref(),
            Self::V2 { required, .. } => required.error.as_deref(),
        }
    }
}

/// Serde messages may quote the input; keep them short.
fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 160;
    match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DEFAULT_MAX_HEADER_BYTES;

    /// The 402 of the official `@x402/express` 2.27 server (captured from its 402 response).
    const OFFICIAL_V2: &str = "eyJ4NDAyVmVyc2lvbiI6MiwiZXJyb3IiOiJQYXltZW50IHJlcXVpcmVkIiwicmVzb3VyY2UiOnsidXJsIjoiaHR0cDovLzEyNy4wLjAuMTo0MDIxL3dlYXRoZXI/Y2l0eT1TRiIsImRlc2NyaXB0aW9uIjoiV2VhdGhlciBkYXRhIiwibWltZVR5cGUiOiJhcHBsaWNhdGlvbi9qc29uIn0sImFjY2VwdHMiOlt7InNjaGVtZSI6ImV4YWN0IiwibmV0d29yayI6ImVpcDE1NTo4NDUzMiIsImFtb3VudCI6IjEwMDAiLCJhc3NldCI6IjB4MDM2Q2JENTM4NDJjNTQyNjYzNGU3OTI5NTQxZUMyMzE4ZjNkQ0Y3ZSIsInBheVRvIjoiMHgyMDk2OTNCYzZhZmMwQzUzMjhiQTM2RmFGMDNDNTE0RUYzMTIyODdDIiwibWF4VGltZW91dFNlY29uZHMiOjMwMCwiZXh0cmEiOnsibmFtZSI6IlVTREMiLCJ2ZXJzaW9uIjoiMiJ9fV19";

    #[test]
    fn the_official_v2_header_decodes_with_its_json_kept() {
        let challenge = Challenge::decode(
            Some(OFFICIAL_V2.as_bytes()),
            b"{}",
            DEFAULT_MAX_HEADER_BYTES,
        )
        .unwrap();
        let Challenge::V2 { required, json } = &challenge else {
            panic!("expected v2, got {challenge:?}")
        };
        assert_eq!(required.accepts[0].amount, "1000");
        assert_eq!(json["accepts"][0]["payTo"], required.accepts[0].pay_to);
        assert_eq!(challenge.error(), Some("Payment required"));
    }

    #[test]
    fn a_v1_body_is_read_when_there_is_no_header() {
        let body = br#"{"x402Version":1,"error":"X-PAYMENT header is required","accepts":[{
            "scheme":"exact","network":"base-sepolia","maxAmountRequired":"1000",
            "resource":"http://127.0.0.1:4023/weather","description":"","mimeType":"",
            "payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,
            "asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            "extra":{"name":"USDC","version":"2"}}]}"#;
        let challenge = Challenge::decode(None, body, DEFAULT_MAX_HEADER_BYTES).unwrap();
        assert_eq!(challenge.x402_version(), 1);
        assert_eq!(challenge.len(), 1);
    }

    #[test]
    fn a_tampered_header_is_a_header_error() {
        let mut tampered = OFFICIAL_V2.to_owned();
        tampered.insert(10, '!');
        let error = Challenge::decode(Some(tampered.as_bytes()), b"", DEFAULT_MAX_HEADER_BYTES)
            .unwrap_err();
        assert!(matches!(error, ChallengeError::Header(_)), "{error}");
        assert!(error.to_string().contains("PAYMENT-REQUIRED"), "{error}");
    }

    #[test]
    fn a_402_without_header_or_v1_body_is_a_body_error() {
        for body in [
            &b""[..],
            b"{}",
            b"payment required",
            br#"{"x402Version":2,"accepts":[]}"#,
        ] {
            let error = Challenge::decode(None, body, DEFAULT_MAX_HEADER_BYTES).unwrap_err();
            assert!(matches!(error, ChallengeError::Body { .. }), "{error}");
        }
    }

    #[test]
    fn a_challenge_without_options_is_refused() {
        let header = codec::encode_header(&serde_json::json!({
            "x402Version": 2, "resource": {"url": "http://x/y"}, "accepts": []
        }));
        let error =
            Challenge::decode(Some(header.as_bytes()), b"", DEFAULT_MAX_HEADER_BYTES).unwrap_err();
        assert_eq!(error, ChallengeError::NoOptions);
    }
}
