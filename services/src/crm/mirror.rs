//! The mirror's configuration and its sync processes: how often the trigger log is drained
//! (Heroku Connect's one serial writer, or one loop per table) and the pull of CRM objects
//! into tables mapped for reading.
//!
//! A mirror table needs the columns `sfid text`, `_hc_lastop text` and `_hc_err text`, its
//! key column (a bigint), its external-id column (unique, when `pull` is on) and the pushed
//! field columns. Every sync connection runs with `xmlbinary = hex`, which is how Heroku
//! Connect's triggers tell its writes from the application's. Pulls poll the CRM by
//! last-write time (Salesforce's `SystemModstamp`). Not modelled: field mapping with renames,
//! updates of existing rows from the CRM (a pull only inserts rows the table lacks), deletes
//! in either direction, bulk API.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::capture::{log_table, CHANNEL};
use super::push::push_cycle;
use super::store::{CrmRequest, CrmResponse, CrmStore};
use crate::pg::{DbError, PgConnection, PgHandle, Value};
use syncsim_sim::ctx::Ctx;
use syncsim_sim::service::ServiceRef;
use syncsim_sim::time::VirtualTime;

/// A column holding another object's external id, pushed as a CRM reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorReference {
    /// The mirror column, e.g. `contact__r__external_id__c`.
    pub column: String,
    /// The CRM field it fills, e.g. `Contact__c`.
    pub field: String,
    /// The referenced object type, e.g. `Contact`.
    pub entity: String,
}

/// One mapped table and how it syncs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorTable {
    /// The mirror table, `schema.name`, e.g. `salesforce.contact_editor_affiliation`.
    pub table: String,
    /// The CRM object type, e.g. `Contact_Editor_Affiliation__c`.
    pub object_type: String,
    /// The column that addresses a row (its bigint primary key; the log's `record_id`).
    pub key_column: String,
    /// The column holding the row's external id (also the CRM field it is unique in).
    pub external_id_column: String,
    /// Columns pushed as CRM fields of the same name.
    pub fields: Vec<String>,
    /// Columns pushed as references to other objects.
    pub references: Vec<MirrorReference>,
    /// How often the table is polled: its pull from the CRM (Heroku Connect's per-mapping
    /// read polling), and with `MirrorCadence::PerTable` its push too.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Log entries sent per page at most.
    pub batch_size_max: u32,
    /// Whether CRM objects of this type that the table lacks flow into it as `SYNCED` rows.
    pub pull: bool,
}

/// How the mirror's writes to the CRM are scheduled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum MirrorCadence {
    /// Heroku Connect: one process sends every mapping's entries serially, in trigger-log id
    /// order; it runs every `poll_interval` (2 min), and sooner when new entries appeared (its
    /// `pg_notify` wake-up, at most once per `notify_interval_min`, 10 s).
    Connect {
        /// The regular cycle.
        #[serde(with = "humantime_serde")]
        poll_interval: Duration,
        /// The shortest gap between two notification-driven cycles.
        #[serde(with = "humantime_serde")]
        notify_interval_min: Duration,
    },
    /// One loop per table, each every table's own `poll_interval`, all in parallel: a
    /// deployment with a sync worker per table (syncsim's earlier mirror).
    PerTable,
}

impl MirrorCadence {
    /// Heroku Connect's documented intervals: every 2 minutes, notified at most every 10 s.
    pub fn heroku_connect() -> MirrorCadence {
        MirrorCadence::Connect {
            poll_interval: Duration::from_secs(120),
            notify_interval_min: Duration::from_secs(10),
        }
    }
}

/// The whole mirror: the schema of its tables and trigger log, the cadence, the mappings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorConfig {
    /// The schema of the mapped tables and of `_trigger_log` (Heroku Connect: `salesforce`).
    pub schema: String,
    /// How writes are scheduled.
    pub cadence: MirrorCadence,
    /// The mapped tables.
    pub tables: Vec<MirrorTable>,
}

/// A sync connection: opened on demand, marked as the sync's own (`xmlbinary = hex`), and
/// listening on `listen` when given.
pub(crate) struct SyncConnection {
    pg: PgHandle,
    listen: Option<&'static str>,
    connection: Option<PgConnection>,
}

impl SyncConnection {
    pub(crate) fn new(pg: PgHandle, listen: Option<&'static str>) -> SyncConnection {
        SyncConnection {
            pg,
            listen,
            connection: None,
        }
    }

    /// The open connection, opening one if needed; None while the database is unreachable.
    pub(crate) async fn get(&mut self, ctx: &Ctx) -> Option<&mut PgConnection> {
        if self.connection.is_none() {
            let mut db = self.pg.connect(ctx).await.ok()?;
            db.execute("SET xmlbinary = 'hex'", &[]).await.ok()?;
            if let Some(channel) = self.listen {
                db.execute(&format!("LISTEN {channel}"), &[]).await.ok()?;
            }
            self.connection = Some(db);
        }
        self.connection.as_mut()
    }

    /// Drops a connection that broke, so the next use opens a fresh one.
    pub(crate) fn forget_if_broken<T>(&mut self, result: &Result<T, DbError>) {
        if result.is_err() {
            self.connection = None;
        }
    }
}

