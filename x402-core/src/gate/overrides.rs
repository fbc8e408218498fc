//! The charge of an `upto` payment, chosen by the handler after it ran: a typed
//! [`SettlementOverrides`] in the response extensions, or the `Settlement-Overrides` response
//! header the official SDK reads (`{"amount": "1000" | "50%" | "$0.05"}`).
//!
//! The adapters take either from the handler's response (the extension first), remove the
//! header so it never reaches the client, and pass it to
//! [`AuthorizedPayment::settle_with`](super::AuthorizedPayment::settle_with). The amount
//! resolves against the authorized maximum with the reference's rules
//! (`resolveSettlementOverrideAmount` of `@x402/core`):
//!
//! | form | meaning | rounding |
//! |---|---|---|
//! | `"1000"` | atomic units | none |
//! | `"33.33%"` | a percentage of the maximum, at most two decimals | down: `floor(max × hundredths / 10000)` |
//! | `"$0.05"` | a dollar value, in the asset's decimals | half up, in exact decimals (the reference rounds a float) |
//!
//! A charge above the maximum is never clamped: the payment is not settled and the client gets
//! a 500 `invalid_settlement_override` without the handler's output. A charge of zero settles
//! nothing and sends a receipt with `amount: "0"`.
//!
//! ```
//! use alloy_primitives::U256;
//! use x402_core::gate::SettlementOverrides;
//!
//! let max = U256::from(1000);
//! let third = SettlementOverrides::parse_amount("33.33%").unwrap();
//! assert_eq!(third.resolve(max, 6), Ok(U256::from(333)));
//! let header = SettlementOverrides::from_header(br#"{"amount":"$0.0005"}"#).unwrap();
//! assert_eq!(header.resolve(max, 6), Ok(U256::from(500)));
//! assert!(SettlementOverrides::atomic(U256::from(1001)).resolve(max, 6).is_err());
//! ```

use alloy_primitives::U256;

/// The response header a handler may set to choose the charge (`Settlement-Overrides`).
pub const SETTLEMENT_OVERRIDES_HEADER: &str = "settlement-overrides";

/// The charge of an `upto` payment, chosen by the handler (see the [module docs](self)).
/// Insert it into the response extensions, or set the `Settlement-Overrides` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementOverrides {
    amount: OverrideAmount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OverrideAmount {
    /// Atomic units.
    Atomic(U256),
    /// Hundredths of a percent of the maximum (`50%` is 5000).
    Percent(U256),
    /// A dollar value: `digits / 10^scale`.
    Dollars { digits: U256, scale: u32 },
}

/// Why a charge cannot be settled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OverrideError {
    /// The header is not JSON `{"amount": "<string>"}`.
    #[error("Settlement-Overrides is not JSON {{\"amount\": \"…\"}}")]
    NotJson,
    /// The amount is none of `"1000"`, `"50%"` (at most two decimals) or `"$0.05"`.
    #[error("settlement override amount {0} is not atomic units, a percentage or a $ value")]
    Amount(
        /// The amount as given (quoted, cut short).
        String,
    ),
    /// The charge is above the authorized maximum.
    #[error("settlement override {charge} is above the authorized maximum {max}")]
    AboveMaximum {
        /// The resolved charge.
        charge: U256,
        /// The maximum the buyer authorized.
        max: U256,
    },
}

impl SettlementOverrides {
    /// A charge in atomic units of the asset.
    pub fn atomic(amount: U256) -> Self {
        Self {
            amount: OverrideAmount::Atomic(amount),
        }
    }

    /// A charge of `hundredths` hundredths of a percent of the maximum (`5000` is 50 %).
    pub fn percent_hundredths(hundredths: u32) -> Self {
        Self {
            amount: OverrideAmount::Percent(U256::from(hundredths)),
        }
    }

