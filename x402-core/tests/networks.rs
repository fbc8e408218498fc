//! Networks: names ↔ CAIP-2 ↔ chain ids, aliases, rejections, default assets.
//!
//! The expected values are copied from the protocol reference (x402-protocol.md §4.1, §5), not
//! from the implementation's table.

use std::collections::{BTreeSet, HashSet};

use alloy_primitives::{Address, b256};
use serde_json::json;
use x402_core::network::{Asset, Eip712Domain, Network, NetworkError};

fn parse(s: &str) -> Network {
    Network::parse(s).unwrap_or_else(|error| panic!("{s:?} should parse: {error}"))
}

/// §5.1: v1 name, chain id, CAIP-2, whether the name is in the `x402@1.2.0` enum.
const V1_NAMES: &[(&str, u64, &str, bool)] = &[
    ("ethereum", 1, "eip155:1", false),
    ("sepolia", 11155111, "eip155:11155111", false),
    ("base", 8453, "eip155:8453", true),
    ("base-sepolia", 84532, "eip155:84532", true),
    ("avalanche", 43114, "eip155:43114", true),
    ("avalanche-fuji", 43113, "eip155:43113", true),
    ("polygon", 137, "eip155:137", true),
    ("polygon-amoy", 80002, "eip155:80002", true),
    ("abstract", 2741, "eip155:2741", true),
    ("abstract-testnet", 11124, "eip155:11124", true),
    ("iotex", 4689, "eip155:4689", true),
    ("sei", 1329, "eip155:1329", true),
    ("sei-testnet", 1328, "eip155:1328", true),
    ("peaq", 3338, "eip155:3338", true),
    ("story", 1514, "eip155:1514", true),
    ("educhain", 41923, "eip155:41923", true),
    ("skale-base-sepolia", 324705682, "eip155:324705682", true),
    ("megaeth", 4326, "eip155:4326", false),
    ("monad", 143, "eip155:143", false),
    ("stable", 988, "eip155:988", false),
    ("stable-testnet", 2201, "eip155:2201", false),
    ("celo", 42220, "eip155:42220", false),
    ("flare", 14, "eip155:14", false),
];

#[test]
fn every_v1_name_maps_to_its_chain_id_and_caip2() {
    for &(name, chain_id, caip2, _) in V1_NAMES {
        let network = parse(name);
        assert_eq!(network.chain_id(), chain_id, "{name}");
        assert_eq!(network.caip2(), caip2, "{name}");
        assert_eq!(network.name(), Some(name), "{name}");
    }
}

#[test]
fn every_v1_caip2_maps_back_to_its_name() {
    for &(name, chain_id, caip2, _) in V1_NAMES {
        let network = parse(caip2);
        assert_eq!(network, parse(name), "{caip2}");
        assert_eq!(network.chain_id(), chain_id, "{caip2}");
        assert_eq!(network.name(), Some(name), "{caip2}");
    }
}

#[test]
fn v1_name_is_given_only_for_the_x402_1_2_enum() {
    for &(name, _, caip2, in_enum) in V1_NAMES {
        let expected = in_enum.then_some(name);
        assert_eq!(parse(name).v1_name(), expected, "{name}");
        assert_eq!(parse(caip2).v1_name(), expected, "{caip2}");
    }
}

#[test]
fn the_built_in_v1_names_are_exactly_the_evm_names_of_the_x402_1_2_enum() {
    let v1_names: BTreeSet<_> = Network::known().filter_map(|n| n.v1_name()).collect();
    let expected: BTreeSet<_> = [
        "base",
        "base-sepolia",
        "avalanche",
        "avalanche-fuji",
        "polygon",
        "polygon-amoy",
        "abstract",
        "abstract-testnet",
        "iotex",
        "sei",
        "sei-testnet",
        "peaq",
        "story",
        "educhain",
        "skale-base-sepolia",
    ]
    .into();
    assert_eq!(v1_names, expected);
}

#[test]
fn arbitrum_networks_have_names_but_no_v1_name() {
    for (name, chain_id) in [("arbitrum-one", 42161), ("arbitrum-sepolia", 421614)] {
        let network = parse(name);
        assert_eq!(network.chain_id(), chain_id);
        assert_eq!(network.caip2(), format!("eip155:{chain_id}"));
        assert_eq!(network, parse(&format!("eip155:{chain_id}")));
        assert_eq!(network.name(), Some(name));
        assert_eq!(network.v1_name(), None);
    }
}

