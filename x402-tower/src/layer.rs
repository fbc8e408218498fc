//! The tower [`Layer`] that applies x402 payments to a service.

use tower_layer::Layer;
use x402_core::gate::Gate;

use crate::service::X402;

/// Applies x402 payments to a service: priced routes answer `402 Payment Required` until a
/// valid payment comes with the request, which is verified before and settled after the inner
/// service runs.
///
/// Cheap to clone: the [`Gate`] inside is built once and shared.
///
/// ```no_run
/// use std::sync::Arc;
/// use axum::{Router, routing::get};
/// use x402_core::{RouteTable, spec::RouteSpec, facilitator::Facilitator};
/// use x402_tower::{Gate, RouteTableHandle, X402Layer};
///
/// # fn facilitator() -> Arc<dyn Facilitator> { unimplemented!() }
/// let spec = RouteSpec::from_yaml(r#"
/// payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
/// routes: [ { path: /weather, price: "$0.001" } ]
/// "#).unwrap();
/// let routes = RouteTableHandle::new(RouteTable::from_spec(&spec).unwrap());
/// let gate = Gate::builder(routes, facilitator()).build().unwrap();
///
/// let app: Router = Router::new()
///     .route("/weather", get(|| async { "sunny" }))
///     .layer(X402Layer::new(gate));
/// ```
#[derive(Debug, Clone)]
pub struct X402Layer {
    gate: Gate,
}

impl X402Layer {
    /// A layer running `gate`.
    pub fn new(gate: Gate) -> Self {
        Self { gate }
    }

    /// The gate (e.g. to reach its route table handle).
    pub fn gate(&self) -> &Gate {
        &self.gate
    }
}

impl<S> Layer<S> for X402Layer {
    type Service = X402<S>;

    fn layer(&self, inner: S) -> Self::Service {
        X402::new(inner, self.gate.clone())
    }
}
