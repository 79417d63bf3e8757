//! Draining the trigger log: one write cycle sends the mapped tables' `NEW` and `REQUEUE`
//! entries to the CRM, oldest id first, and records each outcome in the log and on the row.
//!
//! Per entry: mark it `PENDING`; read the row as it is now; send it (a create when the row has
//! no `sfid` yet, an upsert by external id when it has one); then, in one transaction that
//! first locks the row, write the result back: `sfid`, and `SYNCED` or `FAILED` with the
//! CRM's text in `_hc_err`, unless a newer entry of the same row waits (an application change
//! made while this one was in flight): then the row stays `PENDING` for that entry. The
//! entry becomes `SUCCESS` or `FAILED` with `sf_message`. A CRM that refuses the request or
//! does not answer puts the entry back to `NEW` and ends the cycle (Connect queues writes
//! while Salesforce is unavailable); the next cycle sends it again, and a create that had in
//! fact been applied then fails with `duplicate value found`. A `FAILED` entry is never sent
//! again by the sync; an application update of the row (a new entry) or setting the entry's
//! state to `REQUEUE` (or `NEW`) sends it again. Entries a crash or a broken connection left
//! `PENDING` are set back to `NEW` at the start of the next cycle. Not modelled: merged
//! writes, the archive, retries of `FAILED` entries by Connect itself (there are none).

use super::mirror::{fields_of, MirrorTable};
use super::store::{CrmRequest, CrmResponse, CrmStore, Reference};
use crate::pg::{DbError, PgConnection, PgRow, Value};
use syncsim_sim::ctx::Ctx;
use syncsim_sim::service::ServiceRef;

/// Log entries read per page when a table does not say.
const PAGE_SIZE_DEFAULT: u32 = 200;

/// The outcome of sending one entry.
enum Sent {
    /// The CRM answered; the outcome is recorded.
    Recorded,
    /// The CRM refused or did not answer: the entry is `NEW` again; stop this cycle.
    Unavailable,
}

/// `table_name IN ($first, ...)` and its parameters.
fn table_filter(tables: &[&MirrorTable], first: usize) -> (String, Vec<Value>) {
    let placeholders: Vec<String> = (first..first + tables.len())
        .map(|index| format!("${index}"))
        .collect();
    let params = tables
        .iter()
        .map(|table| Value::from(table.table.as_str()))
        .collect();
    (
        format!("table_name IN ({})", placeholders.join(", ")),
        params,
    )
}

/// One write cycle over `tables`: every waiting entry, oldest first, page by page.
pub(crate) async fn push_cycle(
    ctx: &Ctx,
    db: &mut PgConnection,
    crm: &ServiceRef<CrmStore>,
    tables: &[&MirrorTable],
    log: &str,
) -> Result<(), DbError> {
    assert!(
        !tables.is_empty(),
        "a write cycle covers at least one table"
    );
    let (filter, mut params) = table_filter(tables, 1);
    let reset = format!("UPDATE {log} SET state = 'NEW' WHERE state = 'PENDING' AND {filter}");
    db.execute(&reset, &params).await?;
    let page_size = tables
        .iter()
        .map(|table| table.batch_size_max)
        .max()
        .unwrap_or(PAGE_SIZE_DEFAULT);
    let (filter, _) = table_filter(tables, 2);
    let select = format!(
        "SELECT id, table_name, record_id FROM {log} WHERE state IN ('NEW', 'REQUEUE') \
         AND id > $1 AND {filter} ORDER BY id LIMIT {page_size}"
    );
    params.insert(0, Value::Int8(0));
    loop {
        let entries = db.query(&select, &params).await?;
        for entry in &entries {
            let id: i64 = entry.get("id");
            params[0] = Value::Int8(id);
            let name: String = entry.get("table_name");
            let table = tables
                .iter()
                .find(|table| table.table == name)
                .expect("the query selects mapped tables only");
            let record: i64 = entry.get("record_id");
            if let Sent::Unavailable = push_entry(ctx, db, crm, table, log, id, record).await? {
                return Ok(());
            }
        }
        if entries.len() < page_size as usize {
            return Ok(());
        }
    }
}

