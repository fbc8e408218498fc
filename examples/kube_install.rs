//! `examples/kube/install.yaml`, generated: the gateway in operator mode, in one file.
//!
//! [`install_yaml`] builds every object from typed values (k8s-openapi's types; the
//! ServiceMonitor, which has none there, as JSON), so the names, ports and probes agree with
//! each other and with the gateway configuration it mounts ([`GATEWAY_CONFIG`]):
//!
//! - the `X402Route` CRD (x402-kube's, as `examples/kube/crd.yaml`);
//! - a ServiceAccount, and a Role and RoleBinding in [`NAMESPACE`]: `list`/`watch`/`patch` on
//!   `x402routes` (the patch is the finalizer), `patch` on `x402routes/status`, and
//!   `get`/`list`/`watch`/`patch` on `ingresses` — nothing else (no Services are created);
//! - a ConfigMap with the gateway's configuration (`routesFrom.kubernetes` with `ingress`);
//! - the Deployment: readiness on `/readyz` (503 until the first full list of `X402Route`s is
//!   live, and while draining), liveness on `/healthz`, resource requests and limits, a
//!   read-only, non-root container;
//! - the Service the patched Ingress paths point at (`http`, 8402) with the `metrics` port;
//! - a ServiceMonitor (Prometheus Operator) scraping `/metrics`.
//!
//! `cargo run -p examples --features kube --example install > examples/kube/install.yaml`
//! regenerates the file; a test pins it.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy},
        core::v1::{
            Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar,
            HTTPGetAction, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
            ResourceRequirements, SecurityContext, Service, ServiceAccount, ServicePort,
            ServiceSpec, Volume, VolumeMount,
        },
        rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta},
        util::intstr::IntOrString,
    },
};
use kube::CustomResourceExt;
use serde::Serialize;
use x402_kube::crd::X402Route;

/// The namespace of the gateway, of the `X402Route`s it watches and of the Ingresses it
/// patches (Ingress backends name Services of their own namespace).
pub const NAMESPACE: &str = "default";
/// The name of every object (and the field manager's Service).
pub const NAME: &str = "x402-gateway";
/// The gateway's port (`listen`), the Service's `http` port.
pub const HTTP_PORT: u16 = 8402;
/// The operations port (`metricsListen`: `/metrics`, `/healthz`, `/readyz`).
pub const METRICS_PORT: u16 = 9402;

/// The gateway configuration in the ConfigMap (`gateway.yaml`).
pub const GATEWAY_CONFIG: &str = "\
# x402-gateway in operator mode: the routes come from X402Route resources, and the Ingress each
# names in `ingressRef` is patched so that its paid paths reach this gateway's Service.
listen: 0.0.0.0:8402
metricsListen: 0.0.0.0:9402
mode: proxy
# Paid requests are proxied here: the backend the Ingress's paid paths had (the sample's `web`).
upstream: http://web.default.svc.cluster.local:80
# The facilitator the gateway verifies and settles with.
payment:
  facilitatorURL: https://x402.org/facilitator
routesFrom:
  kubernetes:
    namespaces: [default]
    ingress: { service: x402-gateway, port: 8402 }
";

fn labels() -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name".to_owned(), NAME.to_owned()),
        ("app.kubernetes.io/part-of".to_owned(), "x402".to_owned()),
    ]
    .into_iter()
    .collect()
}

fn meta() -> ObjectMeta {
    ObjectMeta {
        name: Some(NAME.to_owned()),
        namespace: Some(NAMESPACE.to_owned()),
        labels: Some(labels()),
        ..ObjectMeta::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(strings(&[group])),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        ..PolicyRule::default()
    }
}

/// The Role: what the watcher and the operator use, and no more.
pub fn role() -> Role {
    Role {
        metadata: meta(),
        rules: Some(vec![
            rule("x402.io", &["x402routes"], &["list", "watch", "patch"]),
            rule("x402.io", &["x402routes/status"], &["patch"]),
            rule(
                "networking.k8s.io",
                &["ingresses"],
                &["get", "list", "watch", "patch"],
            ),
        ]),
    }
}

fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("metrics".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    [
        ("cpu".to_owned(), Quantity(cpu.to_owned())),
        ("memory".to_owned(), Quantity(memory.to_owned())),
    ]
    .into_iter()
    .collect()
}

