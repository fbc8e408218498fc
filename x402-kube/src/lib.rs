//! A live x402 route table filled from `X402Route` Kubernetes custom resources.
//!
//! **Status: skeleton.** The `X402Route` custom resource (`x402.io/v1alpha1`), the watcher that
//! rebuilds the route table on every change, and status reporting arrive with the kube issue.
//! The resource's `spec` is [`x402_core::spec::RouteSpec`], so one block of YAML moves between a
//! config file and a custom resource unchanged.

pub use x402_core as core;
