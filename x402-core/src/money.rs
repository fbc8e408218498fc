//! Exact prices and token amounts.
//!
//! Prices are written as exact decimals, `0.001` or `$0.001` (the `$` is decoration: a price is
//! paid 1:1 in a USD stablecoin), and converted to the token's atomic units once, when the
//! route table is built. Nothing is ever rounded or truncated: a price that the token cannot
//! represent exactly is an error, never a cheaper (or free) price.
//!
//! The grammar is deliberately narrow, because every laxer reading has priced someone's API at
//! zero in another gateway (`"0,01"` read as 0, `"-0.001"` accepted, `"0.0000004"` rounded to 0):
//!
//! ```text
//! price  = ["$"] digits ["." digits]      parse_price
//! atomic = digits                         parse_atomic
//! digits = 1*("0"-"9")
//! ```
//!
//! So there is no whitespace anywhere, no sign, no exponent, no fraction (`1/1000`), no hex,
//! no `,` or `_` grouping, and a digit is required on both sides of a `.` (`.5` and `5.` are
//! rejected as ambiguous; the official SDK rejects them too). Leading zeros are accepted
//! (`00.10` is 0.1): the text is converted to a number before anyone else sees it, so they
//! cannot confuse a comparison. Trailing zeros beyond the token's decimals are accepted too
//! (`0.0010000` with 6 decimals is exactly 1000 units); a non-zero digit there is an error.
//!
//! # Example
//!
//! ```
//! use alloy_primitives::U256;
//! use x402_core::money::{MoneyError, format_units, parse_atomic, parse_price};
//!
//! // USDC has 6 decimals.
//! assert_eq!(parse_price("$0.001", 6).unwrap(), U256::from(1000));
//! assert_eq!(parse_price("0.001", 6).unwrap(), U256::from(1000));
//! assert_eq!(parse_atomic("1000").unwrap(), U256::from(1000));
//! assert_eq!(format_units(U256::from(1000), 6), "0.001");
//!
//! assert!(matches!(parse_price("0.0000001", 6), Err(MoneyError::TooManyDecimals { .. })));
//! let error = parse_price("0,01", 6).unwrap_err();
//! assert!(error.to_string().contains("\"0,01\""));
//! ```

use alloy_primitives::U256;

/// Why a price or atomic amount was rejected. Every variant carries the offending text, and
/// every message quotes it and says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// No digits at all (`""`, `"$"`).
    #[error("{value:?} is not an amount: it has no digits")]
    Empty {
        /// The rejected text.
        value: String,
    },
    /// Whitespace somewhere (`" 1"`, `"$ 0.01"`, `"1 000"`).
    #[error("{value:?} is not an amount: whitespace is not allowed")]
    Whitespace {
        /// The rejected text.
        value: String,
    },
    /// A `+` or `-` sign (`"-0.001"`).
    #[error("{value:?} is not an amount: signs are not allowed, amounts are unsigned")]
    Sign {
        /// The rejected text.
        value: String,
    },
    /// An exponent (`"1e-3"`).
    #[error("{value:?} is not an amount: exponents are not allowed; write 0.001, not 1e-3")]
    Exponent {
        /// The rejected text.
        value: String,
    },
    /// A fraction (`"1/1000"`).
    #[error("{value:?} is not an amount: fractions are not allowed; write 0.001, not 1/1000")]
    Fraction {
        /// The rejected text.
        value: String,
    },
    /// Hexadecimal (`"0x10"`).
    #[error("{value:?} is not an amount: hexadecimal is not allowed; write a decimal number")]
    Hex {
        /// The rejected text.
        value: String,
    },
    /// A digit-group separator or decimal comma (`"1,000"`, `"0,01"`, `"1_000"`).
    #[error(
        "{value:?} is not an amount: {character:?} is not allowed; \
         use '.' as the decimal point and no digit grouping"
    )]
    Separator {
        /// The rejected text.
        value: String,
        /// The separator found.
        character: char,
    },
    /// A decimal point without a digit on one side (`".5"`, `"5."`).
    #[error(
        "{value:?} is not an amount: write a digit on both sides of the decimal point \
         (0.5, not .5 or 5.)"
    )]
    BareDecimalPoint {
        /// The rejected text.
        value: String,
    },
    /// More than one decimal point (`"1.2.3"`).
    #[error("{value:?} is not an amount: it has more than one decimal point")]
    MultipleDecimalPoints {
        /// The rejected text.
        value: String,
    },
    /// A `$` of a price that is not the first character, or a second one (`"1$"`, `"$$1"`).
    #[error("{value:?} is not an amount: '$' is only allowed once, at the start")]
    MisplacedDollar {
        /// The rejected text.
        value: String,
    },
    /// A `$` in an atomic token amount (`"$1000"`).
    #[error(
        "{value:?} is not an atomic amount: atomic token amounts take no '$' \
         (dollar amounts are prices)"
    )]
    DollarInAtomicAmount {
        /// The rejected text.
        value: String,
    },
    /// A decimal point in an atomic token amount (`"1.5"`).
    #[error(
        "{value:?} is not an atomic amount: it must be a whole number of the token's \
         smallest unit"
    )]
    DecimalPointInAtomicAmount {
        /// The rejected text.
        value: String,
    },
    /// Any other character (`"abc"`, `"1O"`, `"１"`).
    #[error(
        "{value:?} is not an amount: unexpected character {character:?}; expected decimal digits"
    )]
    InvalidCharacter {
        /// The rejected text.
        value: String,
        /// The first unexpected character.
        character: char,
    },
    /// A non-zero digit beyond the token's decimals (`"0.0000001"` for a 6-decimal token).
    #[error(
        "{value:?} has more than {decimals} decimal places, the token's precision; \
         amounts are never rounded"
    )]
    TooManyDecimals {
        /// The rejected text.
        value: String,
        /// The token's decimals.
        decimals: u8,
    },
    /// An amount whose atomic value does not fit in 256 bits.
    #[error("{value:?} is too large: in atomic units it does not fit in 256 bits")]
    Overflow {
        /// The rejected text.
        value: String,
    },
}

