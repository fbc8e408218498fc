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

// ---------------------------------------------------------------------------------------------
// Operator mode (issue 21): install.yaml, and the sample Ingress before and after.

#[test]
fn the_checked_in_install_is_the_generated_one() {
    let generated = examples::kube_install::install_yaml();
    assert!(
        generated == read("install.yaml"),
        "examples/kube/install.yaml is stale: run `cargo run -p examples --features kube --example \
         install > examples/kube/install.yaml` and review the diff"
    );
    // Every document parses, and the CRD in it is the CRD.
    let documents: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&generated)
        .map(|doc| Value::deserialize(doc).unwrap())
        .collect();
    let kinds: Vec<&str> = documents
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "CustomResourceDefinition",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "Deployment",
            "Service",
            "ServiceMonitor"
        ]
    );
    assert_eq!(
        documents[0],
        serde_yaml_ng::to_value(X402Route::crd()).unwrap()
    );
}

#[test]
fn the_install_grants_what_operator_mode_uses_and_no_more() {
    let rules: Vec<(Vec<String>, Vec<String>, Vec<String>)> = examples::kube_install::role()
        .rules
        .unwrap()
        .into_iter()
        .map(|r| (r.api_groups.unwrap(), r.resources.unwrap(), r.verbs))
        .collect();
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        rules,
        [
            // list/watch: the watcher; patch: the finalizer.
            (
                strings(&["x402.io"]),
                strings(&["x402routes"]),
                strings(&["list", "watch", "patch"])
            ),
            (
                strings(&["x402.io"]),
                strings(&["x402routes/status"]),
                strings(&["patch"])
            ),
            (
                strings(&["networking.k8s.io"]),
                strings(&["ingresses"]),
                strings(&["get", "list", "watch", "patch"])
            ),
        ]
    );
}

/// The mounted configuration is one the gateway accepts, and it agrees with the Deployment,
/// the Service and the probes (the gateway's ops endpoints are on `metricsListen`).
#[test]
fn the_install_configuration_loads_and_agrees_with_its_objects() {
    use examples::kube_install::{
        GATEWAY_CONFIG, HTTP_PORT, METRICS_PORT, NAME, NAMESPACE, deployment, service,
    };
    use x402_gateway::config::{RouteSource, ServicePort};

    let dir = std::env::temp_dir().join(format!("x402-install-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, GATEWAY_CONFIG).unwrap();
    let loaded = x402_gateway::config::load(&path).expect("the install's configuration loads");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(loaded.config.listen.port(), HTTP_PORT);
    assert_eq!(
        loaded.config.metrics_listen.map(|a| a.port()),
        Some(METRICS_PORT)
    );
    let RouteSource::Kubernetes(selection) = &loaded.route_source else {
        panic!("routes from Kubernetes")
    };
    assert_eq!(selection.namespaces, [NAMESPACE]);
    let ingress = selection.ingress.as_ref().expect("operator mode");
    assert_eq!(ingress.service, NAME);
    assert_eq!(ingress.port, ServicePort::Number(HTTP_PORT));

    let service = service().spec.unwrap();
    let http = service
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.name.as_deref() == Some("http"))
        .unwrap();
    assert_eq!(http.port, i32::from(HTTP_PORT));

    let pod = deployment().spec.unwrap().template.spec.unwrap();
    let container = &pod.containers[0];
    let port_of = |name: &str| {
        container
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .unwrap()
            .container_port
    };
    assert_eq!(port_of("http"), i32::from(HTTP_PORT));
    assert_eq!(port_of("metrics"), i32::from(METRICS_PORT));
    for (probe, path) in [
        (container.readiness_probe.as_ref(), "/readyz"),
        (container.liveness_probe.as_ref(), "/healthz"),
    ] {
        let get = probe.unwrap().http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(
            get.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("metrics".into())
        );
    }
    let resources = container.resources.as_ref().unwrap();
    for key in ["cpu", "memory"] {
        assert!(
            resources.limits.as_ref().unwrap().contains_key(key),
            "limit {key}"
        );
        assert!(
            resources.requests.as_ref().unwrap().contains_key(key),
            "request {key}"
        );
    }
    assert_eq!(pod.service_account_name.as_deref(), Some(NAME));
}

/// `ingress.yaml` patched for `x402route.yaml` by the operator's own plan is
/// `ingress-patched.yaml`, and the record in it restores `ingress.yaml`.
#[test]
fn the_sample_ingress_patched_is_the_checked_in_one() {
    use k8s_openapi::api::networking::v1::Ingress;
    use x402_kube::ingress::{GatewayService, MANAGED_BY, ORIGINAL_BACKENDS, original_rules, plan};

    let before: Ingress = serde_yaml_ng::from_str(&read("ingress.yaml")).unwrap();
    let resource: X402Route = serde_yaml_ng::from_str(&read("x402route.yaml")).unwrap();
    assert_eq!(resource.spec.ingress_ref.as_ref().unwrap().name, "web");
    let gateway = GatewayService::new(
        examples::kube_install::NAME,
        examples::kube_install::HTTP_PORT,
    );
    let routes: Vec<_> = resource.spec.routes.iter().collect();
    let planned = plan(&before, &routes, &gateway).unwrap();
    let body = planned.apply_body(
        "web",
        "default",
        None,
        x402_kube::watch::DEFAULT_FIELD_MANAGER,
    );

    // The apply merged into the Ingress, as the API server does.
    let mut after = before.clone();
    after.spec.as_mut().unwrap().rules = Some(planned.rules);
    after.metadata.annotations =
        Some(serde_json::from_value(body["metadata"]["annotations"].clone()).unwrap());
    let checked_in: Ingress = serde_yaml_ng::from_str(&read("ingress-patched.yaml")).unwrap();
    assert!(
        after == checked_in,
        "examples/kube/ingress-patched.yaml differs from the plan:\n{}",
        serde_yaml_ng::to_string(&after).unwrap()
    );
    let annotations = checked_in.metadata.annotations.as_ref().unwrap();
    assert_eq!(annotations[MANAGED_BY], "x402-kube");
    assert!(annotations.contains_key(ORIGINAL_BACKENDS));
    // TLS, class and the catch-all untouched; the record undoes the rest.
    assert_eq!(
        checked_in.spec.as_ref().unwrap().tls,
        before.spec.as_ref().unwrap().tls
    );
    assert_eq!(
        original_rules(&checked_in, &gateway).unwrap(),
        before.spec.unwrap().rules.unwrap()
    );
}
