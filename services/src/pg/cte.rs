//! WITH queries (common table expressions) on a top-level SELECT, INSERT, UPDATE or DELETE,
//! data-modifying ones included, as PostgreSQL 15 runs them
//! (<https://www.postgresql.org/docs/15/queries-with.html>, sections 7.8.1 and 7.8.4):
//!
//! - A WITH query is visible to the WITH queries after it and to the main statement; a
//!   forward reference is a table name like any other (42P01 if no table has it). Two WITH
//!   queries of one name are 42712. A column list renames the first columns (more names
//!   than columns: 42P10).
//! - Every part runs with the statement's snapshot and command id, so no part sees another's
//!   writes ("the sub-statements in WITH are executed concurrently with each other and with
//!   the main query"); a row written by one part and met again by another is skipped by the
//!   second, as PostgreSQL's `TM_SelfModified`.
//! - A read-only WITH query runs when first read, once; one never read never runs (so its
//!   errors never happen). A data-modifying WITH query runs to completion exactly once: when
//!   first read, or, if nothing reads it, after the main statement, the last written first
//!   (PostgreSQL's `ExecPostprocessPlan` runs the unread ones from `es_auxmodifytables`,
//!   built by prepending). Reading one without RETURNING is 0A000 before anything runs.
//! - Foreign-key checks of every part run at the end of the whole statement.
//! - `FOR UPDATE` on the main query does not lock a WITH query's rows (`OF` naming it:
//!   0A000 "FOR UPDATE cannot be applied to a WITH query").
//!
//! Where PostgreSQL's order is up to its plan, the simulation fixes one and refuses the
//! statements whose outcome could depend on it: PostgreSQL runs a read WITH query lazily, as
//! the main plan pulls its rows (so a main query that stops early, or a plan that never
//! scans it, skips some of its work); here it runs whole at its first reference. So a
//! statement in which two parts that run while the main statement runs (the main statement
//! and the WITH queries it reads) write the same table is 0A000 (which of two updates of a
//! row wins is "unpredictable", in PostgreSQL's words), and so is a locking WITH query read
//! under a LIMIT of the main query or inside a subquery (PostgreSQL locks only the rows
//! pulled). The WITH queries nothing reads run after
//! the main statement in PostgreSQL's fixed order, so they may write any table.
//! Not modelled (0A000 naming each): `WITH RECURSIVE`, `NOT MATERIALIZED`, WITH inside a
//! subquery or a WITH query, `MERGE` in WITH, typed column lists.
//! Invariant: a data-modifying WITH query runs at most once per statement run; its progress
//! survives a block and re-run under its own part number (`Progress::enter_part`).

use std::ops::ControlFlow;
use std::sync::Arc;

use sqlparser::ast::{self, Query, SetExpr, Statement, TableFactor, Visit};

use super::catalog::{fold_ident, TableId};
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::select::{Derived, DerivedKind, Source};
use super::{insert, modify, select, QueryResult};

/// The WITH queries of the statement running, and how many are in scope where the executor
/// is now.
#[derive(Debug, Default)]
pub struct WithQueries {
    /// In written order.
    entries: Vec<Entry>,
    /// Entries `0..in_scope` are visible (all of them in the main statement, those before
    /// it inside a WITH query).
    in_scope: usize,
}

#[derive(Debug)]
struct Entry {
    /// The name, case-folded.
    name: String,
    /// Its column list, case-folded (empty: the query's own names).
    columns: Vec<String>,
    query: Arc<Query>,
    /// Its rows, once it ran in this statement run.
    rows: Option<Arc<Derived>>,
}

impl Entry {
    fn writes(&self) -> bool {
        written_table(&self.query).is_some()
    }
}

/// Runs a top-level statement with a WITH clause.
pub fn execute(ctx: &mut StmtCtx, query: &Query) -> Exec<QueryResult> {
    let with = query
        .with
        .as_ref()
        .expect("routed here for its WITH clause");
    let entries = entries(with)?;
    let read = check_references(ctx, &entries, query)?;
    check_writers(ctx, &entries, &read, query)?;
    let main_part = entries.len();
    ctx.with = WithQueries {
        in_scope: entries.len(),
        entries,
    };
    let result = run_main(ctx, main_part, query).and_then(|result| {
        // The data-modifying WITH queries nothing read, the last written first.
        for index in (0..ctx.with.entries.len()).rev() {
            if ctx.with.entries[index].writes() && ctx.with.entries[index].rows.is_none() {
                materialize(ctx, index)?;
            }
        }
        Ok(result)
    });
    ctx.with = WithQueries::default();
    result
}