impl MoneyError {
    /// The rejected text.
    pub fn value(&self) -> &str {
        match self {
            Self::Empty { value }
            | Self::Whitespace { value }
            | Self::Sign { value }
            | Self::Exponent { value }
            | Self::Fraction { value }
            | Self::Hex { value }
            | Self::Separator { value, .. }
            | Self::BareDecimalPoint { value }
            | Self::MultipleDecimalPoints { value }
            | Self::MisplacedDollar { value }
            | Self::DollarInAtomicAmount { value }
            | Self::DecimalPointInAtomicAmount { value }
            | Self::InvalidCharacter { value, .. }
            | Self::TooManyDecimals { value, .. }
            | Self::Overflow { value } => value,
        }
    }
}

/// Converts a decimal price (`"0.001"` or `"$0.001"`) to atomic units of a token with
/// `decimals` decimals: `0.001` at 6 decimals is `1000`.
///
/// The conversion is exact (see the [module docs](self) for the grammar). `"0"` is `Ok(0)`:
/// whether a zero price is allowed is the caller's decision.
///
/// # Errors
///
/// A [`MoneyError`] naming the text when it is not an exact unsigned decimal, when it has a
/// non-zero digit beyond `decimals` places ([`MoneyError::TooManyDecimals`]), or when the
/// result does not fit in a `U256` ([`MoneyError::Overflow`]).
pub fn parse_price(text: &str, decimals: u8) -> Result<U256, MoneyError> {
    let body = text.strip_prefix('$').unwrap_or(text);
    let (integer, fraction) = split(text, body, Kind::Price)?;
    // Zeros past the token's precision do not change the value; anything else would be lost.
    let fraction = fraction.trim_end_matches('0');
    let Some(padding) = usize::from(decimals).checked_sub(fraction.len()) else {
        return Err(MoneyError::TooManyDecimals {
            value: text.to_owned(),
            decimals,
        });
    };
    let overflow = || MoneyError::Overflow {
        value: text.to_owned(),
    };
    let units = accumulate(U256::ZERO, integer).ok_or_else(overflow)?;
    let units = accumulate(units, fraction).ok_or_else(overflow)?;
    if units.is_zero() {
        // 10^padding may not fit in 256 bits, but zero times anything is zero.
        return Ok(U256::ZERO);
    }
    U256::from(10)
        .checked_pow(U256::from(padding))
        .and_then(|scale| units.checked_mul(scale))
        .ok_or_else(overflow)
}

