//! DROP TABLE and TRUNCATE, as PostgreSQL 15 runs them
//! (<https://www.postgresql.org/docs/15/sql-droptable.html>,
//! <https://www.postgresql.org/docs/15/sql-truncate.html>).
//!
//! `DROP TABLE [IF EXISTS] name [, ...] [CASCADE | RESTRICT]` removes each table with its
//! indexes, the sequences its serial and identity columns own, and its row triggers. A
//! foreign key of a table outside the list that references one of them makes it fail with
//! 2BP01, unless CASCADE, which drops those foreign keys (the referencing tables and their
//! rows stay, as in PostgreSQL, where CASCADE drops the constraint, not its table).
//! `TRUNCATE [TABLE] [ONLY] name [*] [, ...] [RESTART IDENTITY | CONTINUE IDENTITY]
//! [CASCADE | RESTRICT]` empties the tables; a table referenced by a foreign key from a
//! table outside the list fails with 0A000 unless CASCADE, which truncates the referencing
//! tables too (transitively). `ONLY` and `*` are accepted: there is no inheritance.
//!
//! Both run in the statement string's implicit transaction and roll back with it: DROP
//! through the catalog undo of `Db::ddl` (the table keeps its rows until the drop commits),
//! TRUNCATE by marking every row deleted by its command, so the ordinary write undo puts
//! them back, and RESTART IDENTITY through the DDL undo's sequence positions.
//!
//! Both take ACCESS EXCLUSIVE on every table they touch before they run (`statement_locks`),
//! waiting for each transaction that used the table and blocking every later one until
//! commit, as PostgreSQL does. A committed TRUNCATE empties its tables for older snapshots
//! too (PostgreSQL's TRUNCATE is not MVCC-safe). Both are refused with 0A000 inside a
//! transaction block (see `dispatch`). A table with deferred constraint checks pending in
//! the string's transaction is 55006 (`deferred::check_not_pending`).
//! Not modelled: the NOTICEs of
//! `IF EXISTS` and CASCADE (the engine sends no notices), DELETE/TRUNCATE triggers (there
//! are none), a TRUNCATE's own entry in the ground-truth log (its rows appear as deletes).
//! Syntax PostgreSQL rejects but sqlparser accepts (`DROP TEMPORARY`, `PURGE`, `ON t`,
//! `TRUNCATE IF EXISTS`, `PARTITION (...)`, `ON CLUSTER`) is 42601, as PostgreSQL says.
//! Invariant: each statement changes everything it names or nothing.

use std::collections::BTreeSet;

use sqlparser::ast;

use super::catalog::{split_name, Catalog, TableId};
use super::deferred::check_not_pending;
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::storage::{RowId, WriteKind};
use super::QueryResult;

/// The fields of sqlparser's `Statement::Drop`.
struct DropTable<'a> {
    if_exists: bool,
    names: &'a [ast::ObjectName],
    cascade: bool,
    restrict: bool,
    purge: bool,
    temporary: bool,
    table: &'a Option<ast::ObjectName>,
}

/// Names every field of `Statement::Drop` (no `..`), so a field a later sqlparser adds fails
/// to compile until it is judged here.
fn drop_table_of(statement: &ast::Statement) -> DropTable<'_> {
    let ast::Statement::Drop {
        // `route` sends only tables here.
        object_type: _,
        if_exists,
        names,
        cascade,
        // RESTRICT, the default.
        restrict,
        // Hive's PURGE, MySQL's TEMPORARY and `DROP INDEX ... ON t`: not PostgreSQL syntax.
        purge,
        temporary,
        table,
    } = statement
    else {
        unreachable!("route sends only DROP TABLE here");
    };
    DropTable {
        if_exists: *if_exists,
        names,
        cascade: *cascade,
        restrict: *restrict,
        purge: *purge,
        temporary: *temporary,
        table,
    }
}

/// 42601 with PostgreSQL's message for syntax it does not have.
fn syntax_error_at(token: &str) -> PgError {
    PgError::syntax(format!("syntax error at or near \"{token}\""))
}

