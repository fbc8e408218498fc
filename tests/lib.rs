//! The x402 conformance suite.
//!
//! One table of cases, written once and run against every adapter. An adapter provides an
//! [`AppFactory`]: given a [`Gate`](x402_core::gate::Gate), it builds the same small app
//! (see [`app`]) behind its middleware and sends requests to it in process. The
//! [`conformance_suite!`] macro then expands every case into a `#[tokio::test]`:
//!
//! ```text
//! tests::conformance_suite!(Axum); // in tests/tower.rs, with `struct Axum;` its factory
//! ```
//!
//! The list of cases is checked against the source: a case written into `cases.rs` or
//! `hardening.rs` and left out of its suite macro fails the suite's `every_case_is_listed`
//! test, so no case is written and forgotten.
//!
//! The facilitator is [`ScriptedFacilitator`]: in process, scripted per test, counting calls.
//! The HTTP facilitator client is tested against real HTTP servers in `x402-core`.

pub mod app;
pub mod cases;
pub mod facilitator;
pub mod fixture;
pub mod hardening;
pub mod ledger;

pub use app::{AppFactory, AppUnderTest, TestRequest, TestResponse};
pub use facilitator::{Script, ScriptedFacilitator};
pub use fixture::Fixture;

/// The names of the cases in `source`: every `pub async fn` whose parameters take an
/// [`AppFactory`].
pub fn cases_in(source: &str) -> Vec<&str> {
    source
        .split("\npub async fn ")
        .skip(1)
        .filter_map(|item| {
            let (name, rest) = item.split_once('(')?;
            let params = rest.split_once(')')?.0;
            params.contains("AppFactory").then_some(name.trim())
        })
        .collect()
}

/// Panics naming every case of `source` that `listed` leaves out, or any listed twice.
pub fn assert_every_case_is_listed(suite: &str, source: &str, listed: &[&str]) {
    let cases = cases_in(source);
    let missing: Vec<_> = cases.iter().filter(|case| !listed.contains(case)).collect();
    assert!(
        missing.is_empty(),
        "{suite}: cases not in the suite macro: {missing:?}"
    );
    let mut sorted = listed.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        listed.len(),
        "{suite}: a case is listed twice"
    );
    assert_eq!(
        cases.len(),
        listed.len(),
        "{suite}: the macro lists a case the source does not define"
    );
}

#[cfg(test)]
mod test {
    #[test]
    fn cases_are_found_by_their_factory_parameter() {
        let source = "//! docs\npub async fn one(factory: &dyn AppFactory) {}\n\
                      pub async fn two(\n    factory: &dyn AppFactory,\n) {}\n\
                      pub async fn helper(x: u8) {}\nfn private(factory: &dyn AppFactory) {}\n";
        assert_eq!(super::cases_in(source), ["one", "two"]);
    }

    #[test]
    #[should_panic(expected = "cases not in the suite macro: [\"two\"]")]
    fn a_forgotten_case_fails() {
        let source =
            "\npub async fn one(f: &dyn AppFactory) {}\npub async fn two(f: &dyn AppFactory) {}\n";
        super::assert_every_case_is_listed("suite", source, &["one"]);
    }
}