/// The FROM item `factor` as a WITH query in scope, running it if it has not run yet;
/// `None` when it names no WITH query in scope.
pub fn cte_source(ctx: &mut StmtCtx, factor: &TableFactor) -> Exec<Option<Source>> {
    let TableFactor::Table {
        name, alias, args, ..
    } = factor
    else {
        return Ok(None);
    };
    let Some(index) = in_scope(&ctx.with, name).filter(|_| args.is_none()) else {
        return Ok(None);
    };
    // The other table-factor fields are judged as a table's would be.
    select::check_table_factor(factor)?;
    let derived = materialize(ctx, index)?;
    let entry = &ctx.with.entries[index];
    let (binding_name, columns) = match alias {
        Some(alias) => {
            let written: Vec<String> = alias.columns.iter().map(|c| fold_ident(&c.name)).collect();
            let table = fold_ident(&alias.name);
            let columns = renamed(&derived.columns, &written, || format!("table \"{table}\""))?;
            (table, columns)
        }
        None => (entry.name.clone(), derived.columns.clone()),
    };
    let derived = Derived {
        columns,
        ..(*derived).clone()
    };
    Ok(Some(Source {
        table_id: TableId(usize::MAX),
        binding_name,
        derived: Some(Arc::new(derived)),
    }))
}

/// The entry a relation name refers to: a one-part name matching a WITH query in scope.
fn in_scope(with: &WithQueries, name: &ast::ObjectName) -> Option<usize> {
    let [part] = &name.0[..] else {
        return None;
    };
    let folded = fold_ident(part.as_ident()?);
    with.entries[..with.in_scope]
        .iter()
        .rposition(|entry| entry.name == folded)
}

/// Runs WITH query `index` once (its rows afterwards), with only the queries before it in
/// scope.
fn materialize(ctx: &mut StmtCtx, index: usize) -> Exec<Arc<Derived>> {
    if let Some(rows) = &ctx.with.entries[index].rows {
        return Ok(rows.clone());
    }
    // A re-run after a block reads the rows the first run got: a SKIP LOCKED WITH query
    // could pick other rows now, and the parts reading it count rows done by position.
    if let Some(rows) = ctx.progress.with_rows.get(&index).cloned() {
        ctx.with.entries[index].rows = Some(rows.clone());
        return Ok(rows);
    }
    let query = ctx.with.entries[index].query.clone();
    // The part that reads it (the main statement's INSERT reading its source, say) goes on
    // with its own progress afterwards.
    let (saved_scope, reader) = (ctx.with.in_scope, ctx.progress.current_part);
    ctx.with.in_scope = index;
    let result = run_part(ctx, index, &query);
    ctx.with.in_scope = saved_scope;
    ctx.progress.enter_part(reader);
    let result = result?;
    let entry = &ctx.with.entries[index];
    let name = entry.name.clone();
    let columns = renamed(&result.columns, &entry.columns, || {
        format!("WITH query \"{name}\"")
    })?;
    let rows = Arc::new(Derived {
        kind: DerivedKind::WithQuery,
        columns,
        rows: result.rows,
    });
    ctx.with.entries[index].rows = Some(rows.clone());
    ctx.progress.with_rows.insert(index, rows.clone());
    Ok(rows)
}

/// `columns` with the first ones renamed to `written`; 42P10 when more are written.
fn renamed(
    columns: &[String],
    written: &[String],
    what: impl Fn() -> String,
) -> Result<Vec<String>, PgError> {
    if written.len() > columns.len() {
        return Err(PgError::new(
            SqlState::InvalidColumnReference,
            format!(
                "{} has {} columns available but {} columns specified",
                what(),
                columns.len(),
                written.len()
            ),
        ));
    }
    let mut columns = columns.to_vec();
    columns[..written.len()].clone_from_slice(written);
    Ok(columns)
}

