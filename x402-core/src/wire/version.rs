//! `x402Version` markers that only (de)serialize as their own number.
//!
//! A wrong version is a deserialization error naming the number found ("expected x402Version 2,
//! found 1"), so a v1 payload can never be taken for a v2 one or the other way round.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

macro_rules! version_marker {
    ($name:ident, $number:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name;

        impl $name {
            /// The version number.
            pub const NUMBER: u8 = $number;
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_u8($number)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl de::Visitor<'_> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "x402Version {}", $number)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        if v == $number {
                            Ok($name)
                        } else {
                            Err(E::custom(format_args!(
                                "expected x402Version {}, found {v}",
                                $number
                            )))
                        }
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        match u64::try_from(v) {
                            Ok(v) => self.visit_u64(v),
                            Err(_) => Err(E::custom(format_args!(
                                "expected x402Version {}, found {v}",
                                $number
                            ))),
                        }
                    }
                    // `JSON.parse("2.0") === 2`, so the official SDK accepts an integral float.
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        if v == f64::from($number) {
                            Ok($name)
                        } else {
                            Err(E::custom(format_args!(
                                "expected x402Version {}, found {v}",
                                $number
                            )))
                        }
                    }
                }
                deserializer.deserialize_u64(Visitor)
            }
        }
    };
}

version_marker!(V1, 1, "`x402Version: 1`.");
version_marker!(V2, 2, "`x402Version: 2`.");