    /// Parses an amount as the header spells it: `"1000"`, `"50%"`, `"$0.05"`.
    pub fn parse_amount(text: &str) -> Result<Self, OverrideError> {
        let bad = || OverrideError::Amount(format!("{:?}", crate::wire::Excerpt(text)));
        let amount = if let Some(percent) = text.strip_suffix('%') {
            let (int, frac) = percent.split_once('.').unwrap_or((percent, ""));
            if !is_digits(int) || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let frac = format!("{frac:0<2}");
            let scaled = format!("{int}{frac}");
            OverrideAmount::Percent(parse_decimal(&scaled).ok_or_else(bad)?)
        } else if let Some(dollars) = text.strip_prefix('$') {
            let (int, frac) = match dollars.split_once('.') {
                Some((int, frac)) if is_digits(frac) => (int, frac),
                Some(_) => return Err(bad()),
                None => (dollars, ""),
            };
            if !is_digits(int) {
                return Err(bad());
            }
            let digits = parse_decimal(&format!("{int}{frac}")).ok_or_else(bad)?;
            let scale = u32::try_from(frac.len()).map_err(|_| bad())?;
            OverrideAmount::Dollars { digits, scale }
        } else if is_digits(text) {
            OverrideAmount::Atomic(parse_decimal(text).ok_or_else(bad)?)
        } else {
            return Err(bad());
        };
        Ok(Self { amount })
    }

    /// Parses a `Settlement-Overrides` header value: JSON `{"amount": "…"}`.
    pub fn from_header(value: &[u8]) -> Result<Self, OverrideError> {
        #[derive(serde::Deserialize)]
        struct Header {
            amount: String,
        }
        let header: Header = serde_json::from_slice(value).map_err(|_| OverrideError::NotJson)?;
        Self::parse_amount(&header.amount)
    }

    /// The charge in atomic units, for a buyer who authorized `max` of an asset with
    /// `decimals`; an error above `max`.
    pub fn resolve(&self, max: U256, decimals: u8) -> Result<U256, OverrideError> {
        let too_big = || OverrideError::AboveMaximum {
            charge: U256::MAX,
            max,
        };
        let charge = match self.amount {
            OverrideAmount::Atomic(amount) => amount,
            OverrideAmount::Percent(hundredths) => {
                // floor(max × h / 10000) without overflowing: max = q × 10000 + r.
                let (q, r) = max.div_rem(U256::from(10_000));
                q.checked_mul(hundredths)
                    .and_then(|whole| whole.checked_add(r * hundredths / U256::from(10_000)))
                    .ok_or_else(too_big)?
            }
            OverrideAmount::Dollars { digits, scale } => {
                let decimals = u32::from(decimals);
                if scale <= decimals {
                    let factor = pow10(decimals - scale).ok_or_else(too_big)?;
                    digits.checked_mul(factor).ok_or_else(too_big)?
                } else {
                    // Round half up at the asset's last decimal.
                    let divisor = pow10(scale - decimals).ok_or_else(too_big)?;
                    let (quotient, remainder) = digits.div_rem(divisor);
                    if remainder * U256::from(2) >= divisor {
                        quotient + U256::from(1)
                    } else {
                        quotient
                    }
                }
            }
        };
        if charge > max {
            return Err(OverrideError::AboveMaximum { charge, max });
        }
        Ok(charge)
    }
}

