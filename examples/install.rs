//! Prints `examples/kube/install.yaml` (the gateway in operator mode: CRD, RBAC, configuration,
//! Deployment, Service, ServiceMonitor; see `examples::kube_install`):
//! `cargo run -p examples --features kube --example install > examples/kube/install.yaml`.

use std::io::Write;

fn main() -> std::io::Result<()> {
    std::io::stdout().write_all(examples::kube_install::install_yaml().as_bytes())
}
