//! The manifests in `examples/kube/`: the CRD is exactly what `--example crd` prints (golden),
//! the sample resource compiles, and the RBAC rules grant what the watcher uses and no more.

use kube::CustomResourceExt;
use serde::Deserialize as _;
use serde_yaml_ng::Value;
use x402_core::RouteTable;
use x402_kube::crd::{X402Route, crd_yaml};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/kube");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()
}

#[test]
fn the_checked_in_crd_is_the_generated_one() {
    let generated = crd_yaml();
    let checked_in = read("crd.yaml");
    assert!(
        generated == checked_in,
        "examples/kube/crd.yaml is stale: run `cargo run -p examples --features kube --example crd > examples/kube/crd.yaml` \
         and review the diff (the CRD must stay compatible with the operator's)"
    );
    // And it is the CRD of the Rust type.
    let parsed: Value = serde_yaml_ng::from_str(&checked_in).unwrap();
    assert_eq!(parsed, serde_yaml_ng::to_value(X402Route::crd()).unwrap());
}

#[test]
fn the_sample_resource_compiles() {
    let resource: X402Route = serde_yaml_ng::from_str(&read("x402route.yaml")).unwrap();
    let table = RouteTable::from_spec(&resource.spec).unwrap();
    assert_eq!(table.len(), 4);
}

#[test]
fn rbac_grants_list_watch_and_status_patch_only() {
    for file in ["rbac.yaml", "rbac-namespaced.yaml"] {
        let text = read(file);
        let roles: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|doc| Value::deserialize(doc).unwrap())
            .filter(|doc| matches!(doc["kind"].as_str(), Some("ClusterRole" | "Role")))
            .collect();
        assert_eq!(roles.len(), 1, "{file}");
        let rules: Vec<(Vec<String>, Vec<String>, Vec<String>)> = roles[0]["rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|rule| {
                let list = |key: &str| -> Vec<String> {
                    serde_yaml_ng::from_value(rule[key].clone()).unwrap()
                };
                (list("apiGroups"), list("resources"), list("verbs"))
            })
            .collect();
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            rules,
            [
                (
                    strings(&["x402.io"]),
                    strings(&["x402routes"]),
                    strings(&["list", "watch"])
                ),
                (
                    strings(&["x402.io"]),
                    strings(&["x402routes/status"]),
                    strings(&["patch"])
                ),
            ],
            "{file}"
        );
    }
}
