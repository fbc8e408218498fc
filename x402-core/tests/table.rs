//! Route table compilation and matching: inheritance, conditions, methods, hosts, errors,
//! shadowing, and the precomputed offers. Cases from seed-behaviours.md §5 are numbered.

use serde_json::{Value, json};
use x402_core::{
    RouteTable, codec,
    labels::RouteLabels,
    spec::RouteSpec,
    table::{BuildWarning, ConfigErrorKind, HeaderLookup, RequestParts, RouteMatch},
    wire::{v1, v2},
};

const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
const OTHER: &str = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const BASE_SEPOLIA_USDC: &str = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
const BASE_USDC: &str = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";

fn table(yaml: &str) -> RouteTable {
    let spec = RouteSpec::from_yaml(yaml).expect("spec parses");
    RouteTable::from_spec(&spec).unwrap_or_else(|e| panic!("table builds: {e}"))
}

fn build_errors(yaml: &str) -> x402_core::table::BuildErrors {
    let spec = RouteSpec::from_yaml(yaml).expect("spec parses");
    RouteTable::from_spec(&spec).expect_err("table must not build")
}

fn get<'t>(table: &'t RouteTable, path: &str) -> RouteMatch<'t> {
    table
        .match_request(&RequestParts::new("GET", Some("api.example.com"), path))
        .expect("path normalises")
}

fn priced_requirements(table: &RouteTable, path: &str) -> Vec<v2::PaymentRequirements> {
    match get(table, path) {
        RouteMatch::Priced(_, offer) => offer
            .accepts()
            .iter()
            .map(|a| a.requirements().clone())
            .collect(),
        other => panic!("{path}: expected a priced match, got {other:?}"),
    }
}

fn route_name(m: RouteMatch<'_>) -> Option<String> {
    match m {
        RouteMatch::Unmatched => None,
        RouteMatch::Free(route) | RouteMatch::Priced(route, _) => Some(route.name().to_string()),
        other => panic!("a match this test does not know: {other:?}"),
    }
}

// --- Price / network inheritance (seed §5 items 20–25) ---------------------------------------