#[test]
fn aliases_resolve_to_their_canonical_network() {
    let aliases = [
        ("base-mainnet", "base", "eip155:8453"),
        ("ethereum-mainnet", "ethereum", "eip155:1"),
        ("mainnet", "ethereum", "eip155:1"),
        ("polygon-mainnet", "polygon", "eip155:137"),
        ("avalanche-mainnet", "avalanche", "eip155:43114"),
        ("arbitrum", "arbitrum-one", "eip155:42161"),
    ];
    for (alias, canonical, caip2) in aliases {
        let network = parse(alias);
        assert_eq!(network, parse(canonical), "{alias}");
        assert_eq!(network.caip2(), caip2, "{alias}");
        assert_eq!(network.name(), Some(canonical), "{alias}");
    }
}

#[test]
fn v1_name_of_an_alias_is_the_canonical_name() {
    assert_eq!(parse("base-mainnet").v1_name(), Some("base"));
    assert_eq!(parse("avalanche-mainnet").v1_name(), Some("avalanche"));
    assert_eq!(parse("polygon-mainnet").v1_name(), Some("polygon"));
    assert_eq!(parse("mainnet").v1_name(), None);
    assert_eq!(parse("arbitrum").v1_name(), None);
}

#[test]
fn names_and_the_eip155_prefix_are_matched_case_insensitively() {
    for spelling in [
        "Base-Sepolia",
        "BASE-SEPOLIA",
        "EIP155:84532",
        "Eip155:84532",
    ] {
        let network = parse(spelling);
        assert_eq!(network.caip2(), "eip155:84532", "{spelling}");
        assert_eq!(network.v1_name(), Some("base-sepolia"), "{spelling}");
    }
}

#[test]
fn caip2_is_canonical_whatever_the_spelling() {
    for spelling in ["base", "base-mainnet", "BASE", "eip155:8453", "EIP155:8453"] {
        assert_eq!(parse(spelling).caip2(), "eip155:8453", "{spelling}");
        assert_eq!(parse(spelling).to_string(), "eip155:8453", "{spelling}");
    }
}

#[test]
fn unknown_and_malformed_networks_are_rejected_with_the_value_in_the_message() {
    type Check = fn(&NetworkError) -> bool;
    let unknown: Check = |e| matches!(e, NetworkError::Unknown { .. });
    let unsupported: Check = |e| matches!(e, NetworkError::Unsupported { .. });
    let invalid: Check = |e| matches!(e, NetworkError::InvalidChainId { .. });
    let cases: &[(&str, Check)] = &[
        ("foo", unknown),
        ("unknown-chain", unknown),
        ("invalid-chain", unknown),
        ("", unknown),
        (" base", unknown),
        ("base ", unknown),
        ("base_sepolia", unknown),
        ("8453", unknown),
        ("solana", unsupported),
        ("Solana-Devnet", unsupported),
        ("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", unsupported),
        ("aptos:1", unsupported),
        (":8453", unsupported),
        ("eip155:", invalid),
        ("eip155:abc", invalid),
        ("eip155:01", invalid),
        ("eip155:00", invalid),
        ("eip155:0", invalid),
        ("eip155:-1", invalid),
        ("eip155:+1", invalid),
        ("eip155: 1", invalid),
        ("eip155:1 ", invalid),
        ("eip155:0x2105", invalid),
        ("eip155:1:2", invalid),
        ("eip155:18446744073709551616", invalid),
        ("eip155:99999999999999999999999", invalid),
    ];
    for &(input, check) in cases {
        let error = Network::parse(input).expect_err(input);
        assert!(check(&error), "{input:?} gave {error:?}");
        let message = error.to_string();
        assert!(message.contains(&format!("{input:?}")), "{message}");
    }
}

#[test]
fn non_evm_networks_are_reported_as_not_supported() {
    let message = Network::parse("solana").unwrap_err().to_string();
    assert!(message.contains("not supported"), "{message}");
}

#[test]
fn invalid_chain_ids_say_what_is_wrong() {
    let cases = [
        ("eip155:", "missing"),
        ("eip155:abc", "decimal digits"),
        ("eip155:01", "leading zeros"),
        ("eip155:0", "chain id 0"),
        ("eip155:18446744073709551616", "64 bits"),
    ];
    for (input, reason) in cases {
        let message = Network::parse(input).unwrap_err().to_string();
        assert!(message.contains(reason), "{input}: {message}");
    }
}

