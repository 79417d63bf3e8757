//! SELECT: one table, a `generate_series` call, a WITH query (`cte.rs` runs it) or a
//! two-table inner join of them, WHERE, ORDER BY, LIMIT/OFFSET, and FOR UPDATE / NO KEY
//! UPDATE / SHARE / KEY SHARE with NOWAIT or SKIP LOCKED; grouped SELECTs (GROUP BY,
//! HAVING, aggregates) are planned by `group.rs`; also FROM-less SELECTs such as
//! `SELECT pg_advisory_xact_lock(hashtext($1))`.
//!
//! `SELECT DISTINCT` removes duplicate output rows before ORDER BY (`group.rs`).
//!
//! Not modelled: DISTINCT ON, correlated subqueries, WITH in a subquery, UNION, outer joins,
//! several FROM items, window functions, locking with a join. Each is a 0A000 naming the
//! construct.
//! Invariant: rows are locked in output order and locked rows are skipped before LIMIT is
//! applied, as PostgreSQL's LockRows node sits below Limit.

use std::collections::BTreeSet;

use sqlparser::ast::{self, Expr, Query, Select, SetExpr, TableFactor};

use super::catalog::{fold_ident, TableId};
use super::error::PgError;
use super::exec::{Exec, StmtCtx};
use super::expr::{eval_condition, Binding};
use super::group;
use super::point::{point_lookup, range_conjunct, PointLookup};
use super::project::{output_names, project};
use super::select_rows::{limit_values, lock_and_collect, lock_clause, sort_key_values, sort_rows};
use super::serializable;
use super::series::series_source;
use super::storage::RowId;
use super::top_n;
use super::value::Value;
use super::QueryResult;

/// A table in FROM with the name its columns are qualified by.
#[derive(Clone, Debug)]
pub struct Source {
    /// The table (meaningless when `derived` is set).
    pub table_id: TableId,
    /// Alias or table name.
    pub binding_name: String,
    /// A FROM item that is not a table (`generate_series`, a WITH query): its rows.
    pub derived: Option<std::sync::Arc<Derived>>,
}

/// The rows of a FROM item that is not a table, computed once per statement run.
#[derive(Clone, Debug)]
pub struct Derived {
    /// Where the rows come from.
    pub kind: DerivedKind,
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The rows, in order.
    pub rows: Vec<Vec<Value>>,
}

/// Where a `Derived` item's rows come from, as PostgreSQL's messages name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DerivedKind {
    /// A set-returning function (`generate_series`).
    Function,
    /// A WITH query.
    WithQuery,
}

impl DerivedKind {
    /// "a function" / "a WITH query".
    pub fn article_name(self) -> &'static str {
        match self {
            DerivedKind::Function => "a function",
            DerivedKind::WithQuery => "a WITH query",
        }
    }
}

/// A candidate output row: the chain of each source and the bindings.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Chain of each source.
    pub row_ids: Vec<RowId>,
    /// Bindings of each source.
    pub scope: Vec<Binding>,
}

/// A table-name FROM item without what PostgreSQL lacks (table hints, partition lists,
/// time travel): 0A000 naming the item otherwise.
pub fn check_table_factor(factor: &TableFactor) -> Result<(), PgError> {
    match factor {
        // Every field is named: one a later sqlparser adds fails to compile until judged.
        // `args` (a table function) is judged where the item is resolved.
        TableFactor::Table {
            name: _,
            alias: _,
            args: _,
            with_hints,
            version: None,
            with_ordinality: false,
            partitions,
            json_path: None,
            sample: None,
            index_hints,
        } if with_hints.is_empty() && partitions.is_empty() && index_hints.is_empty() => Ok(()),
        TableFactor::Table {
            sample: Some(_), ..
        } => Err(PgError::unsupported(format!(
            "TABLESAMPLE (FROM item {factor})"
        ))),
        _ => Err(PgError::unsupported(format!("FROM item {factor}"))),
    }
}

/// Resolves a FROM item that must be a plain table.
pub fn table_source(ctx: &StmtCtx, factor: &TableFactor) -> Result<Source, PgError> {
    let TableFactor::Table {
        name,
        alias,
        args: None,
        ..
    } = factor
    else {
        return Err(PgError::unsupported(format!("FROM item {factor}")));
    };
    check_table_factor(factor)?;
    if alias
        .as_ref()
        .is_some_and(|alias| !alias.columns.is_empty())
    {
        return Err(PgError::unsupported("column aliases in FROM"));
    }
    let table_id = ctx.db.catalog.resolve(name)?;
    let binding_name = match alias {
        Some(alias) => fold_ident(&alias.name),
        None => ctx.db.catalog.table(table_id).name.clone(),
    };
    Ok(Source {
        table_id,
        binding_name,
        derived: None,
    })
}

