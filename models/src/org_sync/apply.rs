//! The two ways the app applies one provider event to `organization_metadata`, each one
//! activity attempt on a fresh connection (an error is retried by the workflow).
//!
//! `blind_upsert` is the code before the fix; `fetch_then_write` is the fix. Coverage marks
//! (`ctx.mark`) record the dangerous moments the scenarios must reach. Not modelled:
//! connection pooling (each attempt connects), statement timeouts.

use serde::Deserialize;
use syncsim_services::pg::{DbError, PgConnection, PgHandle, Value};
use syncsim_sim::{Ctx, ServiceRef};

use super::provider::{Directory, DirectoryRequest, Org};
use super::schema::{org_id, org_id_value, slugify, suffixed};
use super::Variant;

/// A webhook event as the provider sends it.
#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    /// ULID: later events sort after earlier ones.
    pub id: String,
    /// `organization.created`, `organization.updated` or `organization.deleted`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The org after the change.
    pub data: Org,
}

impl Event {
    fn is_delete(&self) -> bool {
        self.kind == "organization.deleted"
    }
}

/// Coverage mark: a rename's slug equals a sibling's.
pub const MARK_RENAME_COLLIDED: &str = "org_sync: a rename collided with a sibling's slug";
/// Coverage mark: an event older than the row's last one arrived.
pub const MARK_STALE_EVENT: &str = "org_sync: an event arrived after a newer one";
/// Coverage mark: a create waited for another create of the same base slug.
pub const MARK_CREATES_RACED: &str = "org_sync: two creates raced for one base slug";
/// Coverage mark: the `external_id` write failed after the local commit.
pub const MARK_PUSH_FAILED: &str = "org_sync: the external_id push failed after commit";

/// One attempt at applying `event`.
pub async fn apply(
    ctx: &Ctx,
    db: &PgHandle,
    directory: &ServiceRef<Directory>,
    variant: Variant,
    event: &Event,
) -> Result<(), String> {
    match variant {
        Variant::BlindUpsert => blind_upsert(ctx, db, directory, event).await,
        Variant::FetchThenWrite => fetch_then_write(ctx, db, directory, event).await,
    }
}

/// Writes `external_id` at the provider.
async fn push_external_id(
    ctx: &Ctx,
    directory: &ServiceRef<Directory>,
    event: &Event,
    external_id: String,
) -> Result<(), String> {
    let request = DirectoryRequest::SetExternalId {
        id: event.data.id.clone(),
        external_id,
    };
    ctx.call(directory, request)
        .await
        .map(drop)
        .map_err(|error| format!("external_id push: {error}"))
}

/// The code before the fix: push `external_id` first, then one upsert on the primary key
/// that also sets the slug from the (new) name and applies any event, however old.
async fn blind_upsert(
    ctx: &Ctx,
    db: &PgHandle,
    directory: &ServiceRef<Directory>,
    event: &Event,
) -> Result<(), String> {
    if event.data.external_id.is_none() {
        push_external_id(ctx, directory, event, org_id(&event.data.id).to_string()).await?;
    }
    let mut conn = db.connect(ctx).await.map_err(db_error)?;
    let base = slugify(&event.data.name);
    let slug = free_slug(&mut conn, &base).await?;
    let deleted_at = if event.is_delete() { "now()" } else { "NULL" };
    let sql = format!(
        "INSERT INTO organization_metadata \
         (id, name, slug, workos_id, external_id, workos_updated_at, last_event_id, deleted_at) \
         VALUES ($1, $2, $3, $4, $5, now(), $6, {deleted_at}) \
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, slug = $7, \
         workos_updated_at = now(), last_event_id = EXCLUDED.last_event_id, \
         deleted_at = EXCLUDED.deleted_at"
    );
    let params = [
        org_id_value(&event.data.id),
        Value::from(event.data.name.as_str()),
        Value::from(slug.as_str()),
        Value::from(event.data.id.as_str()),
        Value::from(org_id(&event.data.id).to_string().as_str()),
        Value::from(event.id.as_str()),
        Value::from(base.as_str()),
    ];
    conn.execute(&sql, &params).await.map_err(db_error)?;
    Ok(())
}

/// The fix: find the row (by provider id, then by `external_id`), skip stale events, update
/// without touching the slug, create under an advisory lock on the base slug; push
/// `external_id` only after the commit, and leave a failed push to the next event.
async fn fetch_then_write(
    ctx: &Ctx,
    db: &PgHandle,
    directory: &ServiceRef<Directory>,
    event: &Event,
) -> Result<(), String> {
    let mut conn = db.connect(ctx).await.map_err(db_error)?;
    conn.begin().await.map_err(db_error)?;
    let row_id = match find_row(&mut conn, event).await? {
        Some(row) if row.last_event_id.as_str() >= event.id.as_str() => {
            if row.last_event_id.as_str() > event.id.as_str() {
                ctx.mark(MARK_STALE_EVENT);
            }
            row.id
        }
        Some(row) => {
            update_row(ctx, &mut conn, &row, event).await?;
            row.id
        }
        None => insert_row(ctx, &mut conn, event).await?,
    };
    conn.commit().await.map_err(db_error)?;
    let ours = match row_id {
        Value::Uuid(id) => uuid::Uuid::from_u128(id).to_string(),
        other => return Err(format!("organization_metadata.id is {other:?}, not a uuid")),
    };
    if event.data.external_id.as_deref() != Some(ours.as_str())
        && push_external_id(ctx, directory, event, ours).await.is_err()
    {
        ctx.mark(MARK_PUSH_FAILED);
    }
    Ok(())
}

