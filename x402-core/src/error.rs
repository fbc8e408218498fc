//! Printing an error together with its causes.

use std::{error::Error as StdError, fmt};

/// Displays an error and every [`source`](StdError::source) below it, `: `-joined.
///
/// Each error here prints only its own level (see the crate's "Errors" section), so a log line
/// or a message for a person should print the chain:
///
/// ```
/// use x402_core::{ErrorChain, spec::RouteSpec};
///
/// let error = RouteSpec::from_json("{").unwrap_err();
/// assert_eq!(error.to_string(), "invalid route spec (JSON)");
/// assert!(ErrorChain(&error).to_string().starts_with("invalid route spec (JSON): EOF"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn StdError + 'a));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RouteTable, spec::RouteSpec};

    /// Fails when an error's `Display` repeats its source's, at any level of the chain.
    fn assert_each_level_prints_only_itself(error: &(dyn StdError + 'static)) {
        let mut level = Some(error);
        while let Some(current) = level {
            if let Some(source) = current.source() {
                let (text, cause) = (current.to_string(), source.to_string());
                assert!(
                    !text.contains(&cause),
                    "{text:?} repeats its source {cause:?}"
                );
            }
            level = current.source();
        }
    }

    fn spec_error() -> crate::spec::SpecParseError {
        RouteSpec::from_json("{").unwrap_err()
    }

    fn regex_config_error() -> crate::table::BuildErrors {
        let spec = RouteSpec::from_json(
            r#"{"payment": {"wallet": "0x0000000000000000000000000000000000000001",
                "network": "base-sepolia", "defaultPrice": "0.001"},
                "routes": [{"path": "/d", "mode": "conditional",
                "conditions": [{"header": "X-Tier", "pattern": "(", "action": "pay"}]}]}"#,
        )
        .unwrap();
        RouteTable::from_spec(&spec).unwrap_err()
    }

    #[test]
    fn errors_with_a_source_do_not_print_it() {
        assert_each_level_prints_only_itself(&spec_error());
        let build = regex_config_error();
        let config = &build.errors()[0];
        assert!(config.source().is_some(), "the regex error is the source");
        assert_each_level_prints_only_itself(config);
    }

    #[cfg(feature = "client")]
    #[test]
    fn client_errors_with_a_source_do_not_print_it() {
        use crate::client::{BuyError, Challenge, PaymentError, SignerError};

        let challenge = Challenge::decode(Some(b"!not base64!"), b"", 1024).unwrap_err();
        assert!(challenge.source().is_some());
        assert_each_level_prints_only_itself(&challenge);
        let signer = PaymentError::from(SignerError::new("the HSM is offline"));
        assert_eq!(signer.source().unwrap().to_string(), "the HSM is offline");
        assert_each_level_prints_only_itself(&signer);
        let buy = BuyError::Payment {
            upstream: "weather".into(),
            source: signer,
        };
        assert_each_level_prints_only_itself(&buy);
        let buy = BuyError::Challenge {
            upstream: "weather".into(),
            source: challenge,
        };
        assert_each_level_prints_only_itself(&buy);
    }

    #[cfg(feature = "dev-facilitator")]
    #[test]
    fn dev_facilitator_errors_with_a_source_do_not_print_it() {
        use crate::facilitator::dev::DevError;

        let json = || serde_json::from_str::<u8>("not json").unwrap_err();
        assert_each_level_prints_only_itself(&DevError::InvalidBody(json()));
        assert_each_level_prints_only_itself(&DevError::InvalidField {
            field: "paymentPayload",
            version: 2,
            source: json(),
        });
    }

    #[cfg(feature = "evm-signer")]
    #[test]
    fn signing_errors_with_a_source_do_not_print_it() {
        use crate::evm::signer::SignError;

        let error = SignError::Signer(alloy_signer::Error::message("the key is locked"));
        assert!(error.source().is_some());
        assert_each_level_prints_only_itself(&error);
    }

    #[test]
    fn the_chain_joins_every_level() {
        let build = regex_config_error();
        let config = &build.errors()[0];
        let chain = ErrorChain(config).to_string();
        assert!(chain.starts_with(&config.to_string()), "{chain}");
        assert!(
            chain.ends_with(&format!(": {}", config.source().unwrap())),
            "{chain}"
        );
        assert!(build.to_string().contains(&chain), "{build}");
    }
}