#[test]
fn route_without_price_inherits_default_price_and_network() {
    // Item 20.
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}\nroutes: [{{ path: /api/** }}]"
    ));
    let reqs = priced_requirements(&t, "/api/x");
    assert_eq!(
        serde_json::to_value(&reqs[0]).unwrap(),
        json!({
            "scheme": "exact", "network": "eip155:84532", "amount": "1000",
            "asset": BASE_SEPOLIA_USDC, "payTo": PAY_TO, "maxTimeoutSeconds": 300,
            "extra": {"name": "USDC", "version": "2"}
        })
    );
}

#[test]
fn route_price_overrides_default_price() {
    // Item 21.
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}\nroutes: [{{ path: /api/**, price: '0.01' }}]"
    ));
    assert_eq!(priced_requirements(&t, "/api/x")[0].amount, "10000");
}

#[test]
fn missing_price_is_a_load_error_not_a_request_time_500() {
    // Item 22: the operator failed at request time; we refuse the configuration.
    let errors = build_errors(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia }}\nroutes: [{{ path: /api/** }}]"
    ));
    let error = &errors.errors()[0];
    assert_eq!(error.field(), "routes[0].price");
    assert!(matches!(error.kind(), ConfigErrorKind::Missing(_)));
    assert_eq!(error.route_index(), Some(0));
}

#[test]
fn route_network_overrides_payment_network_and_resolves_to_caip2() {
    // Item 24.
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - {{ path: /mainnet, network: base }}
  - {{ path: /testnet }}"
    ));
    let mainnet = &priced_requirements(&t, "/mainnet")[0];
    assert_eq!(mainnet.network, "eip155:8453");
    assert_eq!(mainnet.asset, BASE_USDC);
    assert_eq!(
        mainnet.extra.as_ref().unwrap()["name"],
        Value::from("USD Coin")
    );
    assert_eq!(
        priced_requirements(&t, "/testnet")[0].network,
        "eip155:84532"
    );
}

#[test]
fn unknown_route_network_is_a_load_error_naming_the_route_and_value() {
    // Item 24: `invalid-chain` is refused at load.
    let errors = build_errors(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - {{ path: /ok }}
  - {{ path: /bad, name: bad-route, network: invalid-chain }}"
    ));
    let error = &errors.errors()[0];
    assert_eq!(error.field(), "routes[1].network");
    assert_eq!(error.value(), "invalid-chain");
    assert_eq!(error.route_name(), Some("bad-route"));
    let message = errors.to_string();
    assert!(
        message.contains("bad-route") && message.contains("invalid-chain"),
        "{message}"
    );
}

#[test]
fn route_pay_to_overrides_the_wallet() {
    // Item 25.
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - {{ path: /mine, payTo: '{OTHER}' }}
  - {{ path: /default }}"
    ));
    assert_eq!(
        priced_requirements(&t, "/mine")[0].pay_to,
        "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"
    );
    assert_eq!(priced_requirements(&t, "/default")[0].pay_to, PAY_TO);
}

#[test]
fn accepts_list_several_options_inheriting_route_values() {
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia }}
routes:
  - path: /multi
    price: '0.001'
    accepts:
      - {{}}
      - {{ network: base, price: '0.002' }}
      - {{ network: eip155:1, payTo: '{OTHER}', maxTimeoutSeconds: 60 }}"
    ));
    let reqs = priced_requirements(&t, "/multi");
    let summary: Vec<_> = reqs
        .iter()
        .map(|r| (r.network.as_str(), r.amount.as_str(), r.max_timeout_seconds))
        .collect();
    assert_eq!(
        summary,
        [
            ("eip155:84532", "1000", 300),
            ("eip155:8453", "2000", 300),
            ("eip155:1", "1000", 60)
        ]
    );
}

#[test]
fn custom_token_uses_its_decimals_and_eip712_domain() {
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base }}
routes:
  - path: /token
    price: '0.5'
    asset: {{ address: '0x1111111111111111111111111111111111111111', decimals: 18,
              eip712: {{ name: My Token, version: '1' }} }}
  - path: /atomic
    amount: '42'
    asset: {{ address: '0x1111111111111111111111111111111111111111', decimals: 18,
              eip712: {{ name: My Token, version: '1' }} }}"
    ));
    let token = &priced_requirements(&t, "/token")[0];
    assert_eq!(token.amount, "500000000000000000");
    assert_eq!(
        serde_json::to_value(&token.extra).unwrap(),
        json!({"name": "My Token", "version": "1"})
    );
    assert_eq!(priced_requirements(&t, "/atomic")[0].amount, "42");
}

#[test]
fn dollar_price_on_a_custom_token_is_refused() {
    let errors = build_errors(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base }}
routes:
  - path: /token
    price: '$0.5'
    asset: {{ address: '0x1111111111111111111111111111111111111111', decimals: 18,
              eip712: {{ name: My Token, version: '1' }} }}"
    ));
    assert!(matches!(
        errors.errors()[0].kind(),
        ConfigErrorKind::DollarPriceOnToken
    ));
}

#[test]
fn zero_price_is_refused_unless_the_route_is_free() {
    let errors = build_errors(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia }}\nroutes: [{{ path: /zero, price: '0' }}]"
    ));
    assert!(matches!(
        errors.errors()[0].kind(),
        ConfigErrorKind::ZeroPrice
    ));
    assert_eq!(errors.errors()[0].field(), "routes[0].price");

    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia }}\nroutes: [{{ path: /zero, price: '0', free: true }}]"
    ));
    assert!(matches!(get(&t, "/zero"), RouteMatch::Free(_)));
}

#[test]
fn every_error_of_a_spec_is_reported_at_once() {
    let errors = build_errors(
        "payment: { wallet: nope, network: base-sepolia, defaultPrice: '0.001', facilitatorURL: ftp://x }
routes:
  - { path: 'no-slash' }
  - { path: /a, price: '1,000' }
  - { path: /b, methods: [FETCH] }
  - { path: /c, hosts: ['bad host'] }
  - { path: /d, mode: conditional, conditions: [{ header: X-Tier, pattern: '(', action: pay }] }
  - { path: /e, maxTimeoutSeconds: 0 }",
    );
    let fields: Vec<_> = errors.errors().iter().map(|e| e.field()).collect();
    for expected in [
        "payment.wallet",
        "payment.facilitatorURL",
        "routes[0].path",
        "routes[1].price",
        "routes[2].methods[0]",
        "routes[3].hosts[0]",
        "routes[4].conditions[0].pattern",
        "routes[5].maxTimeoutSeconds",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
}

#[test]
fn unknown_fields_in_a_spec_are_rejected_with_their_name() {
    let error = RouteSpec::from_yaml("payment: {}\nroutes: [{ path: /a, pricee: '1' }]")
        .expect_err("typo must be refused");
    let message = x402_core::ErrorChain(&error).to_string();
    assert!(message.contains("pricee"), "{message}");
}

#[test]
fn operator_manifest_spec_with_ingress_ref_compiles() {
    let t = table(&format!(
        "ingressRef: {{ name: my-ingress }}
payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001',
           facilitatorURL: 'https://x402.org/facilitator' }}
routes:
  - {{ path: /api/v1/*, price: '0.01' }}
  - {{ path: /health, free: true }}"
    ));
    assert_eq!(t.len(), 2);
    assert_eq!(
        t.routes()[0].facilitator_url(),
        Some("https://x402.org/facilitator")
    );
}

// --- Conditions (seed §5 items 30–35) ----------------------------------------------------------

fn conditional(conditions: &str) -> RouteTable {
    table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - {{ path: /c, mode: conditional, conditions: {conditions} }}"
    ))
}

fn with_headers<'t>(t: &'t RouteTable, headers: &[(&str, &str)]) -> RouteMatch<'t> {
    t.match_request(&RequestParts::new("GET", None, "/c").with_headers(headers))
        .unwrap()
}

#[test]
fn matching_pay_condition_requires_payment() {
    // Items 30 and 31: a pay condition matching, or no condition matching, means pay.
    let t = conditional("[{ header: X-Bot-Score, pattern: '^(bot|automated)$', action: pay }]");
    assert!(matches!(
        with_headers(&t, &[("X-Bot-Score", "bot")]),
        RouteMatch::Priced(..)
    ));
    assert!(matches!(with_headers(&t, &[]), RouteMatch::Priced(..)));
}

#[test]
fn matching_free_condition_serves_free() {
    // Item 32.
    let t = conditional("[{ header: User-Agent, pattern: '(?i)curl', action: free }]");
    assert!(matches!(
        with_headers(&t, &[("User-Agent", "curl/8.5")]),
        RouteMatch::Free(_)
    ));
    assert!(matches!(
        with_headers(&t, &[("User-Agent", "Mozilla/5.0")]),
        RouteMatch::Priced(..)
    ));
}

#[test]
fn first_matching_condition_decides() {
    // Item 33.
    let t = conditional(
        "[{ header: X-Tier, pattern: '^gold$', action: free }, { header: X-Tier, pattern: '.*', action: pay }]",
    );
    assert!(matches!(
        with_headers(&t, &[("X-Tier", "gold")]),
        RouteMatch::Free(_)
    ));
    assert!(matches!(
        with_headers(&t, &[("X-Tier", "silver")]),
        RouteMatch::Priced(..)
    ));
}

#[test]
fn empty_header_is_skipped_and_names_are_case_insensitive_and_regex_unanchored() {
    // Item 34.
    let t = conditional("[{ header: X-Tier, pattern: 'bot', action: free }]");
    assert!(matches!(
        with_headers(&t, &[("x-tier", "")]),
        RouteMatch::Priced(..)
    ));
    assert!(matches!(
        with_headers(&t, &[("x-tier", "robot")]),
        RouteMatch::Free(_)
    ));
}

#[test]
fn free_route_ignores_pay_conditions_and_conditional_without_conditions_pays() {
    // Item 35.
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - {{ path: /free, free: true, mode: conditional,
      conditions: [{{ header: X-A, pattern: '.*', action: pay }}] }}
  - {{ path: /c, mode: conditional }}"
    ));
    let headers = [("X-A", "x")];
    let free = t
        .match_request(&RequestParts::new("GET", None, "/free").with_headers(&headers[..]))
        .unwrap();
    assert!(matches!(free, RouteMatch::Free(_)));
    assert!(matches!(get(&t, "/c"), RouteMatch::Priced(..)));
}

#[test]
fn conditions_without_conditional_mode_are_ignored_with_a_warning() {
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - {{ path: /c, conditions: [{{ header: X-A, pattern: '.*', action: free }}] }}"
    ));
    let headers = [("X-A", "x")];
    let matched = t
        .match_request(&RequestParts::new("GET", None, "/c").with_headers(&headers[..]))
        .unwrap();
    assert!(matches!(matched, RouteMatch::Priced(..)));
    assert!(matches!(
        t.warnings(),
        [BuildWarning::ConditionsIgnored { .. }]
    ));
}

// --- Methods and hosts -------------------------------------------------------------------------

fn methods_table() -> RouteTable {
    table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - {{ path: /write, name: write, methods: [post, PUT] }}
  - {{ path: /any, name: any }}"
    ))
}

fn with_method(t: &RouteTable, method: &str, path: &str) -> Option<String> {
    route_name(
        t.match_request(&RequestParts::new(method, None, path))
            .unwrap(),
    )
}

#[test]
fn listed_methods_match_only_those_methods() {
    let t = methods_table();
    assert_eq!(with_method(&t, "POST", "/write").as_deref(), Some("write"));
    assert_eq!(with_method(&t, "PUT", "/write").as_deref(), Some("write"));
    assert_eq!(with_method(&t, "GET", "/write"), None);
}

#[test]
fn route_without_methods_applies_to_every_method_but_options() {
    let t = methods_table();
    for method in ["GET", "HEAD", "POST", "DELETE", "PATCH", "PROPFIND"] {
        assert_eq!(
            with_method(&t, method, "/any").as_deref(),
            Some("any"),
            "{method}"
        );
    }
    assert_eq!(with_method(&t, "OPTIONS", "/any"), None);
}

#[test]
fn host_matching_ignores_case_and_port_and_supports_subdomain_wildcards() {
    // Item 18.
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - {{ path: /x, name: echo, hosts: [echo.local] }}
  - {{ path: /x, name: sub, hosts: ['*.example.com'] }}
  - {{ path: /x, name: any }}"
    ));
    let host =
        |h: Option<&str>| route_name(t.match_request(&RequestParts::new("GET", h, "/x")).unwrap());
    assert_eq!(host(Some("ECHO.local:8402")).as_deref(), Some("echo"));
    assert_eq!(host(Some("echo.local.")).as_deref(), Some("echo"));
    assert_eq!(host(Some("api.Example.com")).as_deref(), Some("sub"));
    assert_eq!(host(Some("example.com")).as_deref(), Some("any"));
    assert_eq!(host(Some("other.local")).as_deref(), Some("any"));
    assert_eq!(host(None).as_deref(), Some("any"));
}

/// Header access that records which headers were asked for.
struct Recording<'h>(&'h [(&'h str, &'h str)], std::cell::RefCell<Vec<String>>);

impl HeaderLookup for Recording<'_> {
    fn first(&self, name: &str) -> Option<&str> {
        self.1.borrow_mut().push(name.to_owned());
        HeaderLookup::first(self.0, name)
    }
}

#[test]
fn the_host_header_is_read_only_when_a_host_rule_needs_it() {
    let spec = |hosts: &str| {
        format!(
            "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - {{ path: /x, name: echo{hosts} }}
  - {{ path: /x, name: any }}"
        )
    };
    let headers = [("host", "echo.local:8402")];
    let matched = |t: &RouteTable, host: Option<&str>| {
        let lookup = Recording(&headers, Default::default());
        let name = route_name(
            t.match_request(&RequestParts::new("GET", host, "/x").with_headers(&lookup))
                .unwrap(),
        );
        (name, lookup.1.into_inner())
    };

    // A host rule and no host given: the `Host` header decides, read once.
    let t = table(&spec(", hosts: [echo.local]"));
    let (name, asked) = matched(&t, None);
    assert_eq!(name.as_deref(), Some("echo"));
    assert_eq!(asked, ["host"]);
    // A host given (the URI authority) wins over the header, which is not read.
    let (name, asked) = matched(&t, Some("other.local"));
    assert_eq!(name.as_deref(), Some("any"));
    assert!(asked.is_empty(), "{asked:?}");
    // No host rule in the table: nothing is read.
    let t = table(&spec(""));
    let (name, asked) = matched(&t, None);
    assert_eq!(name.as_deref(), Some("echo"));
    assert!(asked.is_empty(), "{asked:?}");
}

// --- Order, shadowing, several specs -------------------------------------------------------------

#[test]
fn first_route_in_declaration_order_wins_and_later_ones_are_reported_shadowed() {
    // Item 11.
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - {{ path: /rpc/**, name: rpc }}
  - {{ path: /rpc/premium/**, name: premium }}
  - {{ path: /other/*, name: other, methods: [GET] }}
  - {{ path: /other/x, name: other-post, methods: [POST] }}"
    ));
    assert_eq!(
        route_name(get(&t, "/rpc/premium/mainnet")).as_deref(),
        Some("rpc")
    );
    let shadowed: Vec<_> = t
        .warnings()
        .iter()
        .filter_map(|w| match w {
            BuildWarning::Shadowed { route, by } => Some((route.1.to_string(), by.1.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(shadowed, [("premium".to_owned(), "rpc".to_owned())]);
}

#[test]
fn routes_of_several_specs_match_in_the_order_the_specs_were_added() {
    let first = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}\nroutes: [{{ path: /a/**, name: first }}]"
    ))
    .unwrap();
    let second = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base, defaultPrice: '0.5' }}\nroutes: [{{ path: /**, name: second }}]"
    ))
    .unwrap();
    let t = RouteTable::builder()
        .named_spec("ns/first", &first)
        .named_spec("ns/second", &second)
        .build()
        .unwrap();
    assert_eq!(route_name(get(&t, "/a/b")).as_deref(), Some("first"));
    assert_eq!(route_name(get(&t, "/b")).as_deref(), Some("second"));
    assert_eq!(t.routes()[1].source(), Some("ns/second"));
    assert_eq!(priced_requirements(&t, "/b")[0].network, "eip155:8453");
}

#[test]
fn errors_of_several_specs_name_their_spec() {
    let good = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}\nroutes: [{{ path: /a }}]"
    ))
    .unwrap();
    let bad = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: nowhere, defaultPrice: '0.001' }}\nroutes: [{{ path: /b }}]"
    ))
    .unwrap();
    let errors = RouteTable::builder()
        .named_spec("ns/good", &good)
        .named_spec("ns/bad", &bad)
        .build()
        .unwrap_err();
    assert!(
        errors
            .errors()
            .iter()
            .all(|e| e.source_name() == Some("ns/bad"))
    );
    assert!(errors.to_string().contains("ns/bad"));
}

#[test]
fn invalid_paths_are_errors_not_unmatched() {
    let t = methods_table();
    for path in ["/any/%zz", "/x/../any", "/%2e%2e/any"] {
        assert!(
            t.match_request(&RequestParts::new("GET", None, path))
                .is_err(),
            "{path} must be refused"
        );
    }
}

#[test]
fn empty_table_matches_nothing_without_looking_at_the_path() {
    let t = RouteTable::empty();
    let m = t
        .match_request(&RequestParts::new("GET", None, "/%zz"))
        .unwrap();
    assert!(matches!(m, RouteMatch::Unmatched));
}

// --- Offers: precomputed challenges ------------------------------------------------------------

fn weather() -> RouteTable {
    table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia }}
routes:
  - {{ path: /weather, methods: [GET], price: '$0.001', description: Weather data,
      mimeType: application/json }}"
    ))
}

#[test]
fn v2_challenge_equals_the_official_servers_for_the_same_route() {
    // x402-protocol.md §12.2: the PAYMENT-REQUIRED the official 2.27 server sent.
    let official: Value = serde_json::from_str(
        r#"{"x402Version":2,"error":"Payment required","resource":{"url":"http://127.0.0.1:4021/weather?city=SF","description":"Weather data","mimeType":"application/json"},"accepts":[{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}]}"#,
    )
    .unwrap();
    let t = weather();
    let RouteMatch::Priced(_, offer) = get(&t, "/weather") else {
        panic!("priced")
    };
    let header =
        offer.payment_required_header("http://127.0.0.1:4021/weather?city=SF", "Payment required");
    let ours: Value =
        codec::decode_header(header.as_bytes(), codec::DEFAULT_MAX_HEADER_BYTES).unwrap();
    assert_eq!(ours, official);
    assert_eq!(
        serde_json::to_value(
            offer.payment_required("http://127.0.0.1:4021/weather?city=SF", "Payment required")
        )
        .unwrap(),
        official
    );
}

#[test]
fn challenge_escapes_the_resource_url_and_error_as_json() {
    let t = weather();
    let offer = t.routes()[0].offer().unwrap();
    let url = "http://h/weather?q=\"quoted\"&x=\\";
    let mut json = Vec::new();
    offer.write_payment_required_json(url, "bad \"header\"", &mut json);
    let parsed: v2::PaymentRequired = serde_json::from_slice(&json).unwrap();
    assert_eq!(parsed.resource.url, url);
    assert_eq!(parsed.error.as_deref(), Some("bad \"header\""));
}

#[test]
fn v1_body_is_what_v1_clients_parse() {
    let t = weather();
    let offer = t.routes()[0].offer().unwrap();
    let body = offer
        .v1_body(
            "http://127.0.0.1:4021/weather",
            "X-PAYMENT header is required",
        )
        .expect("base-sepolia has a v1 name");
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        parsed,
        json!({
            "x402Version": 1,
            "error": "X-PAYMENT header is required",
            "accepts": [{
                "scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "1000",
                "resource": "http://127.0.0.1:4021/weather", "description": "Weather data",
                "mimeType": "application/json", "payTo": PAY_TO, "maxTimeoutSeconds": 300,
                "asset": BASE_SEPOLIA_USDC, "extra": {"name": "USDC", "version": "2"}
            }]
        })
    );
    let accept = &offer.accepts()[0];
    let v1_json = accept
        .v1_requirements_json("http://127.0.0.1:4021/weather")
        .unwrap();
    let v1_req: v1::PaymentRequirements = serde_json::from_slice(&v1_json).unwrap();
    assert_eq!(v1_req.resource, "http://127.0.0.1:4021/weather");
    assert_eq!(v1_req.max_amount_required, "1000");
}

#[test]
fn v1_body_lists_only_networks_v1_clients_know() {
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', defaultPrice: '0.001' }}
routes:
  - path: /x
    accepts: [{{ network: eip155:42161 }}, {{ network: base }}]
  - {{ path: /y, network: eip155:42161 }}"
    ));
    let offer = t.routes()[0].offer().unwrap();
    let body: v1::PaymentRequired =
        serde_json::from_slice(&offer.v1_body("http://h/x", "e").unwrap()).unwrap();
    assert_eq!(body.accepts.len(), 1);
    assert_eq!(body.accepts[0].network, "base");
    assert!(
        t.routes()[1]
            .offer()
            .unwrap()
            .v1_body("http://h/y", "e")
            .is_none()
    );
}

#[test]
fn requirements_json_is_the_serialized_requirement() {
    let t = weather();
    let accept = &t.routes()[0].offer().unwrap().accepts()[0];
    let parsed: v2::PaymentRequirements =
        serde_json::from_str(accept.requirements_json().get()).unwrap();
    assert_eq!(&parsed, accept.requirements());
}

#[test]
fn accepted_matches_when_client_extra_is_a_superset_and_not_when_a_field_differs() {
    let t = weather();
    let offer = t.routes()[0].offer().unwrap();
    let mut accepted = offer.accepts()[0].requirements().clone();
    assert!(offer.find_v2(&accepted).is_some());

    accepted
        .extra
        .as_mut()
        .unwrap()
        .insert("client".into(), Value::from(true));
    assert!(
        offer.find_v2(&accepted).is_some(),
        "client may add extra keys"
    );

    let mut tampered = accepted.clone();
    tampered.amount = "1".into();
    assert!(offer.find_v2(&tampered).is_none(), "tampered amount");

    let mut other_domain = accepted.clone();
    other_domain
        .extra
        .as_mut()
        .unwrap()
        .insert("name".into(), Value::from("USD Coin"));
    assert!(
        offer.find_v2(&other_domain).is_none(),
        "server extra must be kept"
    );

    let mut no_extra = accepted;
    no_extra.extra = None;
    assert!(offer.find_v2(&no_extra).is_none());
}

#[test]
fn v1_payments_are_matched_by_scheme_and_v1_network_name() {
    let t = weather();
    let offer = t.routes()[0].offer().unwrap();
    assert_eq!(offer.find_v1("exact", "base-sepolia").count(), 1);
    assert_eq!(offer.find_v1("exact", "base").count(), 0);
    assert_eq!(offer.find_v1("upto", "base-sepolia").count(), 0);
}

// --- Labels ------------------------------------------------------------------------------------

#[test]
fn label_sets_use_the_resolved_chain_also_for_inherited_networks() {
    // Items 51 and 53: never a blank chain label.
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - {{ path: /inherit, name: inherit }}
  - {{ path: /multi, name: multi, accepts: [{{}}, {{ network: base }}] }}
  - {{ path: /health, name: health, free: true }}"
    ));
    let sets: Vec<_> = t.label_sets().into_iter().collect();
    assert_eq!(
        sets,
        [
            RouteLabels::new("health", "eip155:84532"),
            RouteLabels::new("inherit", "eip155:84532"),
            RouteLabels::new("multi", "eip155:8453"),
            RouteLabels::new("multi", "eip155:84532"),
        ]
    );
    assert_eq!(&**t.routes()[0].labels().chain(), "eip155:84532");
}

#[test]
fn route_name_defaults_to_the_path_text() {
    let t = weather();
    assert_eq!(&**t.routes()[0].name(), "/weather");
}

#[test]
fn the_typed_requirement_view_equals_the_parsed_advertised_requirement() {
    // The gate checks payments against views built from build-time values; they must say
    // exactly what the advertised (serialized) requirement says.
    let t = table(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '0.001' }}
routes:
  - path: /multi
    accepts:
      - {{}}
      - {{ network: base, maxTimeoutSeconds: 60 }}
      - {{ payTo: '0x1111111111111111111111111111111111111111' }}"
    ));
    for accept in t.routes()[0].offer().unwrap().accepts() {
        let parsed = x402_core::evm::RequirementView::from_v2(accept.requirements()).unwrap();
        assert_eq!(accept.requirement_view(), parsed);
    }
}

/// `paymentIdentifier` needs a ledger: a table built for a gate without one refuses every
/// route declaring it, on the route or through `payment`, naming the route and the field.
#[test]
fn payment_identifier_without_a_ledger_is_refused_naming_the_route_and_field() {
    let spec = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '$0.001' }}
routes:
  - {{ path: /free, free: true }}
  - {{ path: /orders, name: orders, paymentIdentifier: required }}
  - {{ path: /plain }}"
    ))
    .unwrap();
    let errors = RouteTable::builder()
        .ledger(false)
        .spec(&spec)
        .build()
        .expect_err("no ledger");
    assert_eq!(errors.errors().len(), 1, "{errors}");
    let error = &errors.errors()[0];
    assert!(matches!(
        error.kind(),
        ConfigErrorKind::PaymentIdentifierWithoutLedger
    ));
    assert_eq!(error.route_index(), Some(1));
    assert_eq!(error.field(), "routes[1].paymentIdentifier");
    assert!(
        error.to_string().contains("needs a payment ledger"),
        "{error}"
    );
    for ledger in [Some(true), None] {
        let builder = RouteTable::builder().spec(&spec);
        let builder = match ledger {
            Some(present) => builder.ledger(present),
            None => builder,
        };
        assert!(builder.build().is_ok(), "ledger {ledger:?}");
    }

    let inherited = RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '{PAY_TO}', network: base-sepolia, defaultPrice: '$0.001', \
         paymentIdentifier: optional }}\nroutes: [ {{ path: /a }}, {{ path: /b }} ]"
    ))
    .unwrap();
    let errors = RouteTable::builder()
        .ledger(false)
        .spec(&inherited)
        .build()
        .expect_err("no ledger");
    let fields: Vec<_> = errors
        .errors()
        .iter()
        .map(|e| (e.route_index(), e.field().to_owned()))
        .collect();
    assert_eq!(
        fields,
        [
            (Some(0), "payment.paymentIdentifier".to_owned()),
            (Some(1), "payment.paymentIdentifier".to_owned())
        ]
    );
}
