//! Native row triggers: `BEFORE` and `AFTER` `INSERT`/`UPDATE` `FOR EACH ROW` triggers written
//! in Rust by a service that installs them on its tables (the CRM mirror installs Heroku
//! Connect's status and trigger-log triggers), fired inside the writing statement where
//! PostgreSQL fires row triggers.
//!
//! `BEFORE` runs on the proposed row before NOT NULL, unique and foreign-key checks (and, for
//! `INSERT ... ON CONFLICT`, before the arbiter check, so `EXCLUDED` sees its changes) and may
//! change it; `AFTER` runs once the row is written and may insert rows into other tables in
//! the same transaction and send a `pg_notify`, so they commit or roll back with the write
//! (statement and savepoint rollbacks included: they carry the statement's command id). A statement
//! that blocks and re-runs never re-fires a trigger for a row it already wrote (that row is
//! skipped), so the ids an `AFTER` insert draws from a sequence are drawn once, without the replay
//! log.
//!
//! Not modelled: `CREATE TRIGGER` in SQL and PL/pgSQL (0A000 as before), statement-level,
//! `DELETE` and `TRUNCATE` triggers, `WHEN` clauses, a `BEFORE` trigger skipping the row
//! (returning NULL), and PostgreSQL's queueing of `AFTER ROW` triggers to the end of the
//! statement: here they fire right after their row, which nothing can observe, since the
//! statement cannot see rows written by its own command.
//! Invariant: a trigger's insert happens in the transaction and command of the row that fired it.

use std::fmt;
use std::sync::Arc;

use super::catalog::{ColumnDefault, Table, TableId};
use super::constraints::{check_not_null, check_uniques};
use super::deferred::queue_row_checks;
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::expr::eval;
use super::notify::queue_notify;
use super::rowops::write_insert;
use super::settings::XmlBinary;
use super::value::Value;

/// The write that fired a trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerOp {
    /// An `INSERT` (or the insert half of `INSERT ... ON CONFLICT`).
    Insert,
    /// An `UPDATE` (or `ON CONFLICT DO UPDATE`, or a foreign key's `SET NULL`/`SET DEFAULT`).
    Update,
}

impl TriggerOp {
    /// The SQL keyword, as PostgreSQL's `TG_OP` gives it to a trigger function.
    pub fn keyword(self) -> &'static str {
        match self {
            TriggerOp::Insert => "INSERT",
            TriggerOp::Update => "UPDATE",
        }
    }
}

/// What a trigger sees about the write.
#[derive(Debug)]
pub struct TriggerEvent<'a> {
    /// Insert or update.
    pub op: TriggerOp,
    /// The written table.
    pub table: &'a Table,
    /// The row before an update.
    pub old: Option<&'a [Value]>,
    /// The writing session's `xmlbinary` setting (Heroku Connect marks its own writes with
    /// `hex`; applications run with the default `base64`).
    pub xmlbinary: XmlBinary,
}

impl TriggerEvent<'_> {
    /// The position of `column` in the table's rows; panics on a column the table lacks (a
    /// trigger installed on the wrong table is a bug of the service that installed it).
    pub fn column(&self, column: &str) -> usize {
        self.table.column_index(column).unwrap_or_else(|| {
            panic!(
                "trigger on {}: no column {column}",
                self.table.qualified_name()
            )
        })
    }
}

/// A row an `AFTER` trigger inserts: the table (`schema.name`) and the named columns' values;
/// other columns take their defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerInsert {
    /// The target table.
    pub table: String,
    /// Column values by name.
    pub values: Vec<(String, Value)>,
}

/// A row trigger installed by a service.
pub trait RowTrigger: fmt::Debug + Send + Sync {
    /// `BEFORE INSERT OR UPDATE FOR EACH ROW`: may change the proposed row in place.
    fn before(&self, event: &TriggerEvent<'_>, new: &mut [Value]);

    /// `AFTER INSERT OR UPDATE FOR EACH ROW`: rows to insert in the same transaction.
    fn after(&self, event: &TriggerEvent<'_>, new: &[Value]) -> Vec<TriggerInsert>;

    /// `AFTER ... FOR EACH ROW`: a `pg_notify(channel, payload)` to send, delivered at commit
    /// like any NOTIFY (identical ones of one transaction folded).
    fn notify(&self, _event: &TriggerEvent<'_>) -> Option<(String, String)> {
        None
    }

    /// The same trigger as SQL for a real PostgreSQL (`CREATE FUNCTION ... LANGUAGE plpgsql;
    /// CREATE TRIGGER ... ON table`), which `syncsim confirm` installs there; `None` when the
    /// trigger has no such form (the confirmation then says the real server lacks it).
    fn postgres_sql(&self, _table: &str) -> Option<String> {
        None
    }
}

/// The triggers of one table, in installation order (PostgreSQL fires them in name order).
pub type Triggers = Vec<Arc<dyn RowTrigger>>;

fn triggers_of(ctx: &StmtCtx, table_id: TableId) -> Option<Triggers> {
    ctx.db.triggers.get(&table_id).cloned()
}

fn event_of<'a>(
    ctx: &'a StmtCtx,
    table_id: TableId,
    op: TriggerOp,
    old: Option<&'a [Value]>,
) -> TriggerEvent<'a> {
    TriggerEvent {
        op,
        table: ctx.db.catalog.table(table_id),
        old,
        xmlbinary: ctx.xmlbinary,
    }
}