#[test]
fn an_unknown_chain_id_is_accepted_without_default_asset_or_v1_name() {
    let network = parse("eip155:999999");
    assert_eq!(network.chain_id(), 999999);
    assert_eq!(network.caip2(), "eip155:999999");
    assert_eq!(network.to_string(), "eip155:999999");
    assert_eq!(network.name(), None);
    assert_eq!(network.v1_name(), None);
    assert_eq!(network.default_asset(), None);
    assert_eq!(network, parse("eip155:999999"));
    assert_ne!(network, parse("eip155:999998"));
}

#[test]
fn the_largest_u64_chain_id_is_accepted() {
    let network = parse("eip155:18446744073709551615");
    assert_eq!(network.chain_id(), u64::MAX);
    assert_eq!(network.caip2(), "eip155:18446744073709551615");
}

#[test]
fn from_chain_id_equals_parsing_the_caip2() {
    for chain_id in [1, 8453, 84532, 999999, u64::MAX] {
        let network = Network::from_chain_id(chain_id).unwrap();
        assert_eq!(network, parse(&format!("eip155:{chain_id}")));
        assert_eq!(network.caip2(), format!("eip155:{chain_id}"));
    }
    assert_eq!(
        Network::from_chain_id(84532).unwrap().v1_name(),
        Some("base-sepolia")
    );
}

#[test]
fn from_chain_id_rejects_zero() {
    let error = Network::from_chain_id(0).unwrap_err();
    assert!(matches!(error, NetworkError::InvalidChainId { .. }));
    assert!(error.to_string().contains("\"eip155:0\""));
}

#[test]
fn from_str_is_parse() {
    let network: Network = "base-sepolia".parse().unwrap();
    assert_eq!(network, parse("eip155:84532"));
    assert!("foo".parse::<Network>().is_err());
}

#[test]
fn spellings_of_one_network_hash_alike() {
    let set: HashSet<Network> = ["base", "base-mainnet", "eip155:8453", "BASE"]
        .into_iter()
        .map(parse)
        .collect();
    assert_eq!(set.len(), 1);
}

