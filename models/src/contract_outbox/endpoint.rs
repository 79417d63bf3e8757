//! The signing endpoint and the parents who use it. `POST /contracts/{token}/sign` loads the
//! player by token, puts the signature image in the object store (outside any transaction),
//! marks the player signed and writes the `contract_signed` event the variant's way, then
//! kicks the API's process-outbox endpoint (admin auth, usually missing: 401).
//!
//! The update only moves a contract that is not signed yet, so a parent's second submit (the
//! first one's answer lost) is a 409 and writes nothing. A parent retries a failed submit a
//! few times, then gives up (the contract stays pending: not a property's concern). Not
//! modelled: the page's rendering, token expiry.

use std::time::Duration;

use serde_json::json;
use syncsim_services::http::{HttpRequest, HttpResponse};
use syncsim_services::pg::{DbError, PgConnection, PgHandle};
use syncsim_sim::{Ctx, ServiceRef, WorldBuilder};

use super::schema::{token, CONTRACT_SIGNED};
use super::store::{ObjectStore, PutObject};
use super::{ContractOutboxConfig, Variant, API, PARENTS, WEB};
use syncsim_services::http::HttpCall;
use syncsim_services::http::HttpServe;

/// Coverage mark: a contract was signed for a player without a parent.
pub const MARK_NO_PARENT: &str = "contract_outbox: a signed player had no parent";

/// Trace note after the update: the player is signed (maybe uncommitted), the event not yet
/// written. The properties' crash coverage reads these two notes.
pub(crate) const NOTE_SIGNED: &str = "signed, event next: player ";
/// Trace note after the event's insert returned, or the signing ended without it.
pub(crate) const NOTE_EVENT: &str = "event written: player ";
/// Trace note when a signing failed after its update (not a crash: an error answered).
pub(crate) const NOTE_ENDED: &str = "signing failed: player ";

/// The admin credential the API's process-outbox endpoint accepts.
pub(crate) const ADMIN_AUTH: &str = "admin";

/// The `web` node and one parent process per player.
pub fn install(
    world: &mut WorldBuilder,
    db: &PgHandle,
    store: &ServiceRef<ObjectStore>,
    config: &ContractOutboxConfig,
) {
    let (db, store, web_config) = (db.clone(), store.clone(), config.clone());
    world.node(WEB).http(move |ctx, request| {
        let (db, store, config) = (db.clone(), store.clone(), web_config.clone());
        async move { handle(&ctx, &db, &store, &config, &request).await }
    });
    let mut parents = world.node(PARENTS);
    for player in 1..=i64::from(config.player_count) {
        let config = config.clone();
        parents = parents.process(&format!("player-{player}"), move |ctx| {
            sign_contract(ctx, player, config.clone())
        });
    }
}

/// A parent opens the link at a drawn time and submits, again after a failure.
async fn sign_contract(ctx: Ctx, player: i64, config: ContractOutboxConfig) {
    let sign_at_ms = ctx.random(|prng| prng.range_inclusive(0, config.sign_at_max_ms));
    ctx.sleep(Duration::from_millis(sign_at_ms)).await;
    let path = format!("/contracts/{}/sign", token(player));
    for _ in 0..config.sign_tries_max {
        let body = json!({ "signature": format!("sig-{player}.png") });
        match ctx.http(WEB, HttpRequest::post(&path, body)).await {
            Ok(response) if response.is_success() || response.status == 409 => return,
            Ok(response) => ctx.note(format!("parent: player {player} -> {}", response.status)),
            Err(error) => ctx.note(format!("parent: player {player} -> {error}")),
        }
        ctx.sleep(Duration::from_millis(config.sign_retry_ms)).await;
    }
}

/// What a signing did.
enum Signing {
    Signed,
    AlreadySigned,
    UnknownToken,
}

/// Why a signing failed.
enum SignError {
    Db(DbError),
    Upload,
}

impl From<DbError> for SignError {
    fn from(error: DbError) -> Self {
        SignError::Db(error)
    }
}

async fn handle(
    ctx: &Ctx,
    db: &PgHandle,
    store: &ServiceRef<ObjectStore>,
    config: &ContractOutboxConfig,
    request: &HttpRequest,
) -> HttpResponse {
    let mut parts = request.path.trim_start_matches('/').split('/');
    let (Some("contracts"), Some(token), Some("sign")) = (parts.next(), parts.next(), parts.next())
    else {
        return HttpResponse::status(404);
    };
    match sign(ctx, db, store, config.variant, token).await {
        Ok(Signing::Signed) => {
            kick(ctx, config).await;
            HttpResponse::ok(json!({ "signed": true }))
        }
        Ok(Signing::AlreadySigned) => HttpResponse::status(409),
        Ok(Signing::UnknownToken) => HttpResponse::status(404),
        Err(SignError::Upload) => HttpResponse::status(502),
        Err(SignError::Db(error)) => {
            ctx.note(format!("web: 500: {error}"));
            HttpResponse::status(500)
        }
    }
}

