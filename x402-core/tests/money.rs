//! Prices and token amounts: exact decimal parsing, strict rejection, formatting.

use alloy_primitives::U256;
use proptest::prelude::*;
use x402_core::money::{MoneyError, format_units, parse_atomic, parse_price};

fn units(text: &str) -> U256 {
    text.parse().unwrap()
}

fn value(text: &str) -> String {
    text.to_owned()
}

/// Checks a table of `(price, decimals, expected)` rows, and that every error quotes the price.
fn check_prices(rows: &[(&str, u8, Result<&str, MoneyError>)]) {
    for (price, decimals, expected) in rows {
        let got = parse_price(price, *decimals);
        match expected {
            Ok(atomic) => assert_eq!(got, Ok(units(atomic)), "{price:?} @ {decimals}"),
            Err(error) => {
                assert_eq!(got.as_ref(), Err(error), "{price:?} @ {decimals}");
                let message = error.to_string();
                assert!(message.contains(&format!("{price:?}")), "{message}");
                assert_eq!(error.value(), *price);
            }
        }
    }
}

#[test]
fn operator_human_to_atomic_units_table_holds() {
    // x402-k8s-operator `TestHumanToAtomicUnits`, every row.
    check_prices(&[
        ("0.001", 6, Ok("1000")),
        ("0.01", 6, Ok("10000")),
        ("1", 6, Ok("1000000")),
        ("0", 6, Ok("0")),
        ("0.000001", 6, Ok("1")),
        ("100", 6, Ok("100000000")),
        ("0.5", 6, Ok("500000")),
        ("1.23", 2, Ok("123")),
        ("", 6, Err(MoneyError::Empty { value: value("") })),
        (
            "abc",
            6,
            Err(MoneyError::InvalidCharacter {
                value: value("abc"),
                character: 'a',
            }),
        ),
        (
            "0.0000001",
            6,
            Err(MoneyError::TooManyDecimals {
                value: value("0.0000001"),
                decimals: 6,
            }),
        ),
    ]);
}

#[test]
fn obol_decimal_to_atomic_tables_hold() {
    // obol-stack `TestDecimalToAtomic_ValidInput` and `_RejectsMalformedInput`.
    check_prices(&[
        ("0.01", 6, Ok("10000")),
        ("1.5", 6, Ok("1500000")),
        ("0.001", 18, Ok("1000000000000000")),
        (
            "abc",
            6,
            Err(MoneyError::InvalidCharacter {
                value: value("abc"),
                character: 'a',
            }),
        ),
        ("", 6, Err(MoneyError::Empty { value: value("") })),
        ("  ", 6, Err(MoneyError::Whitespace { value: value("  ") })),
        (
            "0,01",
            6,
            Err(MoneyError::Separator {
                value: value("0,01"),
                character: ',',
            }),
        ),
        // Decided differently: obol rejects "$0.01", but our prices may carry a leading `$`
        // (DESIGN §3, as the official SDK's "$0.001"), so it is a valid 1-cent price here.
        ("$0.01", 6, Ok("10000")),
        ("-1", 6, Err(MoneyError::Sign { value: value("-1") })),
    ]);
}

#[test]
fn forms_the_operator_accepted_are_rejected() {
    // The operator's big.Rat parsing took these; they are never prices here.
    check_prices(&[
        (
            "-0.001",
            6,
            Err(MoneyError::Sign {
                value: value("-0.001"),
            }),
        ),
        (
            "1e-3",
            6,
            Err(MoneyError::Exponent {
                value: value("1e-3"),
            }),
        ),
        (
            "1/1000",
            6,
            Err(MoneyError::Fraction {
                value: value("1/1000"),
            }),
        ),
        (
            "0x10",
            6,
            Err(MoneyError::Hex {
                value: value("0x10"),
            }),
        ),
        (
            " 0.001",
            6,
            Err(MoneyError::Whitespace {
                value: value(" 0.001"),
            }),
        ),
    ]);
}

#[test]
fn dollar_and_plain_prices_convert_alike() {
    // x402-protocol §6.1: "$0.001" and "0.001" are 1000 units of 6-decimal USDC.
    assert_eq!(parse_price("$0.001", 6), Ok(U256::from(1000)));
    assert_eq!(parse_price("0.001", 6), Ok(U256::from(1000)));
}