#[test]
fn debug_shows_the_caip2_id() {
    assert_eq!(format!("{:?}", parse("base")), r#"Network("eip155:8453")"#);
}

#[test]
fn every_known_network_reparses_from_its_caip2_and_name() {
    assert!(Network::known().len() >= V1_NAMES.len() + 2);
    for network in Network::known() {
        assert_eq!(network.caip2(), format!("eip155:{}", network.chain_id()));
        assert_eq!(parse(network.caip2()), network);
        if let Some(name) = network.name() {
            assert_eq!(parse(name), network);
        }
    }
}

/// §5.2 (`DEFAULT_ASSETS` of `@x402/evm` 2.27, EIP-3009 entries), then §5.3 (`x402` 1.2 USDC
/// config) for v1 chains missing from §5.2: CAIP-2, address as written in the reference,
/// EIP-712 name, version, decimals.
#[rustfmt::skip]
const DEFAULT_ASSETS: &[(&str, &str, &str, &str, u8)] = &[
    ("eip155:8453", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USD Coin", "2", 6),
    ("eip155:84532", "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC", "2", 6),
    ("eip155:1", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USD Coin", "2", 6),
    ("eip155:43114", "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", "USD Coin", "2", 6),
    ("eip155:137", "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", "USD Coin", "2", 6),
    ("eip155:42161", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", "USD Coin", "2", 6),
    ("eip155:421614", "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d", "USD Coin", "2", 6),
    ("eip155:143", "0x754704Bc059F8C67012fEd69BC8A327a5aafb603", "USDC", "2", 6),
    ("eip155:988", "0x779Ded0c9e1022225f8E0630b35a9b54bE713736", "USDT0", "1", 6),
    ("eip155:2201", "0x78Cf24370174180738C5B8E352B6D14c83a6c9A9", "USDT0", "1", 6),
    ("eip155:36900", "0x9cb8142aEBBcdc60AF7c97Af897A67A8f3CA71C2", "USDC.e", "2", 6),
    ("eip155:190415", "0x401eCb1D350407f13ba348573E5630B83638E30D", "Bridged USDC", "2", 6),
    ("eip155:181228", "0x401eCb1D350407f13ba348573E5630B83638E30D", "Bridged USDC", "2", 6),
    ("eip155:50", "0xfA2958CB79b0491CC627c1557F441eF849Ca8eb1", "USDC", "2", 6),
    ("eip155:51", "0xb5AB69F7bBada22B28e79C8FFAECe55eF1c771D4", "USDC", "2", 6),
    ("eip155:14", "0xe7cd86e13AC4309349F30B3435a9d337750fC82D", "USD\u{20AE}0", "1", 6),
    ("eip155:42220", "0xcebA9300f2b948710d2653dD7B07f33A8B32118C", "USDC", "2", 6),
    ("eip155:11142220", "0x01C5C0122039549AD1493B8220cABEdD739BC44E", "USDC", "2", 6),
    ("eip155:1329", "0xe15fC38F6D8c56aF07bbCBe3BAf5708A2Bf42392", "USDC", "2", 6),
    ("eip155:1328", "0x4fCF1784B31630811181f670Aea7A7bEF803eaED", "USDC", "2", 6),
    // §5.3 fallbacks.
    ("eip155:43113", "0x5425890298aed601595a70AB815c96711a31Bc65", "USD Coin", "2", 6),
    ("eip155:4689", "0xcdf79194c6c285077a58da47641d4dbe51f63542", "Bridged USDC", "2", 6),
    ("eip155:80002", "0x41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582", "USDC", "2", 6),
    ("eip155:3338", "0xbbA60da06c2c5424f03f7434542280FCAd453d10", "USDC", "2", 6),
    ("eip155:2741", "0x84a71ccd554cc1b02749b35d22f684cc8ec987e1", "Bridged USDC", "2", 6),
    ("eip155:11124", "0xe4C7fBB0a626ed208021ccabA6Be1566905E2dFc", "Bridged USDC", "2", 6),
    ("eip155:1514", "0xF1815bd50389c46847f0Bda824eC8da914045D14", "Bridged USDC", "2", 6),
    (
        "eip155:41923", "0x12a272A581feE5577A5dFa371afEB4b2F3a8C2F8",
        "Bridged USDC (Stargate)", "2", 6,
    ),
    (
        "eip155:324705682", "0x2e08028E3C4c2356572E096d8EF835cD5C6030bD",
        "Bridged USDC (SKALE Bridge)", "2", 6,
    ),
];

#[test]
fn default_assets_match_the_protocol_reference() {
    for &(caip2, address, name, version, decimals) in DEFAULT_ASSETS {
        let asset = parse(caip2)
            .default_asset()
            .unwrap_or_else(|| panic!("{caip2} has no default asset"));
        assert_eq!(
            asset.address,
            address.parse::<Address>().unwrap(),
            "{caip2}"
        );
        assert_eq!(asset.decimals, decimals, "{caip2}");
        assert_eq!(
            asset.eip712,
            Some(Eip712Domain::new(name, version)),
            "{caip2}"
        );
    }
}

#[test]
fn default_asset_addresses_display_eip55_checksummed() {
    for &(caip2, address, ..) in DEFAULT_ASSETS {
        let shown = parse(caip2).default_asset().unwrap().address.to_string();
        if address.bytes().any(|b| b.is_ascii_uppercase()) {
            // The reference's mixed-case spellings are checksums: they must come out identical.
            assert_eq!(shown, address, "{caip2}");
        } else {
            assert!(shown.eq_ignore_ascii_case(address), "{caip2}");
            assert_ne!(shown, address, "{caip2} should be checksummed");
        }
        assert!(Address::parse_checksummed(&shown, None).is_ok(), "{caip2}");
    }
}

#[test]
fn only_the_listed_networks_have_a_default_asset() {
    let with_asset: BTreeSet<String> = Network::known()
        .filter(|n| n.default_asset().is_some())
        .map(|n| n.caip2().to_owned())
        .collect();
    let expected: BTreeSet<String> = DEFAULT_ASSETS.iter().map(|row| row.0.to_owned()).collect();
    assert_eq!(with_asset, expected);
}

#[test]
fn base_sepolia_usdc_is_named_usdc() {
    let asset = parse("base-sepolia").default_asset().unwrap();
    assert_eq!(
        asset.address.to_string(),
        "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    );
    assert_eq!(asset.decimals, 6);
    assert_eq!(asset.eip712, Some(Eip712Domain::new("USDC", "2")));
}

#[test]
fn base_usdc_is_named_usd_coin() {
    let asset = parse("base").default_asset().unwrap();
    assert_eq!(
        asset.address.to_string(),
        "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
    );
    assert_eq!(asset.decimals, 6);
    assert_eq!(asset.eip712, Some(Eip712Domain::new("USD Coin", "2")));
}

#[test]
fn mainnet_usdc_spot_checks() {
    let cases = [
        ("ethereum", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"),
        ("polygon", "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"),
        ("arbitrum-one", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"),
        ("avalanche", "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E"),
    ];
    for (name, address) in cases {
        let asset = parse(name).default_asset().unwrap();
        assert_eq!(asset.address.to_string(), address, "{name}");
        assert_eq!(asset.decimals, 6, "{name}");
        assert_eq!(
            asset.eip712,
            Some(Eip712Domain::new("USD Coin", "2")),
            "{name}"
        );
    }
}

#[test]
fn flare_usdt0_name_uses_the_tugrik_sign() {
    let domain = parse("flare").default_asset().unwrap().eip712.unwrap();
    assert_eq!(domain.name, "USD₮0");
    assert!(domain.name.contains('\u{20AE}'));
    assert_eq!(domain.version, "1");
}

#[test]
fn networks_without_an_eip3009_default_have_no_default_asset() {
    // Sepolia: in neither table. MegaETH, Mezo (31611/31612), SBC (72344/723487) and
    // 38833: their 2.27 default is Permit2-only. 999999: outside the table.
    for network in [
        "sepolia",
        "megaeth",
        "eip155:31611",
        "eip155:31612",
        "eip155:72344",
        "eip155:723487",
        "eip155:38833",
        "eip155:999999",
    ] {
        assert_eq!(parse(network).default_asset(), None, "{network}");
    }
}

#[test]
fn base_sepolia_extra_is_name_usdc_version_2() {
    let extra = parse("base-sepolia")
        .default_asset()
        .unwrap()
        .extra()
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(extra),
        json!({"name": "USDC", "version": "2"})
    );
}

#[test]
fn base_extra_is_name_usd_coin_version_2() {
    let extra = parse("base").default_asset().unwrap().extra().unwrap();
    assert_eq!(
        serde_json::Value::Object(extra),
        json!({"name": "USD Coin", "version": "2"})
    );
}

#[test]
fn an_asset_without_an_eip712_domain_has_no_extra_and_no_separator() {
    let asset = Asset {
        address: Address::ZERO,
        decimals: 18,
        eip712: None,
    };
    assert_eq!(asset.extra(), None);
    assert_eq!(asset.domain_separator(1), None);
}

#[test]
fn default_asset_domain_separators_match_the_protocol_reference() {
    // §4.1 "Known domain separators" (the Ethereum one is USDC's on-chain DOMAIN_SEPARATOR).
    let cases = [
        (
            "base",
            b256!("0x02fa7265e7c5d81118673727957699e4d68f74cd74b7db77da710fe8a2c7834f"),
        ),
        (
            "base-sepolia",
            b256!("0x71f17a3b2ff373b803d70a5a07c046c1a2bc8e89c09ef722fcb047abe94c9818"),
        ),
        (
            "ethereum",
            b256!("0x06c37168a7db5138defc7866392bb87a741f9b3d104deb5094588ce041cae335"),
        ),
        (
            "polygon",
            b256!("0xcaa2ce1a5703ccbe253a34eb3166df60a705c561b44b192061e28f2a985be2ca"),
        ),
        (
            "avalanche",
            b256!("0xbbea200329a938bc3438984a49cb0732e66d66d7bd59c127abacc1710e77f7b3"),
        ),
        (
            "arbitrum-one",
            b256!("0x08d11903f8419e68b1b8721bcbe2e9fc68569122a77ef18c216f10b3b5112c78"),
        ),
    ];
    for (name, expected) in cases {
        let network = parse(name);
        let asset = network.default_asset().unwrap();
        assert_eq!(
            asset.domain_separator(network.chain_id()),
            Some(expected),
            "{name}"
        );
    }
}

#[test]
fn eip712_domain_separator_depends_on_every_input() {
    let domain = Eip712Domain::new("USDC", "2");
    let usdc: Address = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
        .parse()
        .unwrap();
    let base = domain.separator(84532, usdc);
    assert_ne!(
        base,
        Eip712Domain::new("USD Coin", "2").separator(84532, usdc)
    );
    assert_ne!(base, Eip712Domain::new("USDC", "1").separator(84532, usdc));
    assert_ne!(base, domain.separator(8453, usdc));
    assert_ne!(base, domain.separator(84532, Address::ZERO));
}