/// Runs the table's `BEFORE` triggers on `new`.
pub fn fire_before(
    ctx: &StmtCtx,
    table_id: TableId,
    op: TriggerOp,
    old: Option<&[Value]>,
    mut new: Vec<Value>,
) -> Vec<Value> {
    let Some(triggers) = triggers_of(ctx, table_id) else {
        return new;
    };
    let event = event_of(ctx, table_id, op, old);
    let width = new.len();
    for trigger in &triggers {
        trigger.before(&event, &mut new);
    }
    assert_eq!(new.len(), width, "a BEFORE trigger keeps the row's width");
    new
}

/// Runs the table's `AFTER` triggers on the written row and performs their inserts.
pub fn fire_after(
    ctx: &mut StmtCtx,
    table_id: TableId,
    op: TriggerOp,
    old: Option<&[Value]>,
    new: &[Value],
) -> Exec<()> {
    let Some(triggers) = triggers_of(ctx, table_id) else {
        return Ok(());
    };
    let (inserts, notifies): (Vec<TriggerInsert>, Vec<(String, String)>) = {
        let event = event_of(ctx, table_id, op, old);
        let inserts = triggers
            .iter()
            .flat_map(|trigger| trigger.after(&event, new))
            .collect();
        let notifies = triggers
            .iter()
            .filter_map(|trigger| trigger.notify(&event))
            .collect();
        (inserts, notifies)
    };
    for insert in inserts {
        insert_row(ctx, &insert)?;
    }
    for (channel, payload) in notifies {
        queue_notify(ctx, channel, payload)?;
    }
    Ok(())
}

/// Inserts one trigger row: named values, defaults elsewhere, NOT NULL and unique checks.
fn insert_row(ctx: &mut StmtCtx, insert: &TriggerInsert) -> Exec<()> {
    let table_id = ctx.db.catalog.find(&insert.table).ok_or_else(|| {
        PgError::new(
            SqlState::UndefinedTable,
            format!("relation \"{}\" does not exist", insert.table),
        )
    })?;
    let table = ctx.db.catalog.table(table_id).clone();
    let mut values = Vec::with_capacity(table.columns.len());
    for (column_index, column) in table.columns.iter().enumerate() {
        let named = insert.values.iter().find(|(name, _)| *name == column.name);
        let value = match named {
            Some((_, value)) => value.clone(),
            None => default_of(ctx, &table, column_index)?,
        };
        values.push(value.cast_to(column.column_type)?);
    }
    assert!(
        insert
            .values
            .iter()
            .all(|(name, _)| table.column_index(name).is_some()),
        "trigger insert into {}: unknown column",
        insert.table
    );
    check_not_null(&table, &values)?;
    super::serializable::insert_heap(ctx, table_id)?;
    let rechecks = check_uniques(ctx, table_id, (None, &values), &[], true)?;
    let row_id = write_insert(ctx, table_id, values.clone());
    queue_row_checks(ctx, table_id, row_id, &values, (&rechecks, &[]));
    Ok(())
}

/// A column's default. A sequence is advanced directly: this insert is never re-run.
fn default_of(ctx: &mut StmtCtx, table: &Table, column_index: usize) -> Exec<Value> {
    Ok(match &table.columns[column_index].default {
        None => Value::Null,
        Some(ColumnDefault::Expr(expr)) => eval(ctx, &[], expr)?,
        Some(ColumnDefault::Sequence(sequence)) => {
            Value::Int8(ctx.db.catalog.nextval(&sequence.clone())?)
        }
    })
}

impl super::Postgres {
    /// Installs `trigger` on `table` (`schema.name` or `name`); panics when the table does not
    /// exist (a service installs its triggers at setup, after the model's schema).
    pub fn install_trigger(&mut self, table: &str, trigger: Arc<dyn RowTrigger>) {
        let table_id = self
            .db
            .catalog
            .find(table)
            .unwrap_or_else(|| panic!("no table {table} to install a trigger on"));
        self.db.triggers.entry(table_id).or_default().push(trigger);
    }
}

impl super::PgHandle {
    /// Installs a row trigger on `table`, as a service does at setup (see [`RowTrigger`]).
    pub fn install_trigger(&self, table: &str, trigger: Arc<dyn RowTrigger>) {
        self.lock().install_trigger(table, trigger);
    }
}