/// Runs one part: a WITH query (`part` is its position) or the main statement.
fn run_part(ctx: &mut StmtCtx, part: usize, query: &Query) -> Exec<QueryResult> {
    match query.body.as_ref() {
        SetExpr::Insert(Statement::Insert(insert)) => {
            ctx.progress.enter_part(part);
            insert::execute_insert(ctx, insert)
        }
        SetExpr::Update(Statement::Update(update)) => {
            ctx.progress.enter_part(part);
            modify::execute_update(ctx, update)
        }
        SetExpr::Delete(Statement::Delete(delete)) => {
            ctx.progress.enter_part(part);
            modify::execute_delete(ctx, delete)
        }
        SetExpr::Merge(_) => Err(PgError::unsupported("MERGE in WITH").into()),
        _ => select::execute_select(ctx, query),
    }
}

/// The main statement: its body, with every WITH query in scope.
fn run_main(ctx: &mut StmtCtx, part: usize, query: &Query) -> Exec<QueryResult> {
    match query.body.as_ref() {
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
            run_part(ctx, part, query)
        }
        _ => select::execute_select_with(ctx, query),
    }
}

/// The entries of a WITH clause, checked: 0A000 for what is not modelled, 42712 for a name
/// written twice.
fn entries(with: &ast::With) -> Result<Vec<Entry>, PgError> {
    if with.recursive {
        return Err(PgError::unsupported("WITH RECURSIVE"));
    }
    let mut entries: Vec<Entry> = Vec::new();
    for cte in &with.cte_tables {
        let name = fold_ident(&cte.alias.name);
        if entries.iter().any(|entry| entry.name == name) {
            return Err(PgError::new(
                SqlState::DuplicateAlias,
                format!("WITH query name \"{name}\" specified more than once"),
            ));
        }
        let refused = [
            (
                cte.materialized == Some(ast::CteAsMaterialized::NotMaterialized),
                "WITH ... AS NOT MATERIALIZED",
            ),
            (cte.from.is_some(), "WITH ... FROM"),
            (
                cte.alias
                    .columns
                    .iter()
                    .any(|column| column.data_type.is_some()),
                "typed column list in WITH",
            ),
            (cte.query.with.is_some(), "WITH inside a WITH query"),
        ];
        PgError::refuse_first("", &refused)?;
        entries.push(Entry {
            name,
            columns: cte
                .alias
                .columns
                .iter()
                .map(|c| fold_ident(&c.name))
                .collect(),
            query: Arc::new((*cte.query).clone()),
            rows: None,
        });
    }
    Ok(entries)
}

/// PostgreSQL's parse-time checks, made before any part runs: each table name resolves
/// (42P01) and no data-modifying WITH query without RETURNING is read (0A000); also 0A000 for
/// a locking WITH query read inside a subquery (PostgreSQL pulls it only as far as the
/// subquery asks, `LIMIT 1` locking one row; here it would run whole). Returns which
/// entries some other part names.
fn check_references(ctx: &StmtCtx, entries: &[Entry], query: &Query) -> Result<Vec<bool>, PgError> {
    let mut read = vec![false; entries.len()];
    // The main statement's body only: its WITH clause is the entries, each checked with the
    // entries before it in scope.
    let mut parts: Vec<(usize, &SetExpr)> = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| (index, entry.query.body.as_ref()))
        .collect();
    parts.push((entries.len(), query.body.as_ref()));
    for (in_scope, part) in parts {
        // An INSERT's source query reads its rows whole: it is no subquery here.
        let depth_allowed = usize::from(matches!(part, SetExpr::Insert(_)));
        let mut references = References {
            ctx,
            entries: &entries[..in_scope],
            read: &mut read,
            depth: 0,
            depth_allowed,
            error: None,
        };
        let _ = part.visit(&mut references);
        if let Some(error) = references.error {
            return Err(error);
        }
    }
    Ok(read)
}

