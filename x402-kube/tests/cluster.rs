//! Against a real cluster: ignored by default. Run them with a disposable cluster (kind, k3d,
//! minikube) in `KUBECONFIG`, after installing the CRD:
//!
//! ```text
//! kubectl apply -f examples/kube/crd.yaml
//! cargo test -p x402-kube --test cluster -- --ignored
//! ```
//!
//! They create, change and delete `X402Route`s named `x402-kube-test-*` in the namespace
//! `X402_TEST_NAMESPACE` (default `default`), and need the rights of
//! `examples/kube/rbac.yaml` plus create/update/delete on `x402routes`.

use std::time::Duration;

use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use x402_core::{RouteTable, gate::RouteTableHandle, spec::RouteSpec};
use x402_kube::{
    crd::{X402Route, X402RouteStatus},
    watch::RouteWatcher,
};

fn namespace() -> String {
    std::env::var("X402_TEST_NAMESPACE").unwrap_or_else(|_| "default".to_owned())
}

fn spec(price: &str) -> RouteSpec {
    RouteSpec::from_json(
        &json!({
            "payment": { "wallet": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                         "network": "base-sepolia" },
            "routes": [ { "path": "/cluster-test", "name": "cluster-test", "price": price } ],
        })
        .to_string(),
    )
    .unwrap()
}

/// Polls `check` every 100 ms for up to 20 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn status(api: &Api<X402Route>, name: &str) -> Option<X402RouteStatus> {
    api.get_status(name).await.ok()?.status
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster in KUBECONFIG with the X402Route CRD installed"]
async fn resources_drive_the_table_and_status_in_a_real_cluster() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::try_default()
        .await
        .expect("a cluster in KUBECONFIG");
    let ns = namespace();
    let api: Api<X402Route> = Api::namespaced(client.clone(), &ns);
    let name = "x402-kube-test-routes";
    let _ = api.delete(name, &DeleteParams::default()).await;

    let routes = RouteTableHandle::new(RouteTable::empty());
    let watcher = RouteWatcher::new(client, routes.clone())
        .namespace(ns.clone())
        .field_manager("x402-kube-test");
    let readiness = watcher.readiness();
    let task = tokio::spawn(watcher.run());
    tokio::time::timeout(Duration::from_secs(20), readiness.ready())
        .await
        .expect("listed in time")
        .unwrap();

    api.create(
        &PostParams::default(),
        &X402Route::new(name, spec("0.01").into()),
    )
    .await
    .unwrap();
    eventually("the route to go live", async || {
        routes
            .load()
            .routes()
            .iter()
            .any(|r| &**r.name() == "cluster-test")
    })
    .await;
    eventually("status ready", async || {
        status(&api, name).await.and_then(|s| s.ready) == Some(true)
    })
    .await;

    // A bad price: the route stays, the status says why.
    let bad = json!({ "spec": { "routes": [ { "path": "/cluster-test", "name": "cluster-test",
                                              "price": "1.2.3" } ] } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&bad))
        .await
        .unwrap();
    eventually("status CompileError", async || {
        status(&api, name).await.is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.reason == "CompileError" && c.message.contains("routes[0].price"))
        })
    })
    .await;
    assert!(
        routes
            .load()
            .routes()
            .iter()
            .any(|r| &**r.name() == "cluster-test")
    );

    api.delete(name, &DeleteParams::default()).await.unwrap();
    eventually("the route to go", async || {
        !routes
            .load()
            .routes()
            .iter()
            .any(|r| &**r.name() == "cluster-test")
    })
    .await;
    task.abort();
}