#[test]
fn a_price_finer_than_the_token_is_an_error_not_a_rounding() {
    check_prices(&[
        (
            "0.0000001",
            6,
            Err(MoneyError::TooManyDecimals {
                value: value("0.0000001"),
                decimals: 6,
            }),
        ),
        (
            "0.0000019",
            6,
            Err(MoneyError::TooManyDecimals {
                value: value("0.0000019"),
                decimals: 6,
            }),
        ),
        (
            "$0.0000004",
            6,
            Err(MoneyError::TooManyDecimals {
                value: value("$0.0000004"),
                decimals: 6,
            }),
        ),
        (
            "1.001",
            2,
            Err(MoneyError::TooManyDecimals {
                value: value("1.001"),
                decimals: 2,
            }),
        ),
        (
            "0.5",
            0,
            Err(MoneyError::TooManyDecimals {
                value: value("0.5"),
                decimals: 0,
            }),
        ),
    ]);
}

#[test]
fn malformed_prices_are_rejected_with_the_reason() {
    let separator = |text: &str, character| MoneyError::Separator {
        value: value(text),
        character,
    };
    let invalid = |text: &str, character| MoneyError::InvalidCharacter {
        value: value(text),
        character,
    };
    check_prices(&[
        ("$", 6, Err(MoneyError::Empty { value: value("$") })),
        (
            "0.01 ",
            6,
            Err(MoneyError::Whitespace {
                value: value("0.01 "),
            }),
        ),
        (
            "0. 01",
            6,
            Err(MoneyError::Whitespace {
                value: value("0. 01"),
            }),
        ),
        (
            "$ 0.01",
            6,
            Err(MoneyError::Whitespace {
                value: value("$ 0.01"),
            }),
        ),
        (
            " $0.01",
            6,
            Err(MoneyError::Whitespace {
                value: value(" $0.01"),
            }),
        ),
        (
            "\t1",
            6,
            Err(MoneyError::Whitespace {
                value: value("\t1"),
            }),
        ),
        (
            "1\n",
            6,
            Err(MoneyError::Whitespace {
                value: value("1\n"),
            }),
        ),
        (
            "1\u{a0}000",
            6,
            Err(MoneyError::Whitespace {
                value: value("1\u{a0}000"),
            }),
        ),
        (
            "0.01 USDC",
            6,
            Err(MoneyError::Whitespace {
                value: value("0.01 USDC"),
            }),
        ),
        ("1,000", 6, Err(separator("1,000", ','))),
        ("1_000", 6, Err(separator("1_000", '_'))),
        ("1'000", 6, Err(separator("1'000", '\''))),
        ("+1", 6, Err(MoneyError::Sign { value: value("+1") })),
        (
            "$-1",
            6,
            Err(MoneyError::Sign {
                value: value("$-1"),
            }),
        ),
        (
            "-$1",
            6,
            Err(MoneyError::Sign {
                value: value("-$1"),
            }),
        ),
        (
            "\u{2212}1",
            6,
            Err(MoneyError::Sign {
                value: value("\u{2212}1"),
            }),
        ),
        (
            "1E3",
            6,
            Err(MoneyError::Exponent {
                value: value("1E3"),
            }),
        ),
        (
            "1.5e2",
            6,
            Err(MoneyError::Exponent {
                value: value("1.5e2"),
            }),
        ),
        (
            "0X1f",
            6,
            Err(MoneyError::Hex {
                value: value("0X1f"),
            }),
        ),
        (
            "$0x10",
            6,
            Err(MoneyError::Hex {
                value: value("$0x10"),
            }),
        ),
        (
            ".5",
            6,
            Err(MoneyError::BareDecimalPoint { value: value(".5") }),
        ),
        (
            "5.",
            6,
            Err(MoneyError::BareDecimalPoint { value: value("5.") }),
        ),
        (
            ".",
            6,
            Err(MoneyError::BareDecimalPoint { value: value(".") }),
        ),
        (
            "$.5",
            6,
            Err(MoneyError::BareDecimalPoint {
                value: value("$.5"),
            }),
        ),
        (
            "1.2.3",
            6,
            Err(MoneyError::MultipleDecimalPoints {
                value: value("1.2.3"),
            }),
        ),
        (
            "1..2",
            6,
            Err(MoneyError::MultipleDecimalPoints {
                value: value("1..2"),
            }),
        ),
        (
            "1$",
            6,
            Err(MoneyError::MisplacedDollar { value: value("1$") }),
        ),
        (
            "$$1",
            6,
            Err(MoneyError::MisplacedDollar {
                value: value("$$1"),
            }),
        ),
        ("e5", 6, Err(invalid("e5", 'e'))),
        ("USD 1", 6, Err(invalid("USD 1", 'U'))),
        ("€1", 6, Err(invalid("€1", '€'))),
        ("1O", 6, Err(invalid("1O", 'O'))),
        ("\u{ff11}", 6, Err(invalid("\u{ff11}", '\u{ff11}'))),
        ("NaN", 6, Err(invalid("NaN", 'N'))),
        ("Infinity", 6, Err(invalid("Infinity", 'I'))),
    ]);
}

