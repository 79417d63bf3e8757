//! The journey runtime: the one persistence function every path uses, and the workflow
//! handler that runs a journey's nodes one by one, each as one activity.
//!
//! A node waits, then in one transaction saves the session through `persist` and reads its
//! contact from the CRM over HTTP (the node's action needs it). A CRM 404 means the contact
//! was deleted: the node rolls back and the journey stops. Saving before the read matters: a
//! local delete (which follows the CRM's) then either waits for this commit and cascades the
//! saved session, or committed earlier, so the read sees the CRM's 404 and the lazily
//! inserted contact rolls back. Coverage marks record the dangerous moments. Not modelled:
//! the node's action itself, branching, per-node timeouts.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use syncsim_services::http::HttpRequest;
use syncsim_services::pg::{DbError, PgConnection, PgHandle, Value};
use syncsim_services::workflow::WorkflowCtx;
use syncsim_sim::Ctx;

use super::schema::{contact_id, is_local, session_id, uuid_value};
use super::{JourneySessionsConfig, Mutation, CRM_API};
use syncsim_services::http::HttpCall;

/// Coverage mark: node 1 saved a session whose contact has no legacy local row.
pub const MARK_NODE1_CRM_ONLY: &str =
    "journey_sessions: a node-1 persist ran for a CRM-only contact";
/// Coverage mark: the deletion webhook removed a contact with a journey still running.
pub const MARK_DELETED_MID_JOURNEY: &str = "journey_sessions: a contact was deleted mid-journey";
/// Coverage mark: a node found its contact gone from the CRM and stopped the journey.
pub const MARK_STOPPED: &str =
    "journey_sessions: a journey stopped at a node: its contact was gone";
/// Coverage mark: the lazy insert met a legacy contact that holds real data.
pub const MARK_MET_REAL_CONTACT: &str =
    "journey_sessions: a lazy upsert met a contact holding real data";

/// The workflow's payload: which journey, sent by the start path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyStart {
    /// The journey's index in the workload.
    pub journey: u32,
}

/// One state of a session, as `persist` saves it.
pub(crate) struct Session {
    pub journey: u32,
    pub status: &'static str,
    pub current_node: u32,
}

/// The one persistence function: the start and every node save the session through it. The
/// lazy variants first insert the contact's id; the session is an upsert on its id.
pub(crate) async fn persist(
    ctx: &Ctx,
    conn: &mut PgConnection,
    config: &JourneySessionsConfig,
    session: &Session,
) -> Result<(), DbError> {
    let contact = uuid_value(contact_id(session.journey));
    if config.variant.lazy() {
        let lazy = match config.mutation {
            Some(Mutation::LazyUpsertOverwrites) => {
                "INSERT INTO contacts (id) VALUES ($1) ON CONFLICT (id) DO UPDATE \
                 SET name = EXCLUDED.name, custom_attributes = EXCLUDED.custom_attributes"
            }
            None => "INSERT INTO contacts (id) VALUES ($1) ON CONFLICT (id) DO NOTHING",
        };
        let inserted = conn.execute(lazy, std::slice::from_ref(&contact)).await?;
        if inserted == 0 && is_local(config, session.journey) {
            ctx.mark(MARK_MET_REAL_CONTACT);
        }
    }
    let save = "INSERT INTO journey_sessions \
         (id, journey_id, contact_id, status, current_node, updated_at) \
         VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT (id) DO UPDATE \
         SET status = EXCLUDED.status, current_node = EXCLUDED.current_node, \
         updated_at = EXCLUDED.updated_at";
    let node = i32::try_from(session.current_node).expect("a few nodes");
    let params = [
        uuid_value(session_id(session.journey)),
        Value::from("welcome"),
        contact,
        Value::from(session.status),
        Value::from(node),
    ];
    conn.execute(save, &params).await?;
    Ok(())
}

/// How a node ended; the workflow's history keeps it, so a replay after a worker crash gets
/// it without running the node again.
#[derive(Serialize, Deserialize)]
enum NodeOutcome {
    /// Saved; the journey goes on.
    Done,
    /// The contact is gone from the CRM; nothing was saved.
    ContactGone,
}

/// Runs journey `payload` node by node; a node that exhausts its attempts fails the journey.
pub async fn run(
    wf: WorkflowCtx,
    db: PgHandle,
    config: JourneySessionsConfig,
    payload: serde_json::Value,
) -> Result<(), String> {
    let start: JourneyStart = serde_json::from_value(payload).map_err(|error| error.to_string())?;
    let policy = config.node_policy();
    for node in 1..=config.nodes_per_journey {
        let attempt = || run_node(&wf.ctx, &db, &config, start.journey, node);
        match wf.activity(&format!("node {node}"), &policy, attempt).await {
            Ok(NodeOutcome::Done) => {}
            Ok(NodeOutcome::ContactGone) => {
                wf.ctx.mark(MARK_STOPPED);
                return Ok(());
            }
            Err(error) => return Err(format!("node {node}: {error}")),
        }
    }
    Ok(())
}

/// One attempt of node `node`: wait, then save the session and read the contact in one
/// transaction. A dropped connection (a crash, an error) rolls the transaction back.
async fn run_node(
    ctx: &Ctx,
    db: &PgHandle,
    config: &JourneySessionsConfig,
    journey: u32,
    node: u32,
) -> Result<NodeOutcome, String> {
    let wait_ms = ctx.random(|prng| prng.range_inclusive(0, config.node_wait_max_ms));
    ctx.sleep(Duration::from_millis(wait_ms)).await;
    let mut conn = db.connect(ctx).await.map_err(db_error)?;
    conn.begin().await.map_err(db_error)?;
    if node == 1 && !is_local(config, journey) {
        ctx.mark(MARK_NODE1_CRM_ONLY);
    }
    let last = node == config.nodes_per_journey;
    let session = Session {
        journey,
        status: if last { "completed" } else { "running" },
        current_node: node,
    };
    persist(ctx, &mut conn, config, &session)
        .await
        .map_err(db_error)?;
    if contact_in_crm(ctx, journey).await? {
        conn.commit().await.map_err(db_error)?;
        Ok(NodeOutcome::Done)
    } else {
        conn.rollback().await.map_err(db_error)?;
        Ok(NodeOutcome::ContactGone)
    }
}

/// Whether the CRM still holds journey `journey`'s contact; an unanswered call is an error.
async fn contact_in_crm(ctx: &Ctx, journey: u32) -> Result<bool, String> {
    let path = format!("/contacts/{}", contact_id(journey));
    match ctx.http(CRM_API, HttpRequest::get(&path)).await {
        Ok(response) if response.is_success() => Ok(true),
        Ok(response) if response.status == 404 => Ok(false),
        Ok(response) => Err(format!("crm: GET {path} -> {}", response.status)),
        Err(error) => Err(format!("crm: GET {path}: {error}")),
    }
}

fn db_error(error: DbError) -> String {
    error.to_string()
}
