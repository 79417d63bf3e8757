//! Routes one non-transaction-control statement to its executor; anything else is the
//! dedicated 0A000 error naming the statement.
//!
//! Modelled: `DROP TABLE` (<https://www.postgresql.org/docs/15/sql-droptable.html>) and
//! `TRUNCATE` (<https://www.postgresql.org/docs/15/sql-truncate.html>), in `drop.rs`, run
//! outside a transaction block only (the catalog is not transactional); both wait for their
//! ACCESS EXCLUSIVE locks like every statement (`statement_locks`). `LOCK TABLE` is all
//! locks: `statement_locks` does its work before it is routed here. `SET CONSTRAINTS`
//! (`set_constraints.rs`) runs here too, since its IMMEDIATE form runs checks that may wait.
//! Not modelled: every statement kind not listed in `route` (other DROP kinds such as DROP
//! INDEX, DROP SEQUENCE and DROP SCHEMA, ALTER, COPY, MERGE, PREPARE, …).
//! Invariant: routing is purely syntactic; it never touches the database itself.

use sqlparser::ast::{self, Statement};

use super::error::PgError;
use super::exec::{Exec, StmtCtx};
use super::{
    cte, ddl, drop, index_build, insert, modify, notify, select, set_constraints, QueryResult,
};

/// Executes one statement inside the current transaction.
pub fn route(ctx: &mut StmtCtx, statement: &Statement) -> Exec<QueryResult> {
    match statement {
        Statement::Query(query) if query.with.is_some() => cte::execute(ctx, query),
        Statement::Query(query) => select::execute_select(ctx, query),
        Statement::Insert(insert) => insert::execute_insert(ctx, insert),
        Statement::Update(update) => modify::execute_update(ctx, update),
        Statement::Delete(delete) => modify::execute_delete(ctx, delete),
        Statement::CreateTable(create) => {
            let xid = ctx.view.xid;
            ctx.db
                .ddl(xid, |catalog| ddl::create_table(catalog, create))?;
            Ok(QueryResult::tag("CREATE TABLE"))
        }
        Statement::CreateIndex(create) => {
            let xid = ctx.view.xid;
            let plan = ddl::plan_index(&ctx.db.catalog, create)?;
            if let ddl::IndexPlan::Unique(table_id, unique) = &plan {
                index_build::check_existing_rows(ctx, *table_id, unique)?;
            }
            ctx.db.ddl(xid, |catalog| ddl::add_index(catalog, plan))?;
            Ok(QueryResult::tag("CREATE INDEX"))
        }
        Statement::CreateSchema {
            schema_name: ast::SchemaName::Simple(name),
            if_not_exists,
            or_replace: false,
            with: None,
            options: None,
            default_collate_spec: None,
            clone: None,
        } => {
            let (xid, schema) = (ctx.view.xid, super::catalog::split_name(name)?.1);
            ctx.db
                .ddl(xid, |catalog| catalog.create_schema(schema, *if_not_exists))?;
            Ok(QueryResult::tag("CREATE SCHEMA"))
        }
        Statement::LISTEN { channel } => {
            notify::queue_listen(ctx, channel, true);
            Ok(QueryResult::tag("LISTEN"))
        }
        Statement::UNLISTEN { channel } => {
            notify::queue_listen(ctx, channel, false);
            Ok(QueryResult::tag("UNLISTEN"))
        }
        Statement::NOTIFY { channel, payload } => {
            let payload = payload.clone().unwrap_or_default();
            notify::queue_notify(ctx, super::catalog::fold_ident(channel), payload)?;
            Ok(QueryResult::tag("NOTIFY"))
        }
        // `drop` names every field of the statement.
        Statement::Drop {
            object_type: ast::ObjectType::Table,
            ..
        } => drop::execute_drop_table(ctx, statement),
        Statement::Truncate(truncate) => drop::execute_truncate(ctx, truncate),
        // Its whole work, taking the locks, happened before it ran (`statement_locks`).
        Statement::Lock(_) => Ok(QueryResult::tag("LOCK TABLE")),
        Statement::Set(set) => match set_constraints::decode(set) {
            Some(set_constraints) => set_constraints::execute(ctx, &set_constraints),
            None => Err(PgError::unsupported(statement_kind(statement)).into()),
        },
        Statement::CreateSchema { .. } => Err(PgError::unsupported(format!(
            "CREATE SCHEMA beyond a plain name and IF NOT EXISTS: {statement}"
        ))
        .into()),
        other => Err(PgError::unsupported(statement_kind(other)).into()),
    }
}

/// Statements that change the catalog, and TRUNCATE. The catalog is not versioned by
/// transaction, so these run only outside a transaction block
/// (see `dispatch`). Only the statement kind matters here (hence `..`): the executors judge
/// the fields.
pub fn is_ddl(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateTable(_)
            | Statement::CreateIndex(_)
            | Statement::CreateSchema { .. }
            | Statement::Drop {
                object_type: ast::ObjectType::Table,
                ..
            }
            | Statement::Truncate(_)
    )
}

/// A short name for an unsupported statement: its leading keywords.
fn statement_kind(statement: &Statement) -> String {
    format!("{} statement", leading_keywords(statement))
}

/// A statement's first two words (`CREATE TABLE`, `DROP INDEX`).
pub fn leading_keywords(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    words.join(" ")
}