/// A FROM item of a SELECT: a WITH query in scope, a table, or `generate_series(...)`.
pub fn from_item(ctx: &mut StmtCtx, factor: &TableFactor) -> Exec<Source> {
    if let Some(source) = super::cte::cte_source(ctx, factor)? {
        return Ok(source);
    }
    let Some((binding_name, series)) = series_source(ctx, factor)? else {
        return Ok(table_source(ctx, factor)?);
    };
    let derived = Derived {
        kind: DerivedKind::Function,
        columns: vec![series.column],
        rows: series.values.into_iter().map(|value| vec![value]).collect(),
    };
    Ok(Source {
        table_id: TableId(usize::MAX),
        binding_name,
        derived: Some(std::sync::Arc::new(derived)),
    })
}

/// The rows of a derived source, as a scan gives them (row ids are positions).
fn derived_rows(source: &Source, derived: &Derived) -> Vec<(RowId, Binding)> {
    let columns: std::sync::Arc<[String]> = derived.columns.clone().into();
    (0_u64..)
        .zip(&derived.rows)
        .map(|(position, values)| {
            let binding = Binding {
                name: source.binding_name.clone(),
                columns: columns.clone(),
                values: values.clone(),
            };
            (RowId(position), binding)
        })
        .collect()
}

/// Every chain of `source` visible to the statement that may satisfy `filter` (all of them
/// unless a key point lookup applies), as (row id, binding): a full scan in physical order
/// (the visible version's slot, as PostgreSQL's sequential scan), a point lookup in row
/// order.
/// A SERIALIZABLE transaction's scan takes SIREAD locks and checks for rw-conflicts
/// (`serializable.rs`), and may fail with 40001.
pub fn scan(
    ctx: &mut StmtCtx,
    source: &Source,
    filter: Option<&Expr>,
) -> Exec<Vec<(RowId, Binding)>> {
    if let Some(derived) = &source.derived {
        return Ok(derived_rows(source, derived));
    }
    let view = ctx.view;
    // Shared by every row's binding: one allocation per scan, not one per row and column.
    let columns: std::sync::Arc<[String]> =
        ctx.db.catalog.table(source.table_id).column_names().into();
    let lookup = point_lookup(ctx, source, filter);
    if ctx.isolation == super::IsolationLevel::Serializable {
        serializable_read(ctx, (source, filter), lookup.as_ref())?;
    }
    let candidates = lookup.map(|lookup| lookup.row_ids);
    let heap = ctx.db.heap(source.table_id);
    let chains: Vec<(&RowId, &super::storage::Chain)> = match &candidates {
        Some(row_ids) => row_ids
            .iter()
            .filter_map(|row_id| heap.chains.get_key_value(row_id))
            .collect(),
        None => heap.chains.iter().collect(),
    };
    let mut rows: Vec<(u64, RowId, Binding)> = chains
        .into_iter()
        .filter_map(|(row_id, chain)| {
            let (_, version) = ctx.db.txns.visible_version(chain, &view)?;
            let binding = Binding {
                name: source.binding_name.clone(),
                columns: columns.clone(),
                values: version.values.clone(),
            };
            Some((version.slot, *row_id, binding))
        })
        .collect();
    if candidates.is_none() {
        rows.sort_by_key(|(slot, _, _)| *slot);
    }
    Ok(rows
        .into_iter()
        .map(|(_, row_id, binding)| (row_id, binding))
        .collect())
}

/// The SSI side of a scan: through the index PostgreSQL would use for the point lookup,
/// else the whole table.
fn serializable_read(
    ctx: &mut StmtCtx,
    (source, filter): (&Source, Option<&Expr>),
    lookup: Option<&PointLookup>,
) -> Exec<()> {
    let table_id = source.table_id;
    let table = ctx.db.catalog.table(table_id);
    let index = lookup.and_then(|lookup| {
        let name = serializable::index_on(table, lookup.column_index)?;
        Some((name, lookup))
    });
    if let Some((name, lookup)) = index {
        let keys = serializable::Keys::Equal(lookup.column_index, &lookup.key);
        let path = serializable::Path::Index(name, keys);
        return serializable::read(ctx, table_id, (&path, ctx.view), Some(&lookup.row_ids));
    }
    let range = filter.and_then(|filter| range_conjunct(table, &source.binding_name, filter));
    let ranged = range
        .and_then(|(column, conjunct)| Some((serializable::index_on(table, column)?, conjunct)));
    let Some((name, conjunct)) = ranged else {
        let path = serializable::Path::Sequential;
        return serializable::read(ctx, table_id, (&path, ctx.view), None);
    };
    let slots = satisfying_slots(ctx, source, conjunct);
    let path = serializable::Path::Index(name, serializable::Keys::Matching(&slots));
    serializable::read(ctx, table_id, (&path, ctx.view), None)
}