/// Sends entry `id` (row `record` of `table`) and records the outcome.
async fn push_entry(
    ctx: &Ctx,
    db: &mut PgConnection,
    crm: &ServiceRef<CrmStore>,
    table: &MirrorTable,
    log: &str,
    id: i64,
    record: i64,
) -> Result<Sent, DbError> {
    let mark = format!("UPDATE {log} SET state = 'PENDING' WHERE id = $1");
    db.execute(&mark, &[Value::Int8(id)]).await?;
    let mut columns = vec![
        table.key_column.clone(),
        table.external_id_column.clone(),
        "sfid".to_string(),
    ];
    columns.extend(table.fields.iter().cloned());
    columns.extend(
        table
            .references
            .iter()
            .map(|reference| reference.column.clone()),
    );
    let read = format!(
        "SELECT {} FROM {} WHERE {} = $1",
        columns.join(", "),
        table.table,
        table.key_column
    );
    let Some(row) = db.query_opt(&read, &[Value::Int8(record)]).await? else {
        // The row is gone (deletes are not sent): nothing to do for this entry.
        let ignore = format!("UPDATE {log} SET state = 'IGNORED' WHERE id = $1");
        db.execute(&ignore, &[Value::Int8(id)]).await?;
        return Ok(Sent::Recorded);
    };
    let outcome = match ctx.call(crm, request_of(&row, table)).await {
        Ok(CrmResponse::Upserted { sfid }) => Ok(sfid),
        Ok(CrmResponse::Error(message)) => Err(message),
        Ok(other) => Err(format!("unexpected CRM answer: {other}")),
        Err(_) => {
            let requeue = format!("UPDATE {log} SET state = 'NEW' WHERE id = $1");
            db.execute(&requeue, &[Value::Int8(id)]).await?;
            return Ok(Sent::Unavailable);
        }
    };
    write_back(db, table, log, id, record, outcome).await?;
    Ok(Sent::Recorded)
}

/// Records the outcome on the entry and, guarded by newer entries, on the row.
async fn write_back(
    db: &mut PgConnection,
    table: &MirrorTable,
    log: &str,
    id: i64,
    record: i64,
    outcome: Result<String, String>,
) -> Result<(), DbError> {
    db.begin().await?;
    let lock = format!(
        "SELECT {key} FROM {} WHERE {key} = $1 FOR UPDATE",
        table.table,
        key = table.key_column
    );
    db.query(&lock, &[Value::Int8(record)]).await?;
    let newer = format!(
        "SELECT count(*) AS newer FROM {log} WHERE table_name = $1 AND record_id = $2 \
         AND state IN ('NEW', 'REQUEUE') AND id > $3"
    );
    let params = [
        Value::from(table.table.as_str()),
        Value::Int8(record),
        Value::Int8(id),
    ];
    let waiting = db.query_one(&newer, &params).await?.get::<i64>("newer") > 0;
    let (sfid, state, message) = match outcome {
        Ok(sfid) => (Value::Text(sfid), "SUCCESS", Value::Null),
        Err(message) => (Value::Null, "FAILED", Value::Text(message)),
    };
    let (lastop, error) = match (waiting, state) {
        (true, _) => ("PENDING", Value::Null),
        (false, "SUCCESS") => ("SYNCED", Value::Null),
        (false, _) => ("FAILED", message.clone()),
    };
    let row = format!(
        "UPDATE {} SET sfid = coalesce($1, sfid), _hc_lastop = $2, _hc_err = $3 WHERE {} = $4",
        table.table, table.key_column
    );
    let params = [sfid, Value::from(lastop), error, Value::Int8(record)];
    db.execute(&row, &params).await?;
    let entry = format!("UPDATE {log} SET state = $1, sf_message = $2 WHERE id = $3");
    db.execute(&entry, &[Value::from(state), message, Value::Int8(id)])
        .await?;
    db.commit().await
}

/// A create for a row the CRM has no id for yet, an upsert by external id otherwise.
fn request_of(row: &PgRow, table: &MirrorTable) -> CrmRequest {
    let text = |column: &str| row.value(column).map(Value::to_pg_text).unwrap_or_default();
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
    let (object_type, external_id) = (table.object_type.clone(), text(&table.external_id_column));
    let fields = fields_of(row, table);
    let has_sfid = row.value("sfid").is_some_and(|sfid| !sfid.is_null());
    if has_sfid {
        CrmRequest::Upsert {
            object_type,
            external_id,
            fields,
            references,
        }
    } else {
        CrmRequest::Create {
            object_type,
            external_id_field: table.external_id_column.clone(),
            external_id,
            fields,
            references,
        }
    }
}