/// Parses a token amount already in atomic units (`"1000"`): decimal digits only.
///
/// # Errors
///
/// A [`MoneyError`] naming the text when it is not a plain unsigned decimal integer (a `$` or a
/// `.` included) or does not fit in a `U256`.
pub fn parse_atomic(text: &str) -> Result<U256, MoneyError> {
    let (integer, _) = split(text, text, Kind::Atomic)?;
    accumulate(U256::ZERO, integer).ok_or_else(|| MoneyError::Overflow {
        value: text.to_owned(),
    })
}

/// Formats an amount of atomic units as a decimal of the token: `1000` at 6 decimals is
/// `"0.001"`. For display (a paywall page, logs); the output has no `$`.
///
/// The output is canonical: no leading zeros (but a `0` before the point), no trailing zeros
/// after the point, and no point for whole numbers. [`parse_price`] reads it back to the same
/// amount.
pub fn format_units(amount: U256, decimals: u8) -> String {
    let digits = amount.to_string();
    let decimals = usize::from(decimals);
    if decimals == 0 {
        return digits;
    }
    // Left-pad so there is at least one digit before the point.
    let width = digits.len().max(decimals + 1);
    let padded = format!("{digits:0>width$}");
    let (integer, fraction) = padded.split_at(width - decimals);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        integer.to_owned()
    } else {
        format!("{integer}.{fraction}")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Price,
    Atomic,
}

/// Checks `body` (the text without a price's leading `$`) against the grammar and splits it
/// into its integer and fraction digits (the fraction is empty when there is no point). Errors
/// carry the whole `text`. The first offending character decides the error.
fn split<'a>(text: &str, body: &'a str, kind: Kind) -> Result<(&'a str, &'a str), MoneyError> {
    let value = || text.to_owned();
    if body.is_empty() {
        return Err(MoneyError::Empty { value: value() });
    }
    if body.starts_with("0x") || body.starts_with("0X") {
        return Err(MoneyError::Hex { value: value() });
    }
    let mut point = None;
    let mut previous = None;
    for (index, character) in body.char_indices() {
        let error = match character {
            '0'..='9' => None,
            '.' if kind == Kind::Atomic => {
                Some(MoneyError::DecimalPointInAtomicAmount { value: value() })
            }
            '.' if point.is_some() => Some(MoneyError::MultipleDecimalPoints { value: value() }),
            '.' => {
                point = Some(index);
                None
            }
            '$' if kind == Kind::Atomic => {
                Some(MoneyError::DollarInAtomicAmount { value: value() })
            }
            '$' => Some(MoneyError::MisplacedDollar { value: value() }),
            '+' | '-' | '\u{2212}' => Some(MoneyError::Sign { value: value() }),
            'e' | 'E' if matches!(previous, Some('0'..='9' | '.')) => {
                Some(MoneyError::Exponent { value: value() })
            }
            '/' => Some(MoneyError::Fraction { value: value() }),
            ',' | '_' | '\'' => Some(MoneyError::Separator {
                value: value(),
                character,
            }),
            c if c.is_whitespace() => Some(MoneyError::Whitespace { value: value() }),
            _ => Some(MoneyError::InvalidCharacter {
                value: value(),
                character,
            }),
        };
        if let Some(error) = error {
            return Err(error);
        }
        previous = Some(character);
    }
    match point {
        None => Ok((body, "")),
        Some(index) => {
            let (integer, fraction) = (&body[..index], &body[index + 1..]);
            if integer.is_empty() || fraction.is_empty() {
                return Err(MoneyError::BareDecimalPoint { value: value() });
            }
            Ok((integer, fraction))
        }
    }
}

/// Appends decimal `digits` (ASCII digits only, already checked) to `units`; `None` on
/// overflow.
fn accumulate(units: U256, digits: &str) -> Option<U256> {
    let ten = U256::from(10);
    digits.bytes().try_fold(units, |units, digit| {
        units
            .checked_mul(ten)?
            .checked_add(U256::from(digit - b'0'))
    })
}
