//! The path normaliser and the route matcher: any request target either normalises or is
//! refused (a 400), and a normalised path matches or not — never a panic. Normalising is
//! idempotent: a normalised path normalises to itself.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use x402_core::{RouteTable, path::NormalizedPath, spec::RouteSpec, table::RequestParts};

const SPEC: &str = r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia, defaultPrice: "$0.001" }
routes:
  - { path: /health, free: true }
  - { path: /api/*/items, methods: [GET, POST] }
  - { path: /files/**, hosts: [files.example.com] }
  - { path: "/weather", price: "$0.01" }
  - { path: /a/**/z }
"#;

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        RouteTable::from_spec(&RouteSpec::from_yaml(SPEC).expect("spec parses")).expect("builds")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = NormalizedPath::parse(target) {
        let again = NormalizedPath::parse(path.as_str()).expect("a normalised path parses");
        assert_eq!(again.as_str(), path.as_str(), "normalising is idempotent");
        let _ = path.segments().count();
    }
    for (method, host) in [("GET", Some("files.example.com:443")), ("POST", None)] {
        let _ = table().match_request(&RequestParts::new(method, host, target));
    }
});