/// Heroku Connect's writer: one process for every mapping. It runs a cycle every
/// `poll_interval`, and on a `notify_interval_min` tick when a change notification arrived;
/// notifications sent while it had no connection are lost, as in PostgreSQL, and wait for
/// the next regular cycle.
pub(crate) async fn connect_writer(
    ctx: Ctx,
    pg: PgHandle,
    crm: ServiceRef<CrmStore>,
    config: MirrorConfig,
    poll_interval: Duration,
    notify_interval_min: Duration,
) {
    let tables: Vec<&MirrorTable> = config.tables.iter().collect();
    let mut db = SyncConnection::new(pg, Some(CHANNEL));
    let log = log_table(&config.schema);
    let mut since_cycle = poll_interval;
    loop {
        ctx.sleep(notify_interval_min).await;
        since_cycle += notify_interval_min;
        let Some(conn) = db.get(&ctx).await else {
            continue;
        };
        let notified = !conn.notifications().is_empty();
        if !notified && since_cycle < poll_interval {
            continue;
        }
        since_cycle = Duration::ZERO;
        let result = push_cycle(&ctx, conn, &crm, &tables, &log).await;
        db.forget_if_broken(&result);
    }
}

/// One table's loop (`MirrorCadence::PerTable`): push its entries, then pull if asked.
pub(crate) async fn table_loop(
    ctx: Ctx,
    pg: PgHandle,
    crm: ServiceRef<CrmStore>,
    schema: String,
    table: MirrorTable,
) {
    let mut db = SyncConnection::new(pg, None);
    let log = log_table(&schema);
    let mut since = VirtualTime::ZERO;
    loop {
        ctx.sleep(table.poll_interval).await;
        let Some(conn) = db.get(&ctx).await else {
            continue;
        };
        let mut result = push_cycle(&ctx, conn, &crm, &[&table], &log).await;
        if table.pull && result.is_ok() {
            result = pull(&ctx, conn, &crm, &table, &mut since).await;
        }
        db.forget_if_broken(&result);
    }
}

/// One table's pull loop (`MirrorCadence::Connect`: reads run apart from the writer).
pub(crate) async fn pull_loop(
    ctx: Ctx,
    pg: PgHandle,
    crm: ServiceRef<CrmStore>,
    table: MirrorTable,
) {
    let mut db = SyncConnection::new(pg, None);
    let mut since = VirtualTime::ZERO;
    loop {
        ctx.sleep(table.poll_interval).await;
        let Some(conn) = db.get(&ctx).await else {
            continue;
        };
        let result = pull(&ctx, conn, &crm, &table, &mut since).await;
        db.forget_if_broken(&result);
    }
}

/// Objects of the table's type written since `since` (Heroku Connect polls Salesforce by
/// `SystemModstamp`) that the table lacks arrive as `SYNCED` rows; `since` moves to the time
/// of this poll once it succeeded. The cursor lives in the process: after a restart the first
/// poll lists everything again (the inserts are idempotent).
async fn pull(
    ctx: &Ctx,
    db: &mut PgConnection,
    crm: &ServiceRef<CrmStore>,
    table: &MirrorTable,
    since: &mut VirtualTime,
) -> Result<(), DbError> {
    let polled_at = ctx.now();
    let request = CrmRequest::List {
        object_type: table.object_type.clone(),
        modified_since: *since,
    };
    let Ok(CrmResponse::Listed(objects)) = ctx.call(crm, request).await else {
        return Ok(());
    };
    let mut columns = vec![table.external_id_column.clone(), "sfid".to_string()];
    columns.extend(table.fields.iter().cloned());
    let placeholders: Vec<String> = (1..=columns.len())
        .map(|index| format!("${index}"))
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}, _hc_lastop) VALUES ({}, 'SYNCED') ON CONFLICT ({}) DO NOTHING",
        table.table,
        columns.join(", "),
        placeholders.join(", "),
        table.external_id_column
    );
    for object in objects {
        let mut params = vec![Value::Text(object.external_id), Value::Text(object.sfid)];
        params.extend(
            table
                .fields
                .iter()
                .map(|field| object.fields.get(field).map_or(Value::Null, value_of)),
        );
        db.execute(&sql, &params).await?;
    }
    *since = polled_at;
    Ok(())
}

pub(crate) fn json_of(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(flag) => serde_json::Value::Bool(*flag),
        Value::Int4(number) => serde_json::Value::from(*number),
        Value::Int8(number) => serde_json::Value::from(*number),
        Value::Jsonb(json) => json.clone(),
        other => serde_json::Value::String(other.to_pg_text()),
    }
}

fn value_of(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(flag) => Value::Bool(*flag),
        serde_json::Value::Number(number) => number.as_i64().map_or(Value::Null, Value::Int8),
        serde_json::Value::String(text) => Value::Text(text.clone()),
        other => Value::Jsonb(other.clone()),
    }
}

/// The fields of a pushed row, by CRM field name.
pub(crate) fn fields_of(
    row: &crate::pg::PgRow,
    table: &MirrorTable,
) -> BTreeMap<String, serde_json::Value> {
    table
        .fields
        .iter()
        .map(|field| {
            (
                field.clone(),
                row.value(field).map_or(serde_json::Value::Null, json_of),
            )
        })
        .collect()
}