async fn sign(
    ctx: &Ctx,
    db: &PgHandle,
    store: &ServiceRef<ObjectStore>,
    variant: Variant,
    token: &str,
) -> Result<Signing, SignError> {
    let mut conn = db.connect(ctx).await?;
    let select = "SELECT id, parent_id, team_id, contract_status FROM players \
                  WHERE signing_token = $1";
    let Some(player) = conn.query_opt(select, &[token.into()]).await? else {
        return Ok(Signing::UnknownToken);
    };
    if player.get::<String>("contract_status") == "signed" {
        return Ok(Signing::AlreadySigned);
    }
    let id: i64 = player.get("id");
    let upload = PutObject {
        key: format!("signatures/{id}.png"),
    };
    ctx.call(store, upload)
        .await
        .map_err(|_| SignError::Upload)?;
    let event = Event {
        player_id: id,
        team_id: player.get("team_id"),
        parent_id: player.get("parent_id"),
    };
    let written = match variant {
        Variant::NoOutbox => mark_signed(ctx, &mut conn, id, false).await,
        Variant::NoTxn => sign_in_two_statements(ctx, &mut conn, &event).await,
        Variant::Fixed => sign_in_one_transaction(ctx, &mut conn, &event).await,
    };
    if written.is_err() {
        ctx.note(format!("web: {NOTE_ENDED}{id}"));
    }
    let signed = written?;
    if signed && event.parent_id.is_none() {
        ctx.mark(MARK_NO_PARENT);
    }
    Ok(if signed {
        Signing::Signed
    } else {
        Signing::AlreadySigned
    })
}

/// What the `contract_signed` payload carries.
struct Event {
    player_id: i64,
    team_id: i64,
    parent_id: Option<i64>,
}

/// `no_txn`: two autocommit statements, the payload's `parent_id` null or not.
async fn sign_in_two_statements(
    ctx: &Ctx,
    conn: &mut PgConnection,
    event: &Event,
) -> Result<bool, DbError> {
    if !mark_signed(ctx, conn, event.player_id, true).await? {
        return Ok(false);
    }
    insert_event(ctx, conn, event).await?;
    Ok(true)
}

/// `fixed`: the update and the event commit together; no parent, no event (a warning).
async fn sign_in_one_transaction(
    ctx: &Ctx,
    conn: &mut PgConnection,
    event: &Event,
) -> Result<bool, DbError> {
    conn.begin().await?;
    let event_next = event.parent_id.is_some();
    if !mark_signed(ctx, conn, event.player_id, event_next).await? {
        conn.rollback().await?;
        return Ok(false);
    }
    if event.parent_id.is_some() {
        insert_event(ctx, conn, event).await?;
    } else {
        ctx.note(format!(
            "web: warning: player {} has no parent; no contract_signed event",
            event.player_id
        ));
    }
    conn.commit().await?;
    Ok(true)
}

/// Marks the contract signed unless it is already; true when this request signed it. With
/// `event_next`, notes that the event's insert follows.
async fn mark_signed(
    ctx: &Ctx,
    conn: &mut PgConnection,
    player: i64,
    event_next: bool,
) -> Result<bool, DbError> {
    let update = "UPDATE players SET contract_status = 'signed', signed_at = now() \
                  WHERE id = $1 AND contract_status <> 'signed'";
    let signed = conn.execute(update, &[player.into()]).await? == 1;
    if signed && event_next {
        ctx.note(format!("web: {NOTE_SIGNED}{player}"));
    }
    Ok(signed)
}

async fn insert_event(ctx: &Ctx, conn: &mut PgConnection, event: &Event) -> Result<(), DbError> {
    let payload = json!({
        "player_id": event.player_id,
        "team_id": event.team_id,
        "parent_id": event.parent_id,
    });
    let insert = "INSERT INTO outbox (tenant_id, event_type, payload) VALUES (1, $1, $2)";
    conn.execute(insert, &[CONTRACT_SIGNED.into(), payload.into()])
        .await?;
    ctx.note(format!("web: {NOTE_EVENT}{}", event.player_id));
    Ok(())
}

/// The fire-and-forget kick; its answer (usually 401) changes nothing.
async fn kick(ctx: &Ctx, config: &ContractOutboxConfig) {
    let authorized = ctx.random(|prng| prng.chance(config.kick_authorized_ratio));
    let auth = if authorized { ADMIN_AUTH } else { "parent" };
    let request = HttpRequest::post("/internal/process-outbox", json!({ "auth": auth }));
    let _ = ctx.http(API, request).await;
}
