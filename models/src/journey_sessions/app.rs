//! The service's HTTP endpoints: `POST /journeys` starts a journey (persist the session, then
//! `signal_with_start` its workflow), and `POST /contacts/deleted` is the CRM's deletion
//! webhook, which deletes the local contact row (cascading to its sessions).
//!
//! In `original` and the lazy variants a failed start persist fails the request with 500,
//! which the automation does not retry; `start_best_effort` logs it and starts the workflow
//! anyway. A lost database connection is a 503 the caller retries. Not modelled:
//! authentication, request validation beyond the body's shape.

use serde_json::json;
use syncsim_services::http::{HttpRequest, HttpResponse};
use syncsim_services::pg::{DbError, PgHandle};
use syncsim_services::workflow::Workflows;
use syncsim_sim::{Ctx, WorldBuilder};

use super::journey::{persist, JourneyStart, Session, MARK_DELETED_MID_JOURNEY};
use super::schema::{session_id, uuid_value};
use super::{JourneySessionsConfig, Variant, APP};
use syncsim_services::http::HttpServe;

/// Where journeys start.
pub const START_PATH: &str = "/journeys";
/// Where the CRM reports a deleted contact.
pub const DELETED_PATH: &str = "/contacts/deleted";

/// The `app` node.
pub fn install(
    world: &mut WorldBuilder,
    db: &PgHandle,
    workflows: &Workflows,
    config: &JourneySessionsConfig,
) {
    let (db, workflows, config) = (db.clone(), workflows.clone(), config.clone());
    world.node(APP).http(move |ctx, request| {
        let (db, workflows, config) = (db.clone(), workflows.clone(), config.clone());
        async move {
            match request.path.as_str() {
                START_PATH => start(&ctx, &db, &workflows, &config, &request).await,
                DELETED_PATH => contact_deleted(&ctx, &db, &request).await,
                _ => HttpResponse::status(404),
            }
        }
    });
}

/// 500 for a statement the server refused, 503 for a lost connection (worth a retry).
fn failure(error: &DbError) -> HttpResponse {
    let status = if matches!(error, DbError::Server(_)) {
        500
    } else {
        503
    };
    HttpResponse {
        status,
        body: json!({ "error": error.to_string() }),
    }
}

async fn start(
    ctx: &Ctx,
    db: &PgHandle,
    workflows: &Workflows,
    config: &JourneySessionsConfig,
    request: &HttpRequest,
) -> HttpResponse {
    let Ok(start) = serde_json::from_value::<JourneyStart>(request.body.clone()) else {
        return HttpResponse::status(400);
    };
    let session = Session {
        journey: start.journey,
        status: "started",
        current_node: 0,
    };
    let persisted = async {
        let mut conn = db.connect(ctx).await?;
        conn.begin().await?;
        persist(ctx, &mut conn, config, &session).await?;
        conn.commit().await
    }
    .await;
    if let Err(error) = persisted {
        if config.variant != Variant::StartBestEffort {
            return failure(&error);
        }
        ctx.note(format!(
            "app: journey {} start persist failed ({error}); best effort, starting anyway",
            start.journey
        ));
    }
    let key = session_id(start.journey).to_string();
    let payload = serde_json::to_value(&start).expect("a start serializes");
    match workflows.signal_with_start(ctx, &key, payload).await {
        Ok(_) => HttpResponse::status(201),
        Err(_) => HttpResponse::status(503),
    }
}

/// Deletes the contact locally; the foreign key cascades to its sessions.
async fn contact_deleted(ctx: &Ctx, db: &PgHandle, request: &HttpRequest) -> HttpResponse {
    let Some(contact) = request.body["contact_id"]
        .as_str()
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
    else {
        return HttpResponse::status(400);
    };
    let deleted = async {
        let mut conn = db.connect(ctx).await?;
        conn.begin().await?;
        let running =
            "SELECT id FROM journey_sessions WHERE contact_id = $1 AND status <> 'completed'";
        let running = conn.query(running, &[uuid_value(contact)]).await?;
        conn.execute("DELETE FROM contacts WHERE id = $1", &[uuid_value(contact)])
            .await?;
        conn.commit().await?;
        Ok::<bool, DbError>(!running.is_empty())
    }
    .await;
    match deleted {
        Ok(mid_journey) => {
            if mid_journey {
                ctx.mark(MARK_DELETED_MID_JOURNEY);
            }
            HttpResponse::status(200)
        }
        Err(error) => failure(&error),
    }
}
