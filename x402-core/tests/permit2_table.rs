//! Route tables with Permit2 options: `upto` and `exact` by Permit2, their `extra`, the
//! facilitator address from `/supported`, gas-sponsoring declarations, and the build errors
//! and warnings naming the route and field.

use x402_core::{
    RouteTable,
    spec::RouteSpec,
    table::{BuildWarning, ConfigErrorKind},
    wire::SupportedResponse,
};

const FACILITATOR: &str = "0x1111111111111111111111111111111111111111";

fn spec(routes: &str) -> RouteSpec {
    RouteSpec::from_yaml(&format!(
        "payment: {{ wallet: '0x209693Bc6afc0C5328bA36FaF03C514EF312287C', network: base-sepolia, defaultPrice: '$0.01' }}\nroutes:\n{routes}"
    ))
    .unwrap()
}

fn supported(extensions: &[&str]) -> SupportedResponse {
    serde_json::from_value(serde_json::json!({
        "kinds": [{"x402Version": 2, "scheme": "upto", "network": "eip155:84532",
                   "extra": {"facilitatorAddress": FACILITATOR}}],
        "extensions": extensions,
    }))
    .unwrap()
}

fn build(routes: &str, supported: Option<&SupportedResponse>) -> Result<RouteTable, String> {
    let spec = spec(routes);
    let mut builder = RouteTable::builder().spec(&spec);
    if let Some(supported) = supported {
        builder = builder.supported(supported);
    }
    builder.build().map_err(|e| {
        e.errors()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[test]
fn an_upto_route_offers_the_maximum_by_permit2_with_the_facilitator_address() {
    let table = build("  - { path: /llm, scheme: upto }", Some(&supported(&[]))).unwrap();
    let accept = &table.routes()[0].offer().unwrap().accepts()[0];
    let requirement = accept.requirements();
    assert_eq!(
        (requirement.scheme.as_str(), requirement.amount.as_str()),
        ("upto", "10000")
    );
    let extra = requirement.extra.as_ref().unwrap();
    assert_eq!(extra["assetTransferMethod"], "permit2");
    assert_eq!(extra["facilitatorAddress"], FACILITATOR);
    assert_eq!(extra["name"], "USDC");
    // x402 v1 has no `upto`.
    assert!(accept.v1_requirements().is_none());
}

#[test]
fn an_upto_route_without_a_facilitator_address_is_a_build_error() {
    let error = build("  - { path: /llm, scheme: upto }", None).unwrap_err();
    assert!(error.contains("routes[0]"), "{error}");
    assert!(error.contains("facilitatorAddress"), "{error}");
}

#[test]
fn an_upto_option_without_a_facilitator_address_is_left_out_with_a_warning() {
    let table = build(
        "  - { path: /llm, accepts: [{ scheme: upto }, { scheme: exact }] }",
        None,
    )
    .unwrap();
    let accepts = table.routes()[0].offer().unwrap().accepts();
    assert_eq!(accepts.len(), 1);
    assert_eq!(accepts[0].requirements().scheme, "exact");
    let [BuildWarning::OptionNotOffered { option, .. }] = table.warnings() else {
        panic!("{:?}", table.warnings());
    };
    assert_eq!(*option, 0);
    assert!(
        table.warnings()[0]
            .to_string()
            .contains("facilitatorAddress")
    );
}

#[test]
fn upto_is_authorization_only() {
    let error = build(
        "  - { path: /llm, scheme: upto, paymentFlow: upfront }",
        Some(&supported(&[])),
    )
    .unwrap_err();
    assert!(error.contains("routes[0].paymentFlow"), "{error}");
    assert!(error.contains("upto on eip155 by permit2"), "{error}");
}

#[test]
fn an_unknown_payment_flow_or_transfer_method_names_its_field() {
    let error = build("  - { path: /a, paymentFlow: escrow }", None).unwrap_err();
    assert!(error.contains("routes[0].paymentFlow"), "{error}");
    let error = build(
        "  - { path: /a, accepts: [{ assetTransferMethod: permit3 }] }",
        None,
    )
    .unwrap_err();
    assert!(
        error.contains("routes[0].accepts[0].assetTransferMethod"),
        "{error}"
    );
    let errors =
        RouteTable::from_spec(&spec("  - { path: /a, assetTransferMethod: permit3 }")).unwrap_err();
    assert!(matches!(
        errors.errors()[0].kind(),
        ConfigErrorKind::AssetTransferMethod
    ));
}

#[test]
fn an_exact_permit2_route_says_so_and_declares_announced_gas_sponsoring() {
    let supported = supported(&["eip2612GasSponsoring", "erc20ApprovalGasSponsoring"]);
    let table = build(
        "  - { path: /p2, assetTransferMethod: permit2 }\n  - { path: /plain }",
        Some(&supported),
    )
    .unwrap();
    let permit2 = table.routes()[0].offer().unwrap();
    let extra = permit2.accepts()[0].requirements().extra.clone().unwrap();
    assert_eq!(extra["assetTransferMethod"], "permit2");
    // x402 v1 has no Permit2.
    assert!(permit2.accepts()[0].v1_requirements().is_none());
    assert!(permit2.v1_body("http://a/p2", "").is_none());
    let required = permit2.payment_required("http://a/p2", "Payment required");
    let extensions = required.extensions.unwrap();
    assert!(extensions.contains_key("eip2612GasSponsoring"));
    assert!(extensions.contains_key("erc20ApprovalGasSponsoring"));
    // The precomputed header says the same as the typed challenge.
    let header = permit2.payment_required_header("http://a/p2", "Payment required");
    let decoded = x402_core::codec::decode_payment_required(
        header.as_bytes(),
        x402_core::codec::DEFAULT_MAX_HEADER_BYTES,
    )
    .unwrap();
    assert!(
        decoded
            .extensions
            .unwrap()
            .contains_key("eip2612GasSponsoring")
    );
    // An EIP-3009 route declares nothing.
    let plain = table.routes()[1].offer().unwrap();
    assert!(
        plain
            .payment_required("http://a/plain", "")
            .extensions
            .is_none()
    );
}

#[test]
fn an_upfront_route_advertises_its_flow() {
    let table = build("  - { path: /a, paymentFlow: upfront }", None).unwrap();
    let extra = table.routes()[0].offer().unwrap().accepts()[0]
        .requirements()
        .extra
        .clone()
        .unwrap();
    assert_eq!(extra["paymentFlow"], "upfront");
    let table = build("  - { path: /a, paymentFlow: authorization }", None).unwrap();
    let extra = table.routes()[0].offer().unwrap().accepts()[0]
        .requirements()
        .extra
        .clone()
        .unwrap();
    assert!(extra.get("paymentFlow").is_none());
}