#[test]
fn every_error_message_says_what_was_wrong() {
    let cases = [
        ("", "no digits"),
        ("$ 0.01", "whitespace"),
        ("-1", "sign"),
        ("1e-3", "exponent"),
        ("1/1000", "fraction"),
        ("0x10", "hexadecimal"),
        ("0,01", "decimal point"),
        (".5", "both sides"),
        ("1.2.3", "more than one decimal point"),
        ("1$", "'$'"),
        ("abc", "unexpected character 'a'"),
        ("0.0000001", "more than 6 decimal places"),
    ];
    for (price, phrase) in cases {
        let message = parse_price(price, 6).unwrap_err().to_string();
        assert!(message.contains(phrase), "{price:?}: {message}");
    }
}

#[test]
fn trailing_zeros_beyond_the_decimals_are_accepted() {
    // They do not change the value, so nothing is rounded.
    check_prices(&[
        ("0.0010000", 6, Ok("1000")),
        ("0.0000010", 6, Ok("1")),
        ("1.0", 0, Ok("1")),
        ("1.000", 2, Ok("100")),
        ("0.000000000", 6, Ok("0")),
    ]);
}

#[test]
fn leading_zeros_are_accepted() {
    check_prices(&[
        ("00.1", 6, Ok("100000")),
        ("007", 0, Ok("7")),
        ("$00.10", 6, Ok("100000")),
        ("0000", 6, Ok("0")),
    ]);
}

#[test]
fn zero_prices_parse_to_zero() {
    for (price, decimals) in [("0", 6), ("$0", 6), ("0.0", 6), ("0", 0), ("0", 255)] {
        assert_eq!(
            parse_price(price, decimals),
            Ok(U256::ZERO),
            "{price} @ {decimals}"
        );
    }
}

#[test]
fn prices_beyond_u256_overflow() {
    let max = U256::MAX.to_string();
    let over = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
    check_prices(&[
        (&max, 0, Ok(&max)),
        ("1", 77, Ok(&format!("1{}", "0".repeat(77)))),
        ("0.1", 78, Ok(&format!("1{}", "0".repeat(77)))),
        (over, 0, Err(MoneyError::Overflow { value: value(over) })),
        ("2", 77, Err(MoneyError::Overflow { value: value("2") })),
        ("1", 78, Err(MoneyError::Overflow { value: value("1") })),
        ("1", 255, Err(MoneyError::Overflow { value: value("1") })),
        (
            "$1.5",
            200,
            Err(MoneyError::Overflow {
                value: value("$1.5"),
            }),
        ),
    ]);
}

#[test]
fn atomic_amounts_are_plain_decimal_integers() {
    let max = U256::MAX.to_string();
    let rows: &[(&str, &str)] = &[("1000", "1000"), ("0", "0"), ("007", "7"), (&max, &max)];
    for (text, expected) in rows {
        assert_eq!(parse_atomic(text), Ok(units(expected)), "{text:?}");
    }
}

#[test]
fn malformed_atomic_amounts_are_rejected_with_the_reason() {
    let over = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
    let rows = [
        ("", MoneyError::Empty { value: value("") }),
        (
            "$1000",
            MoneyError::DollarInAtomicAmount {
                value: value("$1000"),
            },
        ),
        (
            "1000$",
            MoneyError::DollarInAtomicAmount {
                value: value("1000$"),
            },
        ),
        (
            "1.5",
            MoneyError::DecimalPointInAtomicAmount {
                value: value("1.5"),
            },
        ),
        (
            "1.0",
            MoneyError::DecimalPointInAtomicAmount {
                value: value("1.0"),
            },
        ),
        ("-1", MoneyError::Sign { value: value("-1") }),
        (
            "1e3",
            MoneyError::Exponent {
                value: value("1e3"),
            },
        ),
        (
            "0x10",
            MoneyError::Hex {
                value: value("0x10"),
            },
        ),
        (" 1", MoneyError::Whitespace { value: value(" 1") }),
        (
            "1,000",
            MoneyError::Separator {
                value: value("1,000"),
                character: ',',
            },
        ),
        (
            "abc",
            MoneyError::InvalidCharacter {
                value: value("abc"),
                character: 'a',
            },
        ),
        (over, MoneyError::Overflow { value: value(over) }),
    ];
    for (text, expected) in rows {
        let error = parse_atomic(text).unwrap_err();
        assert_eq!(error, expected, "{text:?}");
        assert!(error.to_string().contains(&format!("{text:?}")), "{error}");
    }
}

