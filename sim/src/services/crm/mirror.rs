//! The sync daemon of one mirror table: poll pending rows, push each to the CRM, write the
//! result back; optionally pull objects created in the CRM (an upstream pipeline) into the
//! table.
//!
//! A mirror table needs the columns `sfid text`, `_hc_lastop text` and `_hc_err text`, its
//! key column, its external-id column (unique, when `pull` is on) and the pushed field
//! columns. A CRM rejection (rate limit, 5xx) or a timeout leaves the row `PENDING` for the
//! next poll; a missing reference marks it `FAILED` for good. Not modelled: retries of
//! `FAILED` rows by an operator, field mapping with renames.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::store::{CrmRequest, CrmResponse, CrmStore, Reference};
use crate::ctx::Ctx;
use crate::service::ServiceRef;
use crate::services::pg::{DbError, PgConnection, PgHandle, PgRow, Value};

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

/// One mapped table and how the daemon syncs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorTable {
    /// The mirror table, e.g. `salesforce.contact_editor_affiliation`.
    pub table: String,
    /// The CRM object type, e.g. `Contact_Editor_Affiliation__c`.
    pub object_type: String,
    /// The column that addresses a row (its primary key).
    pub key_column: String,
    /// The column holding the row's external id.
    pub external_id_column: String,
    /// Columns pushed as CRM fields of the same name.
    pub fields: Vec<String>,
    /// Columns pushed as references to other objects.
    pub references: Vec<MirrorReference>,
    /// How often the daemon looks for pending rows of this table.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Pending rows pushed per poll at most.
    pub batch_size_max: u32,
    /// Whether CRM objects of this type that the table lacks flow into it as `SYNCED` rows.
    pub pull: bool,
}

/// The daemon: every `poll_interval`, push a batch, then pull if asked.
pub(crate) async fn sync_table(
    ctx: Ctx,
    pg: PgHandle,
    crm: ServiceRef<CrmStore>,
    table: MirrorTable,
) {
    let mut connection: Option<PgConnection> = None;
    loop {
        ctx.sleep(table.poll_interval).await;
        if connection.is_none() {
            connection = pg.connect(&ctx).await.ok();
        }
        let Some(db) = connection.as_mut() else {
            continue;
        };
        let mut result = push_batch(&ctx, db, &crm, &table).await;
        if table.pull && result.is_ok() {
            result = pull(&ctx, db, &crm, &table).await;
        }
        if matches!(
            result,
            Err(DbError::ConnectionLost | DbError::OutcomeUnknown)
        ) {
            connection = None;
        }
    }
}

async fn push_batch(
    ctx: &Ctx,
    db: &mut PgConnection,
    crm: &ServiceRef<CrmStore>,
    table: &MirrorTable,
) -> Result<(), DbError> {
    let mut columns = vec![table.key_column.clone(), table.external_id_column.clone()];
    columns.extend(table.fields.iter().cloned());
    columns.extend(
        table
            .references
            .iter()
            .map(|reference| reference.column.clone()),
    );
    let sql = format!(
        "SELECT {} FROM {} WHERE _hc_lastop = 'PENDING' ORDER BY {} LIMIT {}",
        columns.join(", "),
        table.table,
        table.key_column,
        table.batch_size_max
    );
    for row in db.query(&sql, &[]).await? {
        let key = row.value(&table.key_column).cloned().unwrap_or(Value::Null);
        let Ok(response) = ctx.call(crm, upsert_of(&row, table)).await else {
            // Rejected (rate limit, 5xx) or no answer: the row stays pending; next poll.
            return Ok(());
        };
        let (sql, params) = match response {
            CrmResponse::Upserted { sfid } => (
                "SET sfid = $1, _hc_lastop = 'SYNCED', _hc_err = NULL",
                vec![Value::Text(sfid), key],
            ),
            CrmResponse::Error(message) => (
                "SET _hc_lastop = 'FAILED', _hc_err = $1",
                vec![Value::Text(message), key],
            ),
            other => unreachable!("an upsert answers Upserted or Error, got {other:?}"),
        };
        let update = format!(
            "UPDATE {} {sql} WHERE {} = $2",
            table.table, table.key_column
        );
        db.execute(&update, &params).await?;
    }
    Ok(())
}

fn upsert_of(row: &PgRow, table: &MirrorTable) -> CrmRequest {
    let text = |column: &str| row.value(column).map(Value::to_pg_text).unwrap_or_default();
    let fields: BTreeMap<String, serde_json::Value> = table
        .fields
        .iter()
        .map(|field| {
            (
                field.clone(),
                row.value(field).map_or(serde_json::Value::Null, json_of),
            )
        })
        .collect();
    let references = table
        .references
        .iter()
        .filter(|reference| {
            row.value(&reference.column)
                .is_some_and(|value| !value.is_null())
        })
        .map(|reference| Reference {
            field: reference.field.clone(),
            entity: reference.entity.clone(),
            external_id: text(&reference.column),
        })
        .collect();
    CrmRequest::Upsert {
        object_type: table.object_type.clone(),
        external_id: text(&table.external_id_column),
        fields,
        references,
    }
}

/// Objects of the table's type that the table lacks arrive as `SYNCED` rows.
async fn pull(
    ctx: &Ctx,
    db: &mut PgConnection,
    crm: &ServiceRef<CrmStore>,
    table: &MirrorTable,
) -> Result<(), DbError> {
    let request = CrmRequest::List {
        object_type: table.object_type.clone(),
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
    Ok(())
}

fn json_of(value: &Value) -> serde_json::Value {
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
