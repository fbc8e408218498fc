//! The gateway's path rule (`x402_core::path::gateway`): any request target is refused or
//! forwarded, never a panic; the forwarded target is a fixed point (refused never, forwarded
//! as itself); and the table prices the forwarded target exactly as it priced the client's
//! spelling, so the upstream is sent the path that was priced.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use x402_core::{
    RouteTable,
    path::gateway::{canonical_target, check_unambiguous},
    spec::RouteSpec,
    table::{RequestParts, RouteMatch},
};

const SPEC: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia, defaultPrice: "$0.001" }
routes:
  - { path: /free/**, free: true }
  - { path: /paid/** }
  - { path: /api/v1/items }
  - { path: /Exact, caseInsensitive: false }
  - { path: /, free: true }
"#;

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let spec = RouteSpec::from_yaml(SPEC).expect("spec parses");
        RouteTable::builder()
            .case_insensitive_by_default(true)
            .spec(&spec)
            .build()
            .expect("builds")
    })
}

/// What the table decides for `target`: unmatched, free or priced, and which route.
fn decision(target: &str) -> Option<(u8, usize)> {
    match table().match_request(&RequestParts::new("GET", None, target)).ok()? {
        RouteMatch::Free(route) => Some((1, route.index())),
        RouteMatch::Priced(route, _) => Some((2, route.index())),
        _ => Some((0, usize::MAX)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let checked = check_unambiguous(target);
    let forwarded = canonical_target(target);
    assert_eq!(checked.is_ok(), forwarded.is_ok(), "check and forward agree");
    let Ok(forwarded) = forwarded else {
        return;
    };
    assert_eq!(
        canonical_target(&forwarded).as_deref(),
        Ok(forwarded.as_str()),
        "the forwarded target forwards as itself"
    );
    assert_eq!(
        decision(&forwarded),
        decision(target),
        "the upstream is sent what was priced"
    );
});