#[test]
fn format_units_writes_canonical_decimals() {
    let max = U256::MAX.to_string();
    let tiny = format!("0.{}1", "0".repeat(99));
    let rows: &[(&str, u8, &str)] = &[
        ("1000", 6, "0.001"),
        ("0", 6, "0"),
        ("0", 0, "0"),
        ("1", 6, "0.000001"),
        ("1000000", 6, "1"),
        ("1500000", 6, "1.5"),
        ("10000", 6, "0.01"),
        ("123", 2, "1.23"),
        ("100", 2, "1"),
        ("5", 0, "5"),
        ("1000000000000000", 18, "0.001"),
        (&max, 0, &max),
        ("1", 100, &tiny),
    ];
    for (amount, decimals, expected) in rows {
        assert_eq!(
            format_units(units(amount), *decimals),
            *expected,
            "{amount} @ {decimals}"
        );
    }
}

/// The exact value of `integer.fraction` in units of `10^-decimals`, computed without the
/// parser: `integer * 10^decimals + fraction * 10^(decimals - fraction digits)`.
fn exact_units(integer: u64, fraction: &[u8], decimals: u8) -> U256 {
    let fraction_value = fraction
        .iter()
        .fold(0_u128, |acc, digit| acc * 10 + u128::from(*digit));
    let pad = u32::from(decimals) - u32::try_from(fraction.len()).unwrap();
    let total =
        u128::from(integer) * 10_u128.pow(u32::from(decimals)) + fraction_value * 10_u128.pow(pad);
    U256::from(total)
}

fn digits_text(digits: &[u8]) -> String {
    digits
        .iter()
        .map(|digit| char::from(b'0' + digit))
        .collect()
}

/// (decimals, fraction digits of at most `decimals` places)
fn decimals_and_fraction() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (0_u8..=18).prop_flat_map(|decimals| {
        (
            Just(decimals),
            prop::collection::vec(0_u8..10, 0..=usize::from(decimals)),
        )
    })
}

fn any_u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        any::<[u64; 4]>().prop_map(U256::from_limbs),
        any::<u64>().prop_map(U256::from),
        Just(U256::ZERO),
        Just(U256::MAX),
    ]
}

proptest! {
    #[test]
    fn parse_price_equals_the_exact_value(
        integer in any::<u64>(),
        (decimals, fraction) in decimals_and_fraction(),
        dollar in any::<bool>(),
    ) {
        let mut text = if dollar { format!("${integer}") } else { integer.to_string() };
        if !fraction.is_empty() {
            text = format!("{text}.{}", digits_text(&fraction));
        }
        prop_assert_eq!(
            parse_price(&text, decimals),
            Ok(exact_units(integer, &fraction, decimals))
        );
    }

    #[test]
    fn format_units_output_parses_back_to_the_same_amount(
        amount in any_u256(),
        decimals in 0_u8..=100,
    ) {
        let text = format_units(amount, decimals);
        prop_assert_eq!(parse_price(&text, decimals), Ok(amount), "{}", text);
    }

    #[test]
    fn canonical_prices_round_trip_through_format_units(
        integer in any::<u64>(),
        (decimals, mut fraction) in decimals_and_fraction(),
    ) {
        while fraction.last() == Some(&0) {
            fraction.pop();
        }
        let text = if fraction.is_empty() {
            integer.to_string()
        } else {
            format!("{integer}.{}", digits_text(&fraction))
        };
        let amount = parse_price(&text, decimals).unwrap();
        prop_assert_eq!(format_units(amount, decimals), text);
    }

    #[test]
    fn parse_price_never_panics_on_arbitrary_text(text in any::<String>(), decimals in any::<u8>()) {
        if let Ok(amount) = parse_price(&text, decimals) {
            prop_assert_eq!(parse_price(&format_units(amount, decimals), decimals), Ok(amount));
        }
    }

    #[test]
    fn parse_price_never_panics_on_price_like_text(
        text in "[$0-9.,eE+/x_ -]{0,40}",
        decimals in any::<u8>(),
    ) {
        match parse_price(&text, decimals) {
            Ok(amount) => {
                prop_assert_eq!(parse_price(&format_units(amount, decimals), decimals), Ok(amount));
            }
            Err(error) => prop_assert_eq!(error.value(), text.as_str()),
        }
    }

    #[test]
    fn parse_atomic_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = parse_atomic(&text);
    }

    #[test]
    fn parse_atomic_reads_any_decimal_integer(amount in any_u256()) {
        prop_assert_eq!(parse_atomic(&amount.to_string()), Ok(amount));
    }
}