/// The handler's choice as an adapter reads it from the handler's response: the typed
/// [`SettlementOverrides`] it put in the response extensions, else the value of its
/// `Settlement-Overrides` header (which the adapter removes from the response in any case).
pub fn from_response(
    extension: Option<SettlementOverrides>,
    header: Option<&[u8]>,
) -> Option<Result<SettlementOverrides, OverrideError>> {
    match (extension, header) {
        (Some(overrides), _) => Some(Ok(overrides)),
        (None, Some(value)) => Some(SettlementOverrides::from_header(value)),
        (None, None) => None,
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn parse_decimal(text: &str) -> Option<U256> {
    if text.len() > 78 {
        return None;
    }
    U256::from_str_radix(text, 10).ok()
}

fn pow10(exponent: u32) -> Option<U256> {
    U256::from(10).checked_pow(U256::from(exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str, max: u64, decimals: u8) -> Result<U256, OverrideError> {
        SettlementOverrides::parse_amount(text)?.resolve(U256::from(max), decimals)
    }

    #[test]
    fn atomic_amounts_pass_through_up_to_the_maximum() {
        assert_eq!(resolve("0", 1000, 6), Ok(U256::ZERO));
        assert_eq!(resolve("400", 1000, 6), Ok(U256::from(400)));
        assert_eq!(resolve("1000", 1000, 6), Ok(U256::from(1000)));
        assert_eq!(
            resolve("1001", 1000, 6),
            Err(OverrideError::AboveMaximum {
                charge: U256::from(1001),
                max: U256::from(1000)
            })
        );
    }

    #[test]
    fn percentages_floor_at_hundredths_as_the_reference() {
        assert_eq!(resolve("50%", 1000, 6), Ok(U256::from(500)));
        assert_eq!(resolve("33.33%", 1000, 6), Ok(U256::from(333)));
        assert_eq!(resolve("33.3%", 1000, 6), Ok(U256::from(333)));
        assert_eq!(resolve("0.01%", 1000, 6), Ok(U256::ZERO)); // 0.1 floored
        assert_eq!(resolve("66.67%", 3, 6), Ok(U256::from(2))); // 2.0001
        assert_eq!(resolve("100%", 1000, 6), Ok(U256::from(1000)));
        assert_eq!(resolve("40.%", 1000, 6), Ok(U256::from(400)));
        assert!(matches!(
            resolve("100.01%", 10_000, 6),
            Err(OverrideError::AboveMaximum { .. })
        ));
        for bad in ["33.333%", "%", ".5%", "-1%", "1 %", "1e2%"] {
            assert!(
                matches!(resolve(bad, 1000, 6), Err(OverrideError::Amount(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn dollars_round_half_up_in_the_assets_decimals() {
        assert_eq!(resolve("$0.05", 1_000_000, 6), Ok(U256::from(50_000)));
        assert_eq!(resolve("$1", 1_000_000, 6), Ok(U256::from(1_000_000)));
        assert_eq!(resolve("$0.0000005", 1000, 6), Ok(U256::from(1))); // half: up
        assert_eq!(resolve("$0.0000004999", 1000, 6), Ok(U256::ZERO));
        assert_eq!(resolve("$0.0000015", 1000, 6), Ok(U256::from(2)));
        assert!(matches!(
            resolve("$0.001001", 1000, 6),
            Err(OverrideError::AboveMaximum { .. })
        ));
        for bad in ["$", "$.5", "$1.", "$-1", "$1,5", "1$"] {
            assert!(
                matches!(resolve(bad, 1000, 6), Err(OverrideError::Amount(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_header_is_json_with_a_string_amount() {
        assert_eq!(
            SettlementOverrides::from_header(br#"{"amount":"40%"}"#),
            Ok(SettlementOverrides::percent_hundredths(4000))
        );
        for bad in [&br#"{"amount":400}"#[..], b"400", b"{}", b"not json"] {
            assert_eq!(
                SettlementOverrides::from_header(bad),
                Err(OverrideError::NotJson)
            );
        }
        assert!(matches!(
            SettlementOverrides::from_header(br#"{"amount":"lots"}"#),
            Err(OverrideError::Amount(_))
        ));
    }

    #[test]
    fn huge_values_are_refused_not_wrapped() {
        let max = U256::MAX;
        let huge = SettlementOverrides::parse_amount(&"9".repeat(77)).unwrap();
        assert!(huge.resolve(max, 6).is_ok());
        assert!(huge.resolve(U256::from(1), 6).is_err());
        assert!(SettlementOverrides::parse_amount(&"9".repeat(78)).is_err()); // > 2^256
        assert_eq!(
            SettlementOverrides::percent_hundredths(10_000).resolve(max, 6),
            Ok(max)
        );
        assert_eq!(
            SettlementOverrides::percent_hundredths(5_000).resolve(max, 6),
            Ok(max / U256::from(2))
        );
        assert!(
            SettlementOverrides::percent_hundredths(20_000)
                .resolve(max, 6)
                .is_err()
        );
        assert!(
            SettlementOverrides::parse_amount("$1")
                .unwrap()
                .resolve(U256::from(1), 255)
                .is_err()
        );
    }
}
