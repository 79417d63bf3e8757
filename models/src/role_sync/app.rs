//! The app and the upstream pipeline: the app creates each school with its owner role in one
//! transaction and enqueues both sync jobs inside it (they exist only if it commits), then
//! adds teachers and students one transaction each; the upstream pipeline upserts users'
//! contacts into the CRM after a seeded lag, or never for the lost ones.
//!
//! A transaction that fails (connection lost) is retried from the top, as a controller
//! would on a 500 and a user's second click. Not modelled: users without roles.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use syncsim_services::crm::CrmStore;
use syncsim_services::jobs::{JobSpec, Jobs};
use syncsim_services::pg::{DbError, PgHandle};
use syncsim_sim::{Ctx, ServiceRef, WorldBuilder};

use super::schema::{lost_users, roles, RoleRow, CONTACT};
use super::{RoleSyncConfig, ROLE_SYNC_JOB, SCHOOL_SYNC_JOB};

/// The `app` and `upstream` nodes.
pub fn install(
    world: &mut WorldBuilder,
    db: &PgHandle,
    jobs: &Jobs,
    crm: &ServiceRef<CrmStore>,
    config: &RoleSyncConfig,
) {
    let (db, jobs, app_config) = (db.clone(), jobs.clone(), config.clone());
    world.node("app").process("sign-ups", move |ctx| {
        create_all(ctx, db.clone(), jobs.clone(), app_config.clone())
    });
    let (crm, upstream_config) = (crm.clone(), config.clone());
    world.node("upstream").process("contacts", move |ctx| {
        upstream(ctx, crm.clone(), upstream_config.clone())
    });
}

async fn create_all(ctx: Ctx, db: PgHandle, jobs: Jobs, config: RoleSyncConfig) {
    for role in roles(&config) {
        while let Err(error) = create_role(&ctx, &db, &jobs, &role).await {
            ctx.note(format!(
                "app: role {} not created ({error}); again",
                role.id
            ));
            ctx.sleep(Duration::from_millis(100)).await;
        }
        let gap_ms = ctx.random(|prng| prng.range_inclusive(0, config.action_gap_max_ms));
        ctx.sleep(Duration::from_millis(gap_ms)).await;
    }
}

fn spec(kind: &str, args: serde_json::Value, key: String) -> JobSpec {
    JobSpec {
        kind: kind.to_string(),
        queue: "default".to_string(),
        args,
        concurrency_key: Some(key),
        wait: Duration::ZERO,
    }
}

/// One transaction: the school too for an owner, the user, the role, and their jobs.
async fn create_role(ctx: &Ctx, db: &PgHandle, jobs: &Jobs, role: &RoleRow) -> Result<(), DbError> {
    let mut conn = db.connect(ctx).await?;
    conn.begin().await?;
    let school = role.school_id;
    if role.kind == "owner" {
        let name = format!("School {school}");
        let insert = "INSERT INTO schools (id, name) VALUES ($1, $2)";
        conn.execute(insert, &[school.into(), name.into()]).await?;
    }
    let email = format!("user{}@example.org", role.id);
    let insert_user = "INSERT INTO users (id, email) VALUES ($1, $2)";
    conn.execute(insert_user, &[role.id.into(), email.into()])
        .await?;
    let insert_role = "INSERT INTO roles (id, school_id, user_id, kind) VALUES ($1, $2, $3, $4)";
    let params = [
        role.id.into(),
        school.into(),
        role.id.into(),
        role.kind.into(),
    ];
    conn.execute(insert_role, &params).await?;
    if role.kind == "owner" {
        let school_job = spec(
            SCHOOL_SYNC_JOB,
            json!({ "school_id": school }),
            format!("school-{school}"),
        );
        jobs.enqueue_in(&mut conn, &school_job).await?;
    }
    let role_job = spec(
        ROLE_SYNC_JOB,
        json!({ "role_id": role.id }),
        format!("role-{}", role.id),
    );
    jobs.enqueue_in(&mut conn, &role_job).await?;
    conn.commit().await
}

/// Upserts every user's contact into the CRM at its drawn arrival time, except lost users.
async fn upstream(ctx: Ctx, crm: ServiceRef<CrmStore>, config: RoleSyncConfig) {
    let lost = lost_users(&config);
    let mut arrivals: BTreeSet<(u64, i64)> = BTreeSet::new();
    for role in roles(&config) {
        let lag_ms = ctx.random(|prng| prng.range_inclusive(0, config.contact_lag_max_s * 1_000));
        if !lost.contains(&role.id) {
            arrivals.insert((lag_ms, role.id));
        }
    }
    let arrivals = arrivals.into_iter().map(|(arrival_ms, user)| {
        (
            arrival_ms,
            user.to_string(),
            format!("user{user}@example.org"),
        )
    });
    crate::upstream::deliver(&ctx, &crm, CONTACT, arrivals).await;
}