/// The gateway's Deployment.
pub fn deployment() -> Deployment {
    let container = Container {
        name: NAME.to_owned(),
        // No published image: build one from `examples/gateway` (`cargo build --release -p
        // x402-gateway`) and push it where the cluster pulls from.
        image: Some("x402-gateway:0.1.0".to_owned()),
        args: Some(strings(&["--config", "/etc/x402/gateway.yaml"])),
        env: Some(vec![EnvVar {
            name: "RUST_LOG".to_owned(),
            value: Some("info".to_owned()),
            ..EnvVar::default()
        }]),
        ports: Some(vec![
            ContainerPort {
                name: Some("http".to_owned()),
                container_port: i32::from(HTTP_PORT),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some("metrics".to_owned()),
                container_port: i32::from(METRICS_PORT),
                ..ContainerPort::default()
            },
        ]),
        readiness_probe: Some(probe("/readyz", 5, 2)),
        liveness_probe: Some(probe("/healthz", 10, 3)),
        resources: Some(ResourceRequirements {
            requests: Some(quantities("100m", "64Mi")),
            limits: Some(quantities("1", "256Mi")),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(strings(&["ALL"])),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "config".to_owned(),
            mount_path: "/etc/x402".to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    Deployment {
        metadata: meta(),
        spec: Some(DeploymentSpec {
            // One replica: replay state is in memory unless `replay.redis` or a PostgreSQL
            // `ledger` is configured (then scale up).
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                ..DeploymentStrategy::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.to_owned()),
                    // The gateway drains on SIGTERM: requests in flight and their settlements.
                    termination_grace_period_seconds: Some(30),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "config".to_owned(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: NAME.to_owned(),
                            ..ConfigMapVolumeSource::default()
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// The Service paid Ingress paths point at.
pub fn service() -> Service {
    let port = |name: &str, port: u16| ServicePort {
        name: Some(name.to_owned()),
        port: i32::from(port),
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    };
    Service {
        metadata: meta(),
        spec: Some(ServiceSpec {
            selector: Some(labels()),
            ports: Some(vec![port("http", HTTP_PORT), port("metrics", METRICS_PORT)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The ServiceMonitor (monitoring.coreos.com/v1; no k8s-openapi type).
pub fn service_monitor() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta(),
        "spec": {
            "selector": { "matchLabels": labels() },
            "endpoints": [ { "port": "metrics", "path": "/metrics", "interval": "30s" } ],
        },
    })
}

fn document(value: &impl Serialize) -> String {
    // Plain data: serialising cannot fail.
    serde_yaml_ng::to_string(value).unwrap_or_default()
}

/// Every object, in apply order, as one multi-document YAML file.
pub fn install_yaml() -> String {
    let account = ServiceAccount {
        metadata: meta(),
        ..ServiceAccount::default()
    };
    let binding = RoleBinding {
        metadata: meta(),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: NAME.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: NAME.to_owned(),
            namespace: Some(NAMESPACE.to_owned()),
            ..Subject::default()
        }]),
    };
    let config = ConfigMap {
        metadata: meta(),
        data: Some(
            [("gateway.yaml".to_owned(), GATEWAY_CONFIG.to_owned())]
                .into_iter()
                .collect(),
        ),
        ..ConfigMap::default()
    };
    let documents = [
        document(&X402Route::crd()),
        document(&account),
        document(&role()),
        document(&binding),
        document(&config),
        document(&deployment()),
        document(&service()),
        document(&service_monitor()),
    ];
    format!(
        "# Generated by `cargo run -p examples --features kube --example install`; do not edit.\n\
         # x402-gateway in operator mode, in namespace `{NAMESPACE}`: the X402Route CRD, RBAC, the\n\
         # gateway's configuration, Deployment and Service, and a ServiceMonitor (needs the\n\
         # Prometheus Operator's CRDs; drop that document without it).\n\
         #   kubectl apply -f examples/kube/install.yaml\n\
         # Then an X402Route with `ingressRef` (examples/kube/x402route.yaml) patches its Ingress\n\
         # (examples/kube/ingress.yaml becomes examples/kube/ingress-patched.yaml).\n{}",
        documents.join("---\n")
    )
}
