//! The API's outbox worker: a cron process every `cron_interval_ms`, and the
//! `POST /internal/process-outbox` endpoint, which runs the same batch for an admin and
//! answers 401 to anyone else.
//!
//! A batch is one transaction: it claims up to `batch_size_max` pending rows `FOR UPDATE SKIP
//! LOCKED` (a concurrent batch skips them), and per row loads the parent named in the
//! payload, sends the email, and marks the row `sent`; a missing parent or a mail failure
//! counts an attempt, and the last allowed attempt marks it `failed`. A crash of the API
//! mid-batch rolls the claim back (the row is pending again, its email perhaps already sent).
//! The cron is a process on the API's node ticking at multiples of the interval, as the real
//! scheduled route is, rather than the jobs service's cron: the outbox table is the queue, and
//! a crash of the API stops the cron with the batch. Not modelled: backoff between attempts
//! (the next tick retries), dead-letter handling.

use std::time::Duration;

use serde_json::json;
use syncsim_services::http::{HttpRequest, HttpResponse};
use syncsim_services::pg::{DbError, PgConnection, PgHandle, PgRow};
use syncsim_sim::{Ctx, ServiceRef, WorldBuilder};

use super::endpoint::ADMIN_AUTH;
use super::mail::{Mail, SendEmail};
use super::{ContractOutboxConfig, API};
use syncsim_services::http::HttpServe;

/// Coverage mark: a send failed and the row stays pending for another attempt.
pub const MARK_MAIL_RETRIED: &str =
    "contract_outbox: the mail service failed and the worker retried";
/// Coverage mark: an admin's kick ran a batch (next to the cron's).
pub const MARK_KICK_RAN: &str = "contract_outbox: an authorised kick processed the outbox";

/// Trace note when a batch has claimed rows; the properties' crash coverage reads it.
pub(crate) const NOTE_CLAIMED: &str = "batch claimed: ";
/// Trace note when a batch ended, committed or not.
pub(crate) const NOTE_ENDED: &str = "batch ended: ";

/// The `api` node: its HTTP endpoint and its cron.
pub fn install(
    world: &mut WorldBuilder,
    db: &PgHandle,
    mail: &ServiceRef<Mail>,
    config: &ContractOutboxConfig,
) {
    let (http_db, http_mail, http_config) = (db.clone(), mail.clone(), config.clone());
    let (db, mail, config) = (db.clone(), mail.clone(), config.clone());
    world
        .node(API)
        .http(move |ctx, request| {
            let worker = Worker {
                db: http_db.clone(),
                mail: http_mail.clone(),
                config: http_config.clone(),
            };
            async move { worker.handle(&ctx, &request).await }
        })
        .daemon("outbox-cron", move |ctx| {
            let worker = Worker {
                db: db.clone(),
                mail: mail.clone(),
                config: config.clone(),
            };
            async move { worker.cron(&ctx).await }
        });
}

struct Worker {
    db: PgHandle,
    mail: ServiceRef<Mail>,
    config: ContractOutboxConfig,
}

impl Worker {
    async fn handle(&self, ctx: &Ctx, request: &HttpRequest) -> HttpResponse {
        if request.path != "/internal/process-outbox" {
            return HttpResponse::status(404);
        }
        if request.body["auth"].as_str() != Some(ADMIN_AUTH) {
            return HttpResponse::status(401);
        }
        ctx.mark(MARK_KICK_RAN);
        match self.batch(ctx).await {
            Ok(processed) => HttpResponse::ok(json!({ "processed": processed })),
            Err(_) => HttpResponse::status(500),
        }
    }

    /// Ticks at every multiple of the interval, as a cron schedule does.
    async fn cron(&self, ctx: &Ctx) {
        let interval_micros = self.config.cron_interval_ms.get() * 1_000;
        loop {
            let now_micros = ctx.now().as_micros();
            let next_micros = (now_micros / interval_micros + 1) * interval_micros;
            ctx.sleep(Duration::from_micros(next_micros - now_micros))
                .await;
            if let Err(error) = self.batch(ctx).await {
                ctx.note(format!("api: batch failed: {error}"));
            }
        }
    }

    /// One batch; how many rows it claimed.
    async fn batch(&self, ctx: &Ctx) -> Result<usize, DbError> {
        let mut conn = self.db.connect(ctx).await?;
        conn.begin().await?;
        let claim = "SELECT id, payload, attempts FROM outbox WHERE status = 'pending' \
                     ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED";
        let limit = i64::from(self.config.batch_size_max);
        let rows = conn.query(claim, &[limit.into()]).await?;
        if rows.is_empty() {
            conn.rollback().await?;
            return Ok(0);
        }
        let ids: Vec<i64> = rows.iter().map(|row| row.get::<i64>("id")).collect();
        ctx.note(format!("api: {NOTE_CLAIMED}{ids:?}"));
        let ended = self.process_all(ctx, &mut conn, &rows).await;
        ctx.note(format!("api: {NOTE_ENDED}{ids:?}"));
        ended.map(|()| rows.len())
    }

    async fn process_all(
        &self,
        ctx: &Ctx,
        conn: &mut PgConnection,
        rows: &[PgRow],
    ) -> Result<(), DbError> {
        for row in rows {
            self.process(ctx, conn, row).await?;
        }
        conn.commit().await
    }

    /// Sends one event's email and marks the row, or counts a failed attempt.
    async fn process(
        &self,
        ctx: &Ctx,
        conn: &mut PgConnection,
        row: &PgRow,
    ) -> Result<(), DbError> {
        let id: i64 = row.get("id");
        let payload: serde_json::Value = row.get("payload");
        let player_id = payload["player_id"].as_i64().unwrap_or_default();
        let parent_id = payload["parent_id"].as_i64();
        let select = "SELECT email FROM parents WHERE id = $1";
        let parent = conn.query_opt(select, &[parent_id.into()]).await?;
        let Some(parent) = parent else {
            ctx.note(format!("api: event {id}: parent {parent_id:?} not found"));
            return self.count_attempt(conn, row).await.map(drop);
        };
        let email = SendEmail {
            to: parent.get("email"),
            player_id,
        };
        if ctx.call(&self.mail, email).await.is_err() {
            ctx.note(format!("api: event {id}: mail failed"));
            if !self.count_attempt(conn, row).await? {
                ctx.mark(MARK_MAIL_RETRIED);
            }
            return Ok(());
        }
        let sent = "UPDATE outbox SET status = 'sent', attempts = attempts + 1, \
                    processed_at = now() WHERE id = $1";
        conn.execute(sent, &[id.into()]).await?;
        Ok(())
    }

    /// One more attempt; the last allowed one marks the row failed (and returns true).
    async fn count_attempt(&self, conn: &mut PgConnection, row: &PgRow) -> Result<bool, DbError> {
        let id: i64 = row.get("id");
        let attempts = row.get::<i32>("attempts") + 1;
        let last = attempts >= i32::try_from(self.config.attempts_max).unwrap_or(i32::MAX);
        if last {
            let failed = "UPDATE outbox SET status = 'failed', attempts = $2, \
                          processed_at = now() WHERE id = $1";
            conn.execute(failed, &[id.into(), attempts.into()]).await?;
        } else {
            let retry = "UPDATE outbox SET attempts = $2 WHERE id = $1";
            conn.execute(retry, &[id.into(), attempts.into()]).await?;
        }
        Ok(last)
    }
}