/// The heap slots of the versions of `source` that satisfy `conjunct` (one that fails to
/// evaluate counts as satisfying it: the scan then checks more, never less).
fn satisfying_slots(ctx: &mut StmtCtx, source: &Source, conjunct: &Expr) -> BTreeSet<u64> {
    let columns: std::sync::Arc<[String]> =
        ctx.db.catalog.table(source.table_id).column_names().into();
    let versions: Vec<(u64, Vec<Value>)> = ctx
        .db
        .heap(source.table_id)
        .chains
        .values()
        .flat_map(|chain| &chain.versions)
        .map(|version| (version.slot, version.values.clone()))
        .collect();
    let mut slots = BTreeSet::new();
    for (slot, values) in versions {
        let scope = [Binding {
            name: source.binding_name.clone(),
            columns: columns.clone(),
            values,
        }];
        if eval_condition(ctx, &scope, conjunct, "WHERE").unwrap_or(true) {
            slots.insert(slot);
        }
    }
    slots
}

/// The query shapes the engine runs: one SELECT, with ORDER BY, LIMIT/OFFSET and row locks
/// handled by the executor, and a WITH clause where `with_run` says `cte.rs` runs it; every
/// other clause is 0A000 naming it. `Query` and `Select` are destructured field by field
/// (no `..`), so a clause a new sqlparser adds fails to compile until it is judged, and is
/// never ignored.
fn check_query(query: &Query, with_run: bool) -> Result<&Select, PgError> {
    let Query {
        with,
        body,
        order_by: _,
        limit_clause: _,
        fetch,
        locks: _,
        for_clause,
        settings,
        format_clause,
        pipe_operators,
    } = query;
    let refused = [
        (
            with.is_some() && !with_run,
            "WITH in a subquery or INSERT ... SELECT",
        ),
        (fetch.is_some(), "FETCH FIRST"),
        (for_clause.is_some(), "FOR XML/JSON clause"),
        (settings.is_some(), "SETTINGS"),
        (format_clause.is_some(), "FORMAT"),
        (!pipe_operators.is_empty(), "pipe operators"),
    ];
    PgError::refuse_first("", &refused)?;
    let select = match body.as_ref() {
        SetExpr::Select(select) => select,
        SetExpr::SetOperation { op, .. } => {
            return Err(PgError::unsupported(format!("{op} (set operation)")))
        }
        SetExpr::Values(_) => return Err(PgError::unsupported("VALUES as a query")),
        other => return Err(PgError::unsupported(format!("query body {other}"))),
    };
    check_select(select)?;
    Ok(select)
}

fn check_select(select: &Select) -> Result<(), PgError> {
    let Select {
        select_token: _,
        optimizer_hints,
        distinct,
        select_modifiers,
        top,
        top_before_distinct: _,
        projection: _,
        exclude,
        into,
        from: _,
        lateral_views,
        prewhere,
        selection: _,
        connect_by,
        // Checked by `group::plan`, which refuses what it does not compute.
        group_by: _,
        cluster_by,
        distribute_by,
        sort_by,
        having: _,
        named_window,
        qualify,
        window_before_qualify: _,
        value_table_mode,
        flavor,
    } = select;
    let refused = [
        (
            matches!(distinct, Some(ast::Distinct::On(_))),
            "DISTINCT ON",
        ),
        (
            !named_window.is_empty() || qualify.is_some(),
            "WINDOW clause",
        ),
        (into.is_some(), "SELECT INTO"),
        (top.is_some(), "TOP"),
        (!lateral_views.is_empty(), "LATERAL VIEW"),
        (!optimizer_hints.is_empty(), "optimizer hints"),
        (select_modifiers.is_some(), "SELECT modifiers"),
        (exclude.is_some(), "SELECT * EXCLUDE"),
        (prewhere.is_some(), "PREWHERE"),
        (!connect_by.is_empty(), "CONNECT BY"),
        (!cluster_by.is_empty(), "CLUSTER BY"),
        (!distribute_by.is_empty(), "DISTRIBUTE BY"),
        (!sort_by.is_empty(), "SORT BY"),
        (value_table_mode.is_some(), "SELECT AS VALUE/STRUCT"),
        (*flavor != ast::SelectFlavor::Standard, "FROM-first SELECT"),
    ];
    PgError::refuse_first("", &refused)
}

