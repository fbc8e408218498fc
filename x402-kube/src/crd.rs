//! The `X402Route` custom resource (`x402.io/v1alpha1`).
//!
//! The resource's `spec` is the core's [`RouteSpec`]: one block of YAML moves between a config
//! file and a custom resource unchanged. The CRD is schema-compatible with the existing
//! operator's (same group, version, names, short name `x4r`, status subresource and printer
//! columns; its `spec` and `status` fields with their types and validation), so its manifests
//! apply unchanged. Our extensions (`name`, `methods`, `hosts`, `amount`, `accepts`, `asset`,
//! …) are optional fields, and nothing the operator requires is required here: the library
//! ignores `ingressRef` (operator mode, [`crate::operator`], uses it), and routes may inherit
//! everything.
//!
//! ```
//! use kube::{CustomResourceExt, Resource};
//! use x402_core::spec::RouteSpec;
//! use x402_kube::crd::X402Route;
//!
//! let crd = X402Route::crd();
//! assert_eq!(crd.metadata.name.as_deref(), Some("x402routes.x402.io"));
//! assert_eq!(X402Route::api_version(&()), "x402.io/v1alpha1");
//!
//! let spec = RouteSpec::from_yaml(r#"
//! payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
//! routes:
//!   - { path: /report, price: "0.25" }
//! "#).unwrap();
//! let resource = X402Route::new("reports", spec.into());
//! assert_eq!(resource.spec.routes[0].path, "/report");
//! ```

use std::ops::{Deref, DerefMut};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use x402_core::spec::RouteSpec;

/// The `spec` of an [`X402Route`]: exactly the core's [`RouteSpec`] (it dereferences to it).
///
/// `kube`'s derive generates the resource type around this struct: [`X402Route`] with
/// `metadata`, `spec: X402RouteSpec` and `status: Option<X402RouteStatus>`.
#[derive(
    CustomResource, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[schemars(description = "Payment defaults and routes, in priority order (the first match wins).")]
#[serde(transparent)]
#[allow(
    clippy::duplicated_attributes,
    reason = "the two boolean printer columns repeat `type_ = \"boolean\"`"
)]
#[kube(
    group = "x402.io",
    version = "v1alpha1",
    kind = "X402Route",
    plural = "x402routes",
    singular = "x402route",
    shortname = "x4r",
    namespaced,
    status = "X402RouteStatus",
    derive = "PartialEq",
    doc = "Paid HTTP routes: the payment defaults and the routes, in priority order."
)]
#[kube(printcolumn(
    name = "Ingress Patched",
    type_ = "boolean",
    json_path = ".status.ingressPatched"
))]
#[kube(printcolumn(name = "Ready", type_ = "boolean", json_path = ".status.ready"))]
#[kube(printcolumn(
    name = "Active Routes",
    type_ = "integer",
    json_path = ".status.activeRoutes"
))]
#[kube(printcolumn(
    name = "Age",
    type_ = "date",
    json_path = ".metadata.creationTimestamp"
))]
pub struct X402RouteSpec(pub RouteSpec);

impl From<RouteSpec> for X402RouteSpec {
    fn from(spec: RouteSpec) -> Self {
        Self(spec)
    }
}

impl Deref for X402RouteSpec {
    type Target = RouteSpec;

    fn deref(&self) -> &RouteSpec {
        &self.0
    }
}

impl DerefMut for X402RouteSpec {
    fn deref_mut(&mut self) -> &mut RouteSpec {
        &mut self.0
    }
}

/// The `status` of an [`X402Route`], written by the watcher ([`crate::watch`]).
///
/// `ingressPatched` (and the `IngressPatched` condition) is written only in operator mode
/// ([`crate::operator`]); otherwise the library never writes it, and keeps the conditions it
/// does not own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    description = "Whether the spec compiled, how many of its routes are live, and why not."
)]
#[serde(rename_all = "camelCase")]
pub struct X402RouteStatus {
    /// Whether the operator patched the resource's Ingress (operator only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_patched: Option<bool>,
    /// Whether the current spec compiled and its routes are live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// The number of routes of this resource in the live table (the last good spec's, while
    /// the current one does not compile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_routes: Option<i64>,
    /// Standard conditions; the library writes `Ready` (reason `Compiled` or `CompileError`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

/// The schema of `metav1.Condition` lists, as Kubernetes' own types declare it (and the
/// operator's CRD carries it).
fn conditions_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "description": "Condition contains details for one aspect of the current state of this API Resource.",
            "type": "object",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "lastTransitionTime": {
                    "description": "lastTransitionTime is the last time the condition transitioned from one status to another.",
                    "type": "string",
                    "format": "date-time"
                },
                "message": {
                    "description": "message is a human readable message indicating details about the transition.",
                    "type": "string",
                    "maxLength": 32768
                },
                "observedGeneration": {
                    "description": "observedGeneration represents the .metadata.generation that the condition was set based upon.",
                    "type": "integer",
                    "format": "int64",
                    "minimum": 0
                },
                "reason": {
                    "description": "reason contains a programmatic identifier indicating the reason for the condition's last transition.",
                    "type": "string",
                    "maxLength": 1024,
                    "minLength": 1,
                    "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
                },
                "status": {
                    "description": "status of the condition, one of True, False, Unknown.",
                    "type": "string",
                    "enum": ["True", "False", "Unknown"]
                },
                "type": {
                    "description": "type of condition in CamelCase or in foo.example.com/CamelCase.",
                    "type": "string",
                    "maxLength": 316,
                    "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
                }
            }
        }
    })
}

/// The CRD as YAML, as `cargo run -p examples --features kube --example crd` prints it and
/// `examples/kube/crd.yaml` holds it.
///
/// ```
/// let yaml = x402_kube::crd::crd_yaml();
/// assert!(yaml.contains("shortNames:\n    - x4r"));
/// ```
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    // The CRD is plain data (strings, numbers, maps): serialising it cannot fail.
    serde_yaml_ng::to_string(&X402Route::crd()).unwrap_or_default()
}
