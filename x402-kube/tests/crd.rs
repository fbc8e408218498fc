//! The `X402Route` CRD is schema-compatible with the existing operator's
//! (`config/crd/bases/x402.io_x402routes.yaml`, summarised in seed-behaviours.md §1.5): same
//! names, scope, status subresource and printer columns; every operator field exists with the
//! same type and constraints; nothing is required that the operator does not require, so the
//! operator's manifests validate unchanged. Extensions are optional fields.

use kube::CustomResourceExt;
use serde_json::{Value, json};
use x402_kube::crd::X402Route;

fn crd() -> Value {
    serde_json::to_value(X402Route::crd()).unwrap()
}

fn schema() -> Value {
    let crd = crd();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// The schema node at a dotted path (`spec.routes[].path`).
fn node<'a>(root: &'a Value, path: &str) -> &'a Value {
    let mut node = root;
    for part in path.split('.') {
        let (name, items) = match part.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (part, false),
        };
        node = &node["properties"][name];
        assert!(!node.is_null(), "{path}: `{name}` is missing");
        if items {
            assert_eq!(node["type"], "array", "{path}");
            node = &node["items"];
        }
    }
    node
}

#[test]
fn names_scope_and_version_are_the_operators() {
    let crd = crd();
    let spec = &crd["spec"];
    assert_eq!(crd["metadata"]["name"], "x402routes.x402.io");
    assert_eq!(spec["group"], "x402.io");
    assert_eq!(spec["scope"], "Namespaced");
    assert_eq!(
        spec["names"],
        json!({ "kind": "X402Route", "plural": "x402routes", "singular": "x402route",
                "shortNames": ["x4r"] })
    );
    let versions = spec["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["name"], "v1alpha1");
    assert_eq!(versions[0]["served"], true);
    assert_eq!(versions[0]["storage"], true);
    assert_eq!(versions[0]["subresources"], json!({ "status": {} }));
}

#[test]
fn printer_columns_are_the_operators() {
    let crd = crd();
    let columns: Vec<(String, String, String)> =
        crd["spec"]["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let text = |k: &str| c[k].as_str().unwrap().to_owned();
                (text("name"), text("type"), text("jsonPath"))
            })
            .collect();
    let expected = [
        ("Ingress Patched", "boolean", ".status.ingressPatched"),
        ("Ready", "boolean", ".status.ready"),
        ("Active Routes", "integer", ".status.activeRoutes"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(columns, expected);
}

/// A field path, its type, and its constraints (keyword, value).
type Field = (&'static str, &'static str, Vec<(&'static str, Value)>);

/// Every field of the operator's schema, with its type and constraints.
fn operator_fields() -> Vec<Field> {
    vec![
        ("spec", "object", vec![]),
        ("spec.ingressRef", "object", vec![]),
        ("spec.ingressRef.name", "string", vec![]),
        ("spec.ingressRef.namespace", "string", vec![]),
        ("spec.payment", "object", vec![]),
        ("spec.payment.wallet", "string", vec![]),
        ("spec.payment.network", "string", vec![]),
        ("spec.payment.defaultPrice", "string", vec![]),
        (
            "spec.payment.facilitatorURL",
            "string",
            vec![("pattern", json!("^https?://")), ("maxLength", json!(2048))],
        ),
        ("spec.routes", "array", vec![]),
        ("spec.routes[].path", "string", vec![]),
        ("spec.routes[].price", "string", vec![]),
        ("spec.routes[].free", "boolean", vec![]),
        (
            "spec.routes[].mode",
            "string",
            vec![
                ("enum", json!(["all-pay", "conditional"])),
                ("default", json!("all-pay")),
            ],
        ),
        ("spec.routes[].conditions", "array", vec![]),
        ("spec.routes[].conditions[].header", "string", vec![]),
        ("spec.routes[].conditions[].pattern", "string", vec![]),
        (
            "spec.routes[].conditions[].action",
            "string",
            vec![("enum", json!(["pay", "free"]))],
        ),
        ("status.ingressPatched", "boolean", vec![]),
        ("status.ready", "boolean", vec![]),
        ("status.activeRoutes", "integer", vec![]),
        ("status.conditions", "array", vec![]),
        (
            "status.conditions[].type",
            "string",
            vec![("maxLength", json!(316))],
        ),
        (
            "status.conditions[].status",
            "string",
            vec![("enum", json!(["True", "False", "Unknown"]))],
        ),
        (
            "status.conditions[].reason",
            "string",
            vec![
                ("minLength", json!(1)),
                ("maxLength", json!(1024)),
                ("pattern", json!("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")),
            ],
        ),
        (
            "status.conditions[].message",
            "string",
            vec![("maxLength", json!(32768))],
        ),
        (
            "status.conditions[].observedGeneration",
            "integer",
            vec![("format", json!("int64"))],
        ),
        (
            "status.conditions[].lastTransitionTime",
            "string",
            vec![("format", json!("date-time"))],
        ),
    ]
}

#[test]
fn every_operator_field_exists_with_its_type_and_constraints() {
    let schema = schema();
    for (path, kind, constraints) in operator_fields() {
        let node = node(&schema, path);
        assert_eq!(node["type"], kind, "{path}");
        for (key, value) in constraints {
            let ours = &node[key];
            let same = ours == &value || ours.as_f64().is_some_and(|n| Some(n) == value.as_f64());
            assert!(same, "{path}.{key}: ours {ours}, operator {value}");
        }
    }
    let minimum = &node(&schema, "status.conditions[].observedGeneration")["minimum"];
    assert_eq!(minimum.as_f64(), Some(0.0));
}

#[test]
fn nothing_is_required_that_the_operator_does_not_require() {
    // The operator's `required` lists, by object path ("" is the root).
    let operator: &[(&str, &[&str])] = &[
        ("", &["spec"]),
        ("spec", &["ingressRef", "payment", "routes"]),
        ("spec.ingressRef", &["name"]),
        ("spec.payment", &["wallet", "network"]),
        ("spec.routes[]", &["path"]),
        (
            "spec.routes[].conditions[]",
            &["header", "pattern", "action"],
        ),
        (
            "status.conditions[]",
            &["type", "status", "lastTransitionTime", "reason", "message"],
        ),
    ];
    let schema = schema();
    let mut checked = 0;
    walk(&schema, "", &mut |path, node| {
        let Some(required) = node["required"].as_array() else {
            return;
        };
        let allowed = operator.iter().find(|(p, _)| *p == path).map(|(_, r)| *r);
        match allowed {
            Some(allowed) => {
                for field in required {
                    let field = field.as_str().unwrap();
                    assert!(allowed.contains(&field), "{path}.{field} is required");
                }
                checked += 1;
            }
            // Only extension objects (absent from the operator's schema) may require more.
            None => assert!(
                path.contains("asset") || path.contains("accepts") || path.contains("discovery"),
                "{path} requires {required:?}"
            ),
        }
    });
    assert_eq!(
        checked, 5,
        "the root, ingressRef, routes, conditions, status conditions"
    );
}

fn walk(node: &Value, path: &str, visit: &mut impl FnMut(&str, &Value)) {
    visit(path, node);
    if let Some(properties) = node["properties"].as_object() {
        for (name, child) in properties {
            let child_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            walk(child, &child_path, visit);
        }
    }
    if node["items"].is_object() {
        walk(&node["items"], &format!("{path}[]"), visit);
    }
}

#[test]
fn an_operator_manifest_deserializes_unchanged() {
    let manifest = json!({
        "apiVersion": "x402.io/v1alpha1",
        "kind": "X402Route",
        "metadata": { "name": "test-route", "namespace": "default" },
        "spec": {
            "ingressRef": { "name": "test-ingress", "namespace": "default" },
            "payment": {
                "wallet": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                "network": "base-sepolia",
                "defaultPrice": "0.001",
                "facilitatorURL": "https://x402.org/facilitator",
            },
            "routes": [
                { "path": "/api", "price": "0.01" },
                { "path": "/api/*", "price": "0.01", "mode": "all-pay" },
                { "path": "/health", "free": true },
                { "path": "/", "free": true },
            ],
        },
        "status": { "ingressPatched": true, "ready": true, "activeRoutes": 4, "conditions": [] },
    });
    let resource: X402Route = serde_json::from_value(manifest).unwrap();
    assert_eq!(resource.spec.routes.len(), 4);
    assert_eq!(resource.status.unwrap().ingress_patched, Some(true));
}