/// The FROM items and the join condition: one item, `a [INNER] JOIN b ON …`, or two items
/// without one (`FROM a, b` and `a CROSS JOIN b`, every pair, as PostgreSQL's cross join).
fn sources(ctx: &mut StmtCtx, select: &Select) -> Exec<(Vec<Source>, Option<Expr>)> {
    match &select.from[..] {
        [] => Ok((Vec::new(), None)),
        [from] => {
            let mut sources = vec![from_item(ctx, &from.relation)?];
            let mut on = None;
            match &from.joins[..] {
                [] => {}
                [join] => {
                    on = match &join.join_operator {
                        ast::JoinOperator::Join(ast::JoinConstraint::On(condition))
                        | ast::JoinOperator::Inner(ast::JoinConstraint::On(condition)) => {
                            Some(condition.clone())
                        }
                        ast::JoinOperator::CrossJoin(ast::JoinConstraint::None) => None,
                        ast::JoinOperator::Join(_) | ast::JoinOperator::Inner(_) => {
                            return Err(PgError::unsupported("JOIN without ON").into())
                        }
                        _ => return Err(PgError::unsupported("outer or cross JOIN").into()),
                    };
                    sources.push(from_item(ctx, &join.relation)?);
                }
                _ => return Err(PgError::unsupported("JOIN of more than two tables").into()),
            }
            check_distinct_names(&sources)?;
            Ok((sources, on))
        }
        [first, second] if first.joins.is_empty() && second.joins.is_empty() => {
            let sources = vec![
                from_item(ctx, &first.relation)?,
                from_item(ctx, &second.relation)?,
            ];
            check_distinct_names(&sources)?;
            Ok((sources, None))
        }
        _ => Err(PgError::unsupported("more than two FROM items, or a list with a JOIN").into()),
    }
}

/// 42712 when two FROM items are known by one name (PostgreSQL: `table name "t" specified
/// more than once`).
fn check_distinct_names(sources: &[Source]) -> Result<(), PgError> {
    if let [first, second] = sources {
        if first.binding_name == second.binding_name {
            return Err(PgError::new(
                super::error::SqlState::DuplicateAlias,
                format!(
                    "table name \"{}\" specified more than once",
                    first.binding_name
                ),
            ));
        }
    }
    Ok(())
}

fn candidates(
    ctx: &mut StmtCtx,
    sources: &[Source],
    on: Option<&Expr>,
    filter: Option<&Expr>,
) -> Exec<Vec<Candidate>> {
    let mut found = Vec::new();
    let Some(first) = sources.first() else {
        // No FROM: one row, kept only if the WHERE clause holds (`SELECT 1 WHERE false`).
        let keep = match filter {
            Some(filter) => eval_condition(ctx, &[], filter, "WHERE")?,
            None => true,
        };
        let row = Candidate {
            row_ids: Vec::new(),
            scope: Vec::new(),
        };
        return Ok(if keep { vec![row] } else { Vec::new() });
    };
    // Point lookups only for a single table: with a join an unqualified column could be
    // ambiguous, and that error must not be skipped.
    let point_filter = if sources.len() == 1 { filter } else { None };
    let outer = scan(ctx, first, point_filter)?;
    let inner = match sources.get(1) {
        Some(second) => Some(scan(ctx, second, None)?),
        None => None,
    };
    for (outer_row, outer_binding) in outer {
        let pairs: Vec<Candidate> = match &inner {
            None => vec![Candidate {
                row_ids: vec![outer_row],
                scope: vec![outer_binding],
            }],
            Some(inner) => inner
                .iter()
                .map(|(inner_row, inner_binding)| Candidate {
                    row_ids: vec![outer_row, *inner_row],
                    scope: vec![outer_binding.clone(), inner_binding.clone()],
                })
                .collect(),
        };
        for candidate in pairs {
            if let Some(on) = on {
                if !eval_condition(ctx, &candidate.scope, on, "JOIN/ON")? {
                    continue;
                }
            }
            if let Some(filter) = filter {
                if !eval_condition(ctx, &candidate.scope, filter, "WHERE")? {
                    continue;
                }
            }
            found.push(candidate);
        }
    }
    Ok(found)
}

