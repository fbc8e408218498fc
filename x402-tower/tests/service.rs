//! The tower `Service` contract: backpressure is forwarded, and the inner service that was
//! driven to readiness is the one called. (Payment behaviour is covered by the conformance
//! suite in `tests/`.)

use std::{sync::Arc, task::Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_test::mock;
use x402_core::{
    RouteTable,
    facilitator::dev::{DevFacilitator, DevNetwork},
    spec::RouteSpec,
};
use x402_tower::{Gate, RouteTableHandle, X402Layer};

fn layer() -> X402Layer {
    let spec = RouteSpec::from_yaml(
        r#"
payment: { wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", network: base-sepolia }
routes: [ { path: /weather, price: "$0.001" } ]
"#,
    )
    .unwrap();
    let gate = Gate::builder(
        RouteTableHandle::new(RouteTable::from_spec(&spec).unwrap()),
        Arc::new(DevFacilitator::new([DevNetwork::base_sepolia()])),
    )
    .build()
    .unwrap();
    X402Layer::new(gate)
}

#[tokio::test]
async fn readiness_of_the_inner_service_is_forwarded() {
    let (mut service, mut handle) =
        mock::spawn_with::<Request<String>, Response<String>, _, _>(|inner| layer().layer(inner));

    handle.allow(0);
    assert!(
        service.poll_ready().is_pending(),
        "not ready while the inner one is not"
    );

    handle.allow(1);
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));

    let response = service.call(Request::get("/open").body(String::new()).unwrap());
    let (request, send) = handle
        .next_request()
        .await
        .expect("the inner service is called");
    assert_eq!(request.uri(), "/open");
    send.send_response(Response::new("open".to_owned()));
    assert_eq!(response.await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_challenge_does_not_call_the_inner_service() {
    let (mut service, mut handle) =
        mock::spawn_with::<Request<String>, Response<String>, _, _>(|inner| layer().layer(inner));
    handle.allow(1);
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
    let response = service
        .call(Request::get("/weather").body(String::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 402);
    assert!(
        futures_poll_once(handle.next_request()).is_none(),
        "the inner service saw the unpaid request"
    );
}

/// Polls a future once; `None` if it is not ready.
fn futures_poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

#[tokio::test]
async fn a_plain_service_fn_can_be_wrapped() {
    use tower::ServiceExt;
    let inner = tower::service_fn(|_: Request<String>| async {
        Ok::<_, std::convert::Infallible>(Response::new("hello".to_owned()))
    });
    let service = layer().layer(inner);
    let open = service
        .clone()
        .oneshot(Request::get("/open").body(String::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    let priced = service
        .oneshot(Request::get("/weather").body(String::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(priced.status(), 402);
}

#[tokio::test]
async fn route_layer_prices_only_the_routes_it_wraps() {
    use axum::{Router, routing::get};
    use tower::ServiceExt;
    let app = Router::new()
        .route("/weather", get(|| async { "sunny" }))
        .route_layer(layer())
        .route("/later", get(|| async { "added after the layer" }));
    let weather = app
        .clone()
        .oneshot(
            Request::get("/weather")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(weather.status(), 402);
    let unknown = app
        .oneshot(
            Request::get("/nowhere")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        unknown.status(),
        404,
        "route_layer does not run for unmatched routes"
    );
}

#[tokio::test]
async fn the_outcome_is_in_the_response_extensions() {
    use tower::ServiceExt;
    use x402_core::labels::Outcome;
    use x402_tower::PaymentOutcome;
    let inner = tower::service_fn(|_: Request<String>| async {
        Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    });
    let response = layer()
        .layer(inner)
        .oneshot(
            Request::get("/weather")
                .header("payment-signature", "garbage")
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let outcome = response
        .extensions()
        .get::<PaymentOutcome>()
        .expect("an outcome");
    assert_eq!(outcome.outcome, Outcome::Rejected);
    assert_eq!(
        outcome.reason.map(|r| r.as_str()),
        Some("invalid_payment_header")
    );
}
