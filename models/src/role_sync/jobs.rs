//! The two jobs. `SchoolSyncJob` upserts the school into `salesforce.editor` (Heroku
//! Connect's trigger makes the row `PENDING` and logs the change);
//! `RoleSyncJob` (staff roles only) inserts the affiliation into
//! `salesforce.contact_editor_affiliation`: at once (`unguarded`), or only once the school's
//! editor row and the user's contact row both carry an `sfid` (`guarded`, which otherwise
//! raises `NotFound` for the queue to retry).
//!
//! A lost connection raises `DbError` (retried by both kinds). Not modelled: ActiveRecord
//! callbacks, GlobalID deserialization errors.

use std::time::Duration;

use syncsim_services::jobs::{Job, JobError};
use syncsim_services::pg::{DbError, PgConnection, PgHandle, Value};
use syncsim_sim::Ctx;

use super::{RoleSyncConfig, Variant, ROLE_SYNC_JOB, SCHOOL_SYNC_JOB};

/// Runs one job: works for a drawn while, then writes.
pub async fn perform(
    ctx: Ctx,
    db: PgHandle,
    config: RoleSyncConfig,
    job: Job,
) -> Result<(), JobError> {
    let work_ms = ctx.random(|prng| prng.range_inclusive(0, config.job_work_max_ms));
    ctx.sleep(Duration::from_millis(work_ms)).await;
    let variant = config.variant;
    let mut conn = db.connect(&ctx).await.map_err(db_error)?;
    let id = |name: &str| job.args[name].as_i64().unwrap_or_default();
    match job.kind.as_str() {
        SCHOOL_SYNC_JOB => sync_school(&mut conn, id("school_id")).await,
        ROLE_SYNC_JOB => sync_role(&mut conn, variant, id("role_id")).await,
        other => Err(JobError::new("UnknownJobKind", other)),
    }
}

async fn sync_school(conn: &mut PgConnection, school_id: i64) -> Result<(), JobError> {
    let school = conn
        .query_one(
            "SELECT name FROM schools WHERE id = $1",
            &[school_id.into()],
        )
        .await
        .map_err(db_error)?;
    let name: String = school.get("name");
    let upsert = "INSERT INTO salesforce.editor (external_id__c, name) VALUES ($1, $2) \
         ON CONFLICT (external_id__c) DO UPDATE SET name = EXCLUDED.name";
    conn.execute(upsert, &[school_id.to_string().into(), name.into()])
        .await
        .map_err(db_error)?;
    Ok(())
}

async fn sync_role(
    conn: &mut PgConnection,
    variant: Variant,
    role_id: i64,
) -> Result<(), JobError> {
    let role = conn
        .query_one(
            "SELECT school_id, user_id, kind FROM roles WHERE id = $1",
            &[role_id.into()],
        )
        .await
        .map_err(db_error)?;
    let kind: String = role.get("kind");
    if kind == "student" {
        return Ok(());
    }
    let editor = role.get::<i64>("school_id").to_string();
    let contact = role.get::<i64>("user_id").to_string();
    if variant == Variant::Guarded {
        require_synced(conn, "salesforce.editor", &editor).await?;
        require_synced(conn, "salesforce.contact", &contact).await?;
    }
    let insert = "INSERT INTO salesforce.contact_editor_affiliation \
         (external_id__c, editor__c, contact__c, role__c) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (external_id__c) DO NOTHING";
    let params = [
        role_id.to_string().into(),
        editor.into(),
        contact.into(),
        kind.into(),
    ];
    conn.execute(insert, &params).await.map_err(db_error)?;
    Ok(())
}

/// `NotFound` unless the mirror row `external_id` of `table` has its CRM id.
async fn require_synced(
    conn: &mut PgConnection,
    table: &str,
    external_id: &str,
) -> Result<(), JobError> {
    let sql = format!("SELECT sfid FROM {table} WHERE external_id__c = $1");
    let row = conn
        .query_opt(&sql, &[external_id.into()])
        .await
        .map_err(db_error)?;
    match row.map(|row| row.get::<Value>("sfid")) {
        Some(Value::Text(_)) => Ok(()),
        _ => Err(JobError::new(
            "NotFound",
            format!("{table} {external_id} has no sfid yet"),
        )),
    }
}

fn db_error(error: DbError) -> JobError {
    JobError::new("DbError", error.to_string())
}