/// Executes a SELECT (one with a WITH clause is refused: see `execute_select_with`).
pub fn execute_select(ctx: &mut StmtCtx, query: &Query) -> Exec<QueryResult> {
    check_query(query, false)?;
    execute_select_with(ctx, query)
}

/// Executes the main SELECT of a statement whose WITH queries `cte.rs` runs.
pub fn execute_select_with(ctx: &mut StmtCtx, query: &Query) -> Exec<QueryResult> {
    let select = check_query(query, true)?;
    if let Some((names, rows)) = super::series::select_list_series(ctx, query, select)? {
        return Ok(select_result(names, rows));
    }
    let (sources, on) = sources(ctx, select)?;
    // The target list is resolved before WHERE, GROUP BY and ORDER BY, as transformSelectStmt
    // does, so its errors come first.
    let names = output_names(&select.projection, &templates(ctx, &sources))?;
    group::check_order_by(select, query, &templates(ctx, &sources), &names)?;
    group::check_no_aggregates(select)?;
    let grouping = group::plan(
        query,
        select,
        &templates(ctx, &sources),
        &group::source_tables(ctx, &sources),
    )?;
    let distinct = group::distinct(select, query, &templates(ctx, &sources))?;
    let locking = lock_clause(query, &sources)?;
    if let Some((mode, _)) = locking {
        ctx.check_writable(super::txn_modes::locking_select(mode))?;
    }
    if distinct || grouping.is_some() {
        group::check_no_locking(select, locking.map(|(mode, _)| mode))?;
    }
    if let Some(grouping) = grouping {
        return select_grouped(ctx, query, (&sources, on.as_ref()), &grouping, names);
    }
    // A SERIALIZABLE read takes the general path, whose scan takes SIREAD locks.
    let top_n = match distinct || ctx.isolation == super::IsolationLevel::Serializable {
        true => None,
        false => top_n::select_top_n(ctx, query, select, &sources, locking),
    };
    if let Some(rows) = top_n {
        ctx.db.top_n_served += 1;
        return Ok(select_result(names, rows?));
    }
    let rows = candidates(ctx, &sources, on.as_ref(), select.selection.as_ref())?;
    let mut keyed = Vec::new();
    for candidate in rows {
        let output = project(ctx, &candidate.scope, &select.projection)?;
        let keys = sort_key_values(ctx, query, &names, &candidate, &output)?;
        keyed.push((keys, candidate, output));
    }
    if distinct {
        keyed = group::without_duplicates(keyed)?;
    }
    sort_rows(query, &mut keyed)?;
    let (offset, limit) = limit_values(ctx, query)?;
    let wanted = limit.map(|limit| offset.saturating_add(limit));
    let output_rows = lock_and_collect(ctx, select, &sources, locking, keyed, wanted)?;
    let rows: Vec<Vec<Value>> = output_rows
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    Ok(select_result(names, rows))
}

/// A grouped SELECT: rows, groups, HAVING, ORDER BY, then LIMIT/OFFSET.
fn select_grouped(
    ctx: &mut StmtCtx,
    query: &Query,
    (sources, on): (&[Source], Option<&Expr>),
    grouping: &group::GroupPlan,
    names: Vec<String>,
) -> Exec<QueryResult> {
    let select = check_query(query, true)?;
    let rows = candidates(ctx, sources, on, select.selection.as_ref())?;
    let mut keyed = grouping.run(ctx, rows)?;
    if group::is_distinct(select) {
        keyed = group::without_duplicates(keyed)?;
    }
    sort_rows(query, &mut keyed)?;
    let (offset, limit) = limit_values(ctx, query)?;
    let rows = keyed
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .map(|(_, _, output)| output)
        .collect();
    Ok(select_result(names, rows))
}

/// An empty binding per source: what output names are resolved against.
fn templates(ctx: &StmtCtx, sources: &[Source]) -> Vec<Binding> {
    sources
        .iter()
        .map(|source| item_template(ctx, source))
        .collect()
}

/// An empty binding of one source.
pub fn item_template(ctx: &StmtCtx, source: &Source) -> Binding {
    Binding {
        name: source.binding_name.clone(),
        columns: match &source.derived {
            Some(derived) => derived.columns.clone().into(),
            None => ctx.db.catalog.table(source.table_id).column_names().into(),
        },
        values: Vec::new(),
    }
}

fn select_result(names: Vec<String>, rows: Vec<Vec<Value>>) -> QueryResult {
    let count = rows.len() as u64;
    QueryResult {
        command_tag: format!("SELECT {count}"),
        columns: names,
        rows,
        rows_affected: count,
    }
}
