//! The application: a webhook endpoint that hands each event to its org's workflow, and the
//! workflow handler that applies it with the variant's code and retries it forever (the
//! workflow engine's default policy).
//!
//! The endpoint answers 200 only once the signal is stored, so the provider redelivers
//! anything the app did not take. Not modelled: signature checks, event schema versions.

use serde_json::Value as Json;
use syncsim_services::http::HttpResponse;
use syncsim_services::pg::PgHandle;
use syncsim_services::workflow::{RetryPolicy, WorkflowCtx, Workflows};
use syncsim_sim::{ServiceRef, WorldBuilder};

use super::apply::{self, Event};
use super::provider::Directory;
use super::{Variant, APP};
use syncsim_services::http::HttpServe;

/// Where the provider POSTs events.
pub const WEBHOOK_PATH: &str = "/webhooks";

/// The app node: `POST /webhooks` → `signal_with_start(org id, event)`.
pub fn install(world: &mut WorldBuilder, workflows: &Workflows) {
    let workflows = workflows.clone();
    world.node(APP).http(move |ctx, request| {
        let workflows = workflows.clone();
        async move {
            let Some(org) = request.body["data"]["id"].as_str() else {
                return HttpResponse::status(400);
            };
            match workflows
                .signal_with_start(&ctx, org, request.body.clone())
                .await
            {
                Ok(_) => HttpResponse::status(200),
                Err(_) => HttpResponse::status(503),
            }
        }
    });
}

/// Applies one event under the deployment's activity retry policy.
pub async fn handle(
    wf: WorkflowCtx,
    db: PgHandle,
    directory: ServiceRef<Directory>,
    variant: Variant,
    policy: RetryPolicy,
    payload: Json,
) -> Result<(), String> {
    let event: Event = serde_json::from_value(payload).map_err(|error| error.to_string())?;
    let run = || apply::apply(&wf.ctx, &db, &directory, variant, &event);
    wf.activity("apply event", &policy, run)
        .await
        .map_err(|error| error.to_string())
}