/// Walks one part's table references (function FROM items are not relations).
struct References<'a, 'c> {
    ctx: &'a StmtCtx<'c>,
    entries: &'a [Entry],
    read: &'a mut [bool],
    /// How many queries deep the walk is.
    depth: usize,
    /// The depth at which a reference reads a WITH query whole.
    depth_allowed: usize,
    error: Option<PgError>,
}

impl References<'_, '_> {
    fn check(&mut self, name: &ast::ObjectName) -> Result<(), PgError> {
        let found = self
            .entries
            .iter()
            .rposition(|entry| Some(&entry.name) == one_part(name).as_ref());
        let Some(index) = found else {
            return self.ctx.db.catalog.resolve(name).map(drop);
        };
        let entry = &self.entries[index];
        if entry.writes() && !returns(&entry.query) {
            return Err(PgError::new(
                SqlState::FeatureNotSupported,
                format!(
                    "WITH query \"{}\" does not have a RETURNING clause",
                    entry.name
                ),
            ));
        }
        if !entry.query.locks.is_empty() && self.depth > self.depth_allowed {
            return Err(PgError::unsupported(format!(
                "a locking WITH query (\"{}\") read inside a subquery (PostgreSQL locks only \
                 the rows the subquery pulls)",
                entry.name
            )));
        }
        self.read[index] = true;
        Ok(())
    }
}

impl ast::Visitor for References<'_, '_> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name, args: None, ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        match self.check(name) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                self.error = Some(error);
                ControlFlow::Break(())
            }
        }
    }
}

/// 0A000 where PostgreSQL's outcome would depend on its plan (module doc): a table written by
/// two parts that run while the main statement runs (the main statement and the WITH
/// queries it reads), or a main query with LIMIT reading a locking WITH query. The WITH
/// queries nothing reads run after the main statement in a fixed order, so they may share a
/// table with anything.
fn check_writers(
    ctx: &StmtCtx,
    entries: &[Entry],
    read: &[bool],
    query: &Query,
) -> Result<(), PgError> {
    let mut written: Vec<TableId> = Vec::new();
    let concurrent = entries
        .iter()
        .zip(read)
        .filter(|(_, read)| **read)
        .map(|(entry, _)| entry.query.as_ref())
        .chain(std::iter::once(query));
    for target in concurrent.filter_map(written_table) {
        let Ok(table_id) = ctx.db.catalog.resolve(target) else {
            continue;
        };
        if written.contains(&table_id) {
            return Err(PgError::unsupported(format!(
                "two parts of one statement writing table \"{}\" while it runs (a \
                 data-modifying WITH query it reads, and the main statement or another such \
                 WITH query; PostgreSQL's order between them depends on its plan)",
                ctx.db.catalog.table(table_id).name
            )));
        }
        written.push(table_id);
    }
    // A data-modifying WITH query runs to completion in PostgreSQL whatever the main query
    // pulls; a locking one locks only the rows pulled.
    let locking = entries
        .iter()
        .zip(read)
        .any(|(entry, read)| *read && !entry.query.locks.is_empty());
    if locking && query.limit_clause.is_some() {
        return Err(PgError::unsupported(
            "LIMIT on a statement reading a locking WITH query (PostgreSQL locks only the rows \
             the main query pulls)",
        ));
    }
    Ok(())
}

/// A relation name of one part, folded.
fn one_part(name: &ast::ObjectName) -> Option<String> {
    match &name.0[..] {
        [part] => part.as_ident().map(fold_ident),
        _ => None,
    }
}

/// The table a part writes (INSERT, UPDATE or DELETE target), if it writes.
fn written_table(query: &Query) -> Option<&ast::ObjectName> {
    match query.body.as_ref() {
        SetExpr::Insert(statement) | SetExpr::Update(statement) | SetExpr::Delete(statement) => {
            super::statement_locks::dml_target(statement)
        }
        _ => None,
    }
}

/// Whether a data-modifying part has RETURNING.
fn returns(query: &Query) -> bool {
    match query.body.as_ref() {
        SetExpr::Insert(Statement::Insert(insert)) => insert.returning.is_some(),
        SetExpr::Update(Statement::Update(update)) => update.returning.is_some(),
        SetExpr::Delete(Statement::Delete(delete)) => delete.returning.is_some(),
        _ => true,
    }
}
