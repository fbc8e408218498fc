//! Prints the `X402Route` CustomResourceDefinition as YAML:
//! `cargo run -p examples --features kube --example crd > examples/kube/crd.yaml`, or pipe it to
//! `kubectl apply -f -`.

use std::io::Write;

fn main() -> std::io::Result<()> {
    std::io::stdout().write_all(x402_kube::crd::crd_yaml().as_bytes())
}