/// 3F000 for a schema that does not exist, as both statements report it.
fn check_schema(catalog: &Catalog, schema: &str) -> Result<(), PgError> {
    if catalog.has_schema(schema) {
        return Ok(());
    }
    Err(PgError::new(
        SqlState::InvalidSchemaName,
        format!("schema \"{schema}\" does not exist"),
    ))
}

/// A table as PostgreSQL's object descriptions name it: qualified outside `public`.
fn described(catalog: &Catalog, table_id: TableId) -> String {
    let table = catalog.table(table_id);
    if table.schema == "public" {
        table.name.clone()
    } else {
        table.qualified_name()
    }
}

/// The tables DROP names, in order, duplicates kept (PostgreSQL counts them in its message);
/// a missing one (or its schema) is an error unless IF EXISTS, which skips it.
fn drop_targets(catalog: &Catalog, drop: &DropTable) -> Result<Vec<TableId>, PgError> {
    let mut targets = Vec::new();
    for name in drop.names {
        let (schema, table) = split_name(name)?;
        if !drop.if_exists {
            check_schema(catalog, &schema)?;
        }
        match catalog.find(&format!("{schema}.{table}")) {
            Some(table_id) => targets.push(table_id),
            None if drop.if_exists => {}
            None => {
                return Err(PgError::new(
                    SqlState::UndefinedTable,
                    format!("table \"{table}\" does not exist"),
                ))
            }
        }
    }
    Ok(targets)
}

/// Foreign keys from tables outside `dropped` to tables in it, as (child, constraint,
/// parent): per dropped table in statement order, referencing tables in creation order.
fn outside_dependents(
    catalog: &Catalog,
    targets: &[TableId],
    dropped: &BTreeSet<TableId>,
) -> Vec<(TableId, String, TableId)> {
    let mut found = Vec::new();
    for (target_index, parent) in targets.iter().enumerate() {
        if targets[..target_index].contains(parent) {
            continue;
        }
        for (child, fk_index) in catalog.referencing(*parent) {
            if !dropped.contains(&child) {
                let name = catalog.table(child).foreign_keys[fk_index].name.clone();
                found.push((child, name, *parent));
            }
        }
    }
    found
}

/// 2BP01, worded as PostgreSQL words it for one object or several.
fn dependents_error(
    catalog: &Catalog,
    targets: &[TableId],
    dependents: &[(TableId, String, TableId)],
) -> PgError {
    let message = match targets {
        [only] => format!(
            "cannot drop table {} because other objects depend on it",
            described(catalog, *only)
        ),
        _ => "cannot drop desired object(s) because other objects depend on them".to_string(),
    };
    let lines: Vec<String> = dependents
        .iter()
        .map(|(child, constraint, parent)| {
            format!(
                "constraint {constraint} on table {} depends on table {}",
                described(catalog, *child),
                described(catalog, *parent)
            )
        })
        .collect();
    PgError::new(SqlState::DependentObjectsStillExist, message)
        .with_detail(lines.join("\n"))
        .with_hint("Use DROP ... CASCADE to drop the dependent objects too.")
}

/// Drops the resolved tables from the catalog: 2BP01 first when a table outside the list
/// references one of them, unless CASCADE, which drops those foreign keys.
fn drop_from_catalog(
    catalog: &mut Catalog,
    targets: &[TableId],
    (cascade, in_use): (bool, Result<(), PgError>),
) -> Result<(), PgError> {
    let dropped: BTreeSet<TableId> = targets.iter().copied().collect();
    let dependents = outside_dependents(catalog, targets, &dropped);
    if !dependents.is_empty() && !cascade {
        return Err(dependents_error(catalog, targets, &dependents));
    }
    in_use?;
    let children: BTreeSet<TableId> = dependents.iter().map(|(child, _, _)| *child).collect();
    for child in children {
        catalog.drop_foreign_keys_to(child, &dropped);
    }
    for table_id in dropped {
        catalog.drop_table(table_id);
    }
    Ok(())
}