/// The row an event belongs to, locked for this transaction.
struct Found {
    id: Value,
    slug: String,
    last_event_id: String,
}

async fn find_row(conn: &mut PgConnection, event: &Event) -> Result<Option<Found>, String> {
    const COLUMNS: &str = "SELECT id, slug, last_event_id FROM organization_metadata";
    let by_workos_id = format!("{COLUMNS} WHERE workos_id = $1 FOR UPDATE");
    let param = Value::from(event.data.id.as_str());
    let mut row = conn
        .query_opt(&by_workos_id, &[param])
        .await
        .map_err(db_error)?;
    if let (None, Some(external_id)) = (&row, &event.data.external_id) {
        let by_external_id = format!("{COLUMNS} WHERE id = $1 FOR UPDATE");
        let param = Value::from(external_id.as_str());
        row = conn
            .query_opt(&by_external_id, &[param])
            .await
            .map_err(db_error)?;
    }
    Ok(row.map(|row| Found {
        id: row.get::<Value>("id"),
        slug: row.get::<String>("slug"),
        last_event_id: row.try_get::<String>("last_event_id").unwrap_or_default(),
    }))
}

async fn update_row(
    ctx: &Ctx,
    conn: &mut PgConnection,
    row: &Found,
    event: &Event,
) -> Result<(), String> {
    let wanted = slugify(&event.data.name);
    if wanted != row.slug {
        let sibling = "SELECT id FROM organization_metadata WHERE slug = $1 AND id <> $2";
        let params = [Value::from(wanted.as_str()), row.id.clone()];
        if conn
            .query_opt(sibling, &params)
            .await
            .map_err(db_error)?
            .is_some()
        {
            ctx.mark(MARK_RENAME_COLLIDED);
        }
    }
    let deleted_at = if event.is_delete() { "now()" } else { "NULL" };
    let sql = format!(
        "UPDATE organization_metadata SET name = $2, workos_updated_at = now(), \
         last_event_id = $3, deleted_at = {deleted_at} WHERE id = $1"
    );
    let params = [
        row.id.clone(),
        Value::from(event.data.name.as_str()),
        Value::from(event.id.as_str()),
    ];
    conn.execute(&sql, &params).await.map_err(db_error)?;
    Ok(())
}

/// Creates the row under `pg_advisory_xact_lock(hashtext(base slug))`, taking the first
/// free suffix. A delete for an org never seen creates a tombstone, so its older events are
/// skipped when they arrive.
async fn insert_row(ctx: &Ctx, conn: &mut PgConnection, event: &Event) -> Result<Value, String> {
    let base = slugify(&event.data.name);
    let key = [Value::from(base.as_str())];
    let try_lock = "SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked";
    let locked: bool = conn
        .query_one(try_lock, &key)
        .await
        .map_err(db_error)?
        .get("locked");
    if !locked {
        ctx.mark(MARK_CREATES_RACED);
        let lock = "SELECT pg_advisory_xact_lock(hashtext($1))";
        conn.query_one(lock, &key).await.map_err(db_error)?;
    }
    let slug = free_slug(conn, &base).await?;
    let deleted_at = if event.is_delete() { "now()" } else { "NULL" };
    let sql = format!(
        "INSERT INTO organization_metadata \
         (id, name, slug, workos_id, workos_updated_at, last_event_id, deleted_at) \
         VALUES ($1, $2, $3, $4, now(), $5, {deleted_at})"
    );
    let id = org_id_value(&event.data.id);
    let params = [
        id.clone(),
        Value::from(event.data.name.as_str()),
        Value::from(slug.as_str()),
        Value::from(event.data.id.as_str()),
        Value::from(event.id.as_str()),
    ];
    conn.execute(&sql, &params).await.map_err(db_error)?;
    Ok(id)
}

/// The first of `base`, `base-2`, `base-3`, ... no committed row uses.
async fn free_slug(conn: &mut PgConnection, base: &str) -> Result<String, String> {
    let taken = "SELECT id FROM organization_metadata WHERE slug = $1";
    for n in 1.. {
        let candidate = suffixed(base, n);
        let params = [Value::from(candidate.as_str())];
        if conn
            .query_opt(taken, &params)
            .await
            .map_err(db_error)?
            .is_none()
        {
            return Ok(candidate);
        }
    }
    unreachable!("some suffix is free")
}

fn db_error(error: DbError) -> String {
    error.to_string()
}