/// Executes DROP TABLE.
pub fn execute_drop_table(ctx: &mut StmtCtx, statement: &ast::Statement) -> Exec<QueryResult> {
    let drop = &drop_table_of(statement);
    let named = [
        (drop.temporary, "TEMPORARY"),
        (drop.purge, "PURGE"),
        (drop.table.is_some(), "ON"),
    ];
    if let Some((_, token)) = named.iter().find(|(present, _)| *present) {
        return Err(syntax_error_at(token).into());
    }
    // RESTRICT is the default behaviour; sqlparser sets at most one of the two.
    debug_assert!(!(drop.cascade && drop.restrict));
    let targets = drop_targets(&ctx.db.catalog, drop)?;
    if targets.is_empty() {
        return Ok(QueryResult::tag("DROP TABLE"));
    }
    // Pending deferred checks (55006) are reported after the dependency error, as in
    // PostgreSQL, where the drop itself finds them.
    let in_use = targets
        .iter()
        .try_for_each(|table_id| check_not_pending(ctx, *table_id, "DROP TABLE"));
    let xid = ctx.xid();
    ctx.db.ddl(xid, |catalog| {
        drop_from_catalog(catalog, &targets, (drop.cascade, in_use))
    })?;
    Ok(QueryResult::tag("DROP TABLE"))
}

/// The parts of TRUNCATE the engine acts on.
struct TruncateOptions {
    restart_identity: bool,
    cascade: bool,
}

/// Names every field of sqlparser's `Truncate` (no `..`), so a field a later sqlparser adds
/// fails to compile until it is judged.
fn check_truncate_clauses(truncate: &ast::Truncate) -> Result<TruncateOptions, PgError> {
    let ast::Truncate {
        table_names: _,
        partitions,
        // The optional TABLE keyword.
        table: _,
        if_exists,
        identity,
        cascade,
        on_cluster,
    } = truncate;
    let named = [
        (*if_exists, "EXISTS"),
        (partitions.is_some(), "PARTITION"),
        (on_cluster.is_some(), "ON"),
    ];
    if let Some((_, token)) = named.iter().find(|(present, _)| *present) {
        return Err(syntax_error_at(token));
    }
    Ok(TruncateOptions {
        restart_identity: *identity == Some(ast::TruncateIdentityOption::Restart),
        cascade: *cascade == Some(ast::CascadeOption::Cascade),
    })
}

/// The tables TRUNCATE names, in order; 3F000 / 42P01 for a missing one.
fn truncate_targets(catalog: &Catalog, truncate: &ast::Truncate) -> Result<Vec<TableId>, PgError> {
    let mut targets = Vec::new();
    for target in &truncate.table_names {
        let ast::TruncateTableTarget {
            name,
            // There is no inheritance: the table alone is the table with its descendants.
            only: _,
            has_asterisk: _,
        } = target;
        check_schema(catalog, &split_name(name)?.0)?;
        let table_id = catalog.resolve(name)?;
        if !targets.contains(&table_id) {
            targets.push(table_id);
        }
    }
    Ok(targets)
}

/// CASCADE: adds every table that references one in the list, until none is missing.
fn add_referencing(catalog: &Catalog, targets: &mut Vec<TableId>) {
    let mut next_index = 0;
    while let Some(parent) = targets.get(next_index).copied() {
        for (child, _) in catalog.referencing(parent) {
            if !targets.contains(&child) {
                targets.push(child);
            }
        }
        next_index += 1;
    }
}

/// PostgreSQL's `heap_truncate_check_FKs`: the first listed table that a table outside the
/// list references, whether or not any row refers to it.
fn check_truncate_references(catalog: &Catalog, targets: &[TableId]) -> Result<(), PgError> {
    for parent in targets {
        let outside = catalog
            .referencing(*parent)
            .into_iter()
            .map(|(child, _)| child)
            .find(|child| !targets.contains(child));
        if let Some(child) = outside {
            let (child, parent) = (&catalog.table(child).name, &catalog.table(*parent).name);
            return Err(PgError::new(
                SqlState::FeatureNotSupported,
                "cannot truncate a table referenced in a foreign key constraint",
            )
            .with_detail(format!("Table \"{child}\" references \"{parent}\"."))
            .with_hint(format!(
                "Truncate table \"{child}\" at the same time, or use TRUNCATE ... CASCADE."
            )));
        }
    }
    Ok(())
}

/// Marks every row the statement sees deleted by its command. Under its ACCESS EXCLUSIVE
/// lock no other transaction has an uncommitted write on the table, so the version it sees
/// is the newest of its chain; the write log undoes the deletes if the transaction rolls
/// back, and its commit removes the rows for every snapshot (`Db::purge_truncated`).
fn delete_all_rows(ctx: &mut StmtCtx, table_id: TableId) {
    let view = ctx.latest_view();
    let stamp = (ctx.xid(), ctx.cid());
    let live: Vec<RowId> = ctx
        .db
        .heap(table_id)
        .chains
        .iter()
        .filter(|(_, chain)| ctx.db.txns.visible_version(chain, &view).is_some())
        .map(|(row_id, _)| *row_id)
        .collect();
    let heap = ctx.db.heap_mut(table_id);
    for row_id in &live {
        let chain = heap.chains.get_mut(row_id).expect("a listed chain exists");
        let newest = chain
            .versions
            .last_mut()
            .expect("a chain always has a version");
        assert!(
            newest.xmax.is_none(),
            "TRUNCATE: a visible row has a newer version or a deleter, so another \
             transaction wrote the table without its lock"
        );
        newest.xmax = Some(stamp);
    }
    for row_id in live {
        ctx.record_write(table_id, row_id, WriteKind::Delete);
    }
}

/// Executes TRUNCATE.
pub fn execute_truncate(ctx: &mut StmtCtx, truncate: &ast::Truncate) -> Exec<QueryResult> {
    let options = check_truncate_clauses(truncate)?;
    let mut targets = truncate_targets(&ctx.db.catalog, truncate)?;
    if options.cascade {
        add_referencing(&ctx.db.catalog, &mut targets);
    }
    for table_id in &targets {
        check_not_pending(ctx, *table_id, "TRUNCATE")?;
    }
    check_truncate_references(&ctx.db.catalog, &targets)?;
    for table_id in &targets {
        // CheckTableForSerializableConflictIn: every SIREAD lock on the table's rows.
        let xid = ctx.xid();
        ctx.db.ssi.conflict_in_table(xid, *table_id)?;
        delete_all_rows(ctx, *table_id);
    }
    let (xid, cid) = (ctx.xid(), ctx.cid());
    let truncated = ctx.db.truncated.entry(xid).or_default();
    truncated.extend(targets.iter().map(|table_id| (*table_id, cid)));
    if options.restart_identity {
        let xid = ctx.xid();
        for table_id in &targets {
            for sequence in ctx.db.catalog.table(*table_id).owned_sequences() {
                ctx.db.restart_sequence(xid, &sequence);
            }
        }
    }
    Ok(QueryResult::tag("TRUNCATE TABLE"))
}

/// The tables DROP TABLE or TRUNCATE takes ACCESS EXCLUSIVE on (see `statement_locks`), as
/// far as the names resolve: the executor reports a missing one.
pub fn lock_targets(catalog: &Catalog, statement: &ast::Statement) -> Vec<TableId> {
    let mut targets = Vec::new();
    match statement {
        ast::Statement::Truncate(truncate) => {
            for target in &truncate.table_names {
                let Ok(table_id) = catalog.resolve(&target.name) else {
                    break;
                };
                if !targets.contains(&table_id) {
                    targets.push(table_id);
                }
            }
            if truncate.cascade == Some(ast::CascadeOption::Cascade) {
                add_referencing(catalog, &mut targets);
            }
        }
        ast::Statement::Drop {
            object_type: ast::ObjectType::Table,
            ..
        } => {
            let drop = drop_table_of(statement);
            for name in drop.names {
                let Ok(table_id) = catalog.resolve(name) else {
                    break;
                };
                let parents = catalog.table(table_id).foreign_keys.iter();
                let mut tables: Vec<TableId> = std::iter::once(table_id)
                    .chain(parents.map(|fk| fk.parent))
                    .collect();
                if drop.cascade {
                    tables.extend(catalog.referencing(table_id).into_iter().map(|(c, _)| c));
                }
                for table in tables {
                    if !targets.contains(&table) {
                        targets.push(table);
                    }
                }
            }
        }
        _ => {}
    }
    targets
}
