//! Grouped SELECTs: GROUP BY, HAVING and the aggregates `count`, `sum`, `min` and `max`
//! (with `DISTINCT` and `FILTER (WHERE ...)`), checked as PostgreSQL's parse analysis checks
//! them (parse_agg.c): an ungrouped column is 42803 unless it is functionally dependent on a
//! grouped primary key, an aggregate in WHERE, JOIN/ON or GROUP BY or inside another
//! aggregate is 42803, `GROUP BY n` names an output column, and a locking clause is 0A000.
//!
//! How: at plan time every column reference is qualified, then each GROUP BY expression and
//! each aggregate call in the output list, HAVING and ORDER BY is replaced by a column of a
//! synthetic binding (`#group.k0`, `#group.a0`); what still names a table column afterwards
//! is ungrouped. Each group is evaluated over that binding followed by its first row.
//!
//! `SELECT DISTINCT` is here too: duplicates of the output are dropped before ORDER BY.
//!
//! Not modelled: aggregates other than count, sum, avg, min and max (`string_agg`,
//! `array_agg`, `bool_and`, ...), ORDER BY inside an aggregate's arguments, grouping sets
//! (ROLLUP, CUBE, `GROUP BY ()`), DISTINCT ON (refused in `select.rs`). Each is 0A000
//! naming it. Without ORDER BY, groups come out in order of first appearance; PostgreSQL's
//! order depends on its plan (hash or sort), so no application may rely on either.
//! Invariant: every output, HAVING and ORDER BY expression of a plan reads only `#group` and
//! the columns of tables whose primary key is grouped (checked in `check_grouped`).

use std::ops::ControlFlow;

use sqlparser::ast::{
    self, Expr, GroupByExpr, Ident, OrderByKind, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind,
};

use super::aggregate::{
    aggregate_of, grouping_error, has_aggregate, is_aggregate_call, rewrite_outer, signature_error,
    visit_outer, Accumulator, Aggregate,
};
use super::catalog::{fold_ident, fold_name, Table};
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::expr::{eval, eval_condition, Binding};
use super::locks::RowLockMode;
use super::select::{Candidate, Source};
use super::select_rows::{without_parentheses, written_position, SortedRow};
use super::value::{order_for_sort, ColumnType, Value};

/// Name of the synthetic binding that carries group keys and aggregate results.
const GROUP_BINDING: &str = "#group";

/// A sort key of a grouped query: an output column or an expression over the group.
#[derive(Clone, Debug)]
enum OrderKey {
    Output(usize),
    Expr(Box<Expr>),
}

/// A grouped SELECT, checked and rewritten at plan time.
#[derive(Debug)]
pub struct GroupPlan {
    /// GROUP BY expressions over the input row (qualified); empty for one group of all rows.
    keys: Vec<Expr>,
    /// Whether GROUP BY was written: without it there is exactly one group, even of no rows.
    has_group_by: bool,
    aggregates: Vec<Aggregate>,
    /// Output expressions over the group scope.
    items: Vec<Expr>,
    having: Option<Expr>,
    order: Vec<OrderKey>,
}

/// Aggregates where PostgreSQL forbids them in a SELECT: WHERE and JOIN/ON (42803).
pub fn check_no_aggregates(select: &Select) -> Result<(), PgError> {
    if has_aggregate(&select.selection) {
        return Err(grouping_error(
            "aggregate functions are not allowed in WHERE",
        ));
    }
    let on_conditions = select.from.iter().flat_map(|from| &from.joins);
    if on_conditions.into_iter().any(has_aggregate) {
        return Err(grouping_error(
            "aggregate functions are not allowed in JOIN conditions",
        ));
    }
    Ok(())
}

/// A locking clause on a grouped SELECT: 0A000, as PostgreSQL's CheckSelectLocking says it
/// (GROUP BY before HAVING before aggregates).
pub fn check_no_locking(select: &Select, mode: Option<RowLockMode>) -> Result<(), PgError> {
    let Some(mode) = mode else {
        return Ok(());
    };
    let clause = match mode {
        RowLockMode::Update => "FOR UPDATE",
        RowLockMode::NoKeyUpdate => "FOR NO KEY UPDATE",
        RowLockMode::Share => "FOR SHARE",
        RowLockMode::KeyShare => "FOR KEY SHARE",
    };
    let reason = if is_distinct(select) {
        "DISTINCT clause"
    } else if !group_by_exprs(select)?.is_empty() {
        "GROUP BY clause"
    } else if select.having.is_some() {
        "HAVING clause"
    } else {
        "aggregate functions"
    };
    Err(PgError::new(
        SqlState::FeatureNotSupported,
        format!("{clause} is not allowed with {reason}"),
    ))
}

fn group_by_exprs(select: &Select) -> Result<&[Expr], PgError> {
    match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                return Err(PgError::unsupported(
                    "GROUP BY modifiers (ROLLUP/CUBE/TOTALS)",
                ));
            }
            if exprs.iter().any(|expr| {
                matches!(
                    expr,
                    Expr::Rollup(_) | Expr::Cube(_) | Expr::GroupingSets(_)
                )
            }) {
                return Err(PgError::unsupported(
                    "grouping sets (ROLLUP, CUBE, GROUPING SETS)",
                ));
            }
            if exprs
                .iter()
                .any(|expr| matches!(expr, Expr::Tuple(items) if items.is_empty()))
            {
                return Err(PgError::unsupported("GROUP BY ()"));
            }
            Ok(exprs)
        }
        GroupByExpr::All(_) => Err(PgError::unsupported("GROUP BY ALL")),
    }
}

fn order_exprs(query: &Query) -> Result<&[ast::OrderByExpr], PgError> {
    match query.order_by.as_ref().map(|order_by| &order_by.kind) {
        None => Ok(&[]),
        Some(OrderByKind::Expressions(exprs)) => Ok(exprs),
        Some(OrderByKind::All(_)) => Err(PgError::unsupported("ORDER BY ALL")),
    }
}

/// The plan of a grouped SELECT, or `None` when the SELECT is not grouped (no GROUP BY, no
/// HAVING, no aggregate in its output list or ORDER BY).
pub fn plan(
    query: &Query,
    select: &Select,
    templates: &[Binding],
    tables: &[Option<&Table>],
) -> Result<Option<GroupPlan>, PgError> {
    let group_by = group_by_exprs(select)?;
    let orders = order_exprs(query)?;
    let grouped = !group_by.is_empty()
        || select.having.is_some()
        || has_aggregate(&select.projection)
        || orders.iter().any(|order| has_aggregate(&order.expr));
    if !grouped {
        return Ok(None);
    }
    let resolver = Resolver { templates };
    let (items, names) = output_items(select, &resolver)?;
    // PostgreSQL transforms the output list, then HAVING, then ORDER BY, then GROUP BY.
    let mut rewriter = Rewriter::default();
    let mut plan = GroupPlan {
        keys: Vec::new(),
        has_group_by: !group_by.is_empty(),
        aggregates: Vec::new(),
        items: Vec::new(),
        having: None,
        order: Vec::new(),
    };
    for item in &items {
        plan.items.push(rewriter.collect_aggregates(item.clone())?);
    }
    if let Some(having) = &select.having {
        plan.having = Some(rewriter.collect_aggregates(resolver.qualify(having.clone())?)?);
    }
    for order_expr in orders {
        plan.order.push(
            match output_reference(&order_expr.expr, &names, items.len())? {
                Some(index) => OrderKey::Output(index),
                None => {
                    let expr = resolver.qualify(order_expr.expr.clone())?;
                    OrderKey::Expr(Box::new(rewriter.collect_aggregates(expr)?))
                }
            },
        );
    }
    for expr in group_by {
        let key = group_key(expr, &items, &names, &resolver)?;
        if has_aggregate(&key) {
            return Err(grouping_error(
                "aggregate functions are not allowed in GROUP BY",
            ));
        }
        plan.keys.push(key);
    }
    plan.aggregates = rewriter.aggregates;
    plan.finish_grouping(templates, tables)?;
    for aggregate in &plan.aggregates {
        check_argument_type(aggregate, templates, tables)?;
    }
    Ok(Some(plan))
}

/// The output list with every `*` expanded and every column reference qualified, and the
/// output names.
fn output_items(select: &Select, resolver: &Resolver) -> Result<(Vec<Expr>, Vec<String>), PgError> {
    let mut items = Vec::new();
    let mut names = Vec::new();
    for item in &select.projection {
        expand_item(item, resolver.templates, &mut items, &mut names)?;
    }
    let items = items
        .into_iter()
        .map(|expr| resolver.qualify(expr))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, names))
}

impl GroupPlan {
    /// Replaces GROUP BY expressions in the output list, HAVING and ORDER BY by their `#group`
    /// columns, then checks that nothing ungrouped is left (42803).
    fn finish_grouping(
        &mut self,
        templates: &[Binding],
        tables: &[Option<&Table>],
    ) -> Result<(), PgError> {
        let dependent = dependent_bindings(&self.keys, templates, tables);
        let keys = &self.keys;
        let finish = |expr: &mut Expr| -> Result<(), PgError> {
            *expr = substitute_keys(
                std::mem::replace(expr, Expr::Value(ast::Value::Null.into())),
                keys,
            );
            check_grouped(expr, &dependent)
        };
        for item in &mut self.items {
            finish(item)?;
        }
        if let Some(having) = &mut self.having {
            finish(having)?;
        }
        for key in &mut self.order {
            if let OrderKey::Expr(expr) = key {
                finish(expr)?;
            }
        }
        Ok(())
    }
}

/// Expands one output item into expressions (a `*` into qualified columns) and names.
fn expand_item(
    item: &SelectItem,
    templates: &[Binding],
    items: &mut Vec<Expr>,
    names: &mut Vec<String>,
) -> Result<(), PgError> {
    let qualifier = match item {
        SelectItem::UnnamedExpr(expr) => {
            items.push(expr.clone());
            names.push(super::project::expr_name(expr));
            return Ok(());
        }
        SelectItem::ExprWithAlias { expr, alias } => {
            items.push(expr.clone());
            names.push(fold_ident(alias));
            return Ok(());
        }
        SelectItem::Wildcard(_) => None,
        SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) => {
            Some(fold_name(name))
        }
        other => return Err(PgError::unsupported(format!("select item {other}"))),
    };
    let chosen: Vec<&Binding> = templates
        .iter()
        .filter(|binding| qualifier.as_ref().is_none_or(|name| binding.name == *name))
        .collect();
    if let (Some(name), true) = (&qualifier, chosen.is_empty()) {
        return Err(PgError::new(
            SqlState::UndefinedTable,
            format!("missing FROM-clause entry for table \"{name}\""),
        ));
    }
    for binding in chosen {
        for column in binding.columns.iter() {
            items.push(qualified(&binding.name, column));
            names.push(column.clone());
        }
    }
    Ok(())
}

fn qualified(binding: &str, column: &str) -> Expr {
    Expr::CompoundIdentifier(vec![Ident::new(binding), Ident::new(column)])
}

/// `ORDER BY name` (an output column's name) or `ORDER BY n`: the output position.
/// PostgreSQL resolves an ORDER BY name against the output list first.
fn output_reference(
    expr: &Expr,
    names: &[String],
    output_count: usize,
) -> Result<Option<usize>, PgError> {
    if let Expr::Identifier(ident) = without_parentheses(expr) {
        return Ok(names.iter().position(|name| *name == fold_ident(ident)));
    }
    let Some(written) = written_position(expr, "ORDER BY")? else {
        return Ok(None);
    };
    match usize::try_from(written)
        .ok()
        .filter(|position| (1..=output_count).contains(position))
    {
        Some(position) => Ok(Some(position - 1)),
        None => Err(PgError::new(
            SqlState::InvalidColumnReference,
            format!("ORDER BY position {written} is not in select list"),
        )),
    }
}

/// PostgreSQL's checks of ORDER BY items against the output list, made before any row is
/// read: a position outside it is 42P10, a constant that is no position 42601, and a name
/// that several different output expressions carry 42702 (`SELECT k, v AS k … ORDER BY k`).
pub fn check_order_by(
    select: &Select,
    query: &Query,
    templates: &[Binding],
    names: &[String],
) -> Result<(), PgError> {
    // The qualified output expressions are computed only for a name that several outputs
    // carry.
    for order in order_exprs(query)? {
        output_reference(&order.expr, names, names.len())?;
        let Expr::Identifier(ident) = without_parentheses(&order.expr) else {
            continue;
        };
        let name = fold_ident(ident);
        if names.iter().filter(|output| **output == name).count() < 2 {
            continue;
        }
        let (items, item_names) = output_items(select, &Resolver { templates })?;
        let mut named = items
            .iter()
            .zip(&item_names)
            .filter(|(_, output)| **output == name)
            .map(|(item, _)| item);
        if let Some(first) = named.next() {
            if named.any(|other| other != first) {
                return Err(PgError::new(
                    SqlState::AmbiguousColumn,
                    format!("ORDER BY \"{name}\" is ambiguous"),
                ));
            }
        }
    }
    Ok(())
}

/// One GROUP BY expression: `n` is the n-th output expression; a bare name that is no input
/// column but an output name is that output's expression (PostgreSQL prefers the input
/// column, the opposite of ORDER BY).
fn group_key(
    expr: &Expr,
    items: &[Expr],
    names: &[String],
    resolver: &Resolver,
) -> Result<Expr, PgError> {
    if let Some(written) = written_position(expr, "GROUP BY")? {
        return match usize::try_from(written)
            .ok()
            .filter(|position| (1..=items.len()).contains(position))
        {
            Some(position) => Ok(items[position - 1].clone()),
            None => Err(PgError::new(
                SqlState::InvalidColumnReference,
                format!("GROUP BY position {written} is not in select list"),
            )),
        };
    }
    if let Expr::Identifier(ident) = expr {
        let name = fold_ident(ident);
        let is_input = resolver
            .templates
            .iter()
            .any(|binding| binding.columns.contains(&name));
        if !is_input {
            if let Some(index) = names.iter().position(|output| *output == name) {
                return Ok(items[index].clone());
            }
        }
    }
    resolver.qualify(expr.clone())
}

/// Qualifies column references with their binding, so `k`, `t.k` and `(k)` compare equal.
struct Resolver<'t> {
    templates: &'t [Binding],
}

impl Resolver<'_> {
    fn qualify(&self, mut expr: Expr) -> Result<Expr, PgError> {
        rewrite_outer(&mut expr, |expr| {
            // `(k)` groups like `k`: drop the parentheses (sqlparser keeps precedence in the
            // tree's shape).
            while let Expr::Nested(inner) = expr {
                *expr = (**inner).clone();
            }
            match expr {
                // `LOWER(x)` and `lower(x)`, `CAST(x AS t)` and `x::t` are the same call.
                Expr::Function(function) => {
                    for part in &mut function.name.0 {
                        if let ast::ObjectNamePart::Identifier(ident) = part {
                            *ident = Ident::new(fold_ident(ident));
                        }
                    }
                }
                Expr::Cast { kind, .. } if *kind == ast::CastKind::DoubleColon => {
                    *kind = ast::CastKind::Cast;
                }
                Expr::Identifier(ident) => *expr = self.resolve(&fold_ident(ident))?,
                Expr::CompoundIdentifier(parts) => {
                    if let [qualifier, column] = &parts[..] {
                        let (qualifier, column) = (fold_ident(qualifier), fold_ident(column));
                        self.check_qualified(&qualifier, &column)?;
                        *expr = qualified(&qualifier, &column);
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(expr)
    }

    fn resolve(&self, column: &str) -> Result<Expr, PgError> {
        let mut found = None;
        for binding in self.templates {
            if binding.column_position(column)?.is_some() {
                if found.is_some() {
                    return Err(super::expr::ambiguous_column(column));
                }
                found = Some(binding);
            }
        }
        match found {
            Some(binding) => Ok(qualified(&binding.name, column)),
            None => Err(super::expr::missing_column(
                column,
                PgError::undefined_column(column),
            )),
        }
    }

    fn check_qualified(&self, qualifier: &str, column: &str) -> Result<(), PgError> {
        let binding = self
            .templates
            .iter()
            .find(|binding| binding.name == qualifier)
            .ok_or_else(|| {
                PgError::new(
                    SqlState::UndefinedTable,
                    format!("missing FROM-clause entry for table \"{qualifier}\""),
                )
            })?;
        if binding.column_position(column)?.is_some() {
            return Ok(());
        }
        Err(super::expr::missing_column(
            column,
            PgError::new(
                SqlState::UndefinedColumn,
                format!("column {qualifier}.{column} does not exist"),
            ),
        ))
    }
}

/// Replaces aggregate calls by `#group.aN` columns, collecting them.
#[derive(Default)]
struct Rewriter {
    aggregates: Vec<Aggregate>,
}

impl Rewriter {
    fn collect_aggregates(&mut self, mut expr: Expr) -> Result<Expr, PgError> {
        rewrite_outer(&mut expr, |expr| {
            if let Expr::Function(function) = expr {
                if is_aggregate_call(function) {
                    *expr = self.column_for(aggregate_of(function)?);
                }
            }
            Ok(())
        })?;
        Ok(expr)
    }

    fn column_for(&mut self, aggregate: Aggregate) -> Expr {
        let index = self
            .aggregates
            .iter()
            .position(|known| {
                known.kind == aggregate.kind
                    && known.arg == aggregate.arg
                    && known.distinct == aggregate.distinct
                    && known.filter == aggregate.filter
            })
            .unwrap_or_else(|| {
                self.aggregates.push(aggregate);
                self.aggregates.len() - 1
            });
        qualified(GROUP_BINDING, &format!("a{index}"))
    }
}

/// Replaces every occurrence of a GROUP BY expression by its `#group.kN` column (outermost
/// first, so `(n + 1) * 2` reads the key `n + 1`).
fn substitute_keys(mut expr: Expr, keys: &[Expr]) -> Expr {
    let substituted = rewrite_outer(&mut expr, |expr| {
        if let Some(index) = keys.iter().position(|key| key == expr) {
            *expr = qualified(GROUP_BINDING, &format!("k{index}"));
        }
        Ok(())
    });
    debug_assert!(substituted.is_ok(), "substitution cannot fail");
    expr
}

/// Bindings whose every column may be read ungrouped: a table whose primary key columns are
/// all GROUP BY keys and is not deferrable (PostgreSQL's functional dependency rule,
/// check_functional_grouping).
fn dependent_bindings(
    keys: &[Expr],
    templates: &[Binding],
    tables: &[Option<&Table>],
) -> Vec<String> {
    templates
        .iter()
        .zip(tables)
        .filter_map(|(binding, table)| {
            let table = (*table)?;
            let primary = table.primary_key.as_ref()?;
            // `get_primary_key_attnos(.., deferrableOk = false)`: a deferrable key may hold
            // duplicates until commit, so it groups nothing.
            let index = table
                .uniques
                .iter()
                .find(|unique| unique.columns == *primary)?;
            if index.deferral != super::catalog::Deferral::NotDeferrable {
                return None;
            }
            primary
                .iter()
                .all(|&column| {
                    let column = qualified(&binding.name, &table.columns[column].name);
                    keys.contains(&column)
                })
                .then(|| binding.name.clone())
        })
        .collect()
}

/// 42803 for a column reference left outside `#group` and the dependent bindings.
fn check_grouped(expr: &Expr, dependent: &[String]) -> Result<(), PgError> {
    let mut ungrouped = None;
    visit_outer(expr, |expr| {
        if let Expr::CompoundIdentifier(parts) = expr {
            if let [qualifier, column] = &parts[..] {
                if qualifier.value != GROUP_BINDING && !dependent.contains(&qualifier.value) {
                    ungrouped = Some(format!("{}.{}", qualifier.value, column.value));
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    });
    match ungrouped {
        Some(column) => Err(grouping_error(format!(
            "column \"{column}\" must appear in the GROUP BY clause or be used in an aggregate \
             function"
        ))),
        None => Ok(()),
    }
}

/// The declared type of an aggregate's argument when it is a plain column.
fn argument_type(
    arg: &Expr,
    templates: &[Binding],
    tables: &[Option<&Table>],
) -> Option<ColumnType> {
    let Expr::CompoundIdentifier(parts) = arg else {
        return None;
    };
    let [qualifier, column] = &parts[..] else {
        return None;
    };
    let position = templates
        .iter()
        .position(|binding| binding.name == qualifier.value)?;
    let table = tables.get(position).copied().flatten()?;
    let column = table.column_index(&column.value)?;
    Some(table.columns[column].column_type)
}

/// PostgreSQL resolves the aggregate's signature at parse time: `max(boolean)` is 42883 even
/// over no rows. Only a plain column's type is known before rows arrive; other arguments are
/// checked on their first value (`Accumulator::add`).
fn check_argument_type(
    aggregate: &Aggregate,
    templates: &[Binding],
    tables: &[Option<&Table>],
) -> Result<(), PgError> {
    let Some(arg) = &aggregate.arg else {
        return Ok(());
    };
    match argument_type(arg, templates, tables) {
        Some(column_type) => signature_error(aggregate, column_type.name()),
        None => Ok(()),
    }
}

/// One group: its key values, a row of it (for functionally dependent columns) and its
/// running aggregates.
struct Group {
    key: Vec<Value>,
    first: Option<Candidate>,
    accumulators: Vec<Accumulator>,
}

/// Compares two key vectors as GROUP BY does: NULLs group together.
fn compare_keys(left: &[Value], right: &[Value]) -> Result<std::cmp::Ordering, PgError> {
    for (a, b) in left.iter().zip(right) {
        let ordering = order_for_sort(a, b)?;
        if ordering.is_ne() {
            return Ok(ordering);
        }
    }
    Ok(std::cmp::Ordering::Equal)
}

impl GroupPlan {
    /// Groups `rows` and returns (sort keys, group scope, output) per group that passes
    /// HAVING, in order of first appearance.
    pub fn run(&self, ctx: &mut StmtCtx, rows: Vec<Candidate>) -> Exec<Vec<SortedRow>> {
        let groups = self.groups(ctx, rows)?;
        let mut output_rows = Vec::new();
        for group in groups {
            let scope = self.scope(&group)?;
            if let Some(having) = &self.having {
                if !eval_condition(ctx, &scope, having, "HAVING")? {
                    continue;
                }
            }
            let mut output = Vec::new();
            for item in &self.items {
                output.push(eval(ctx, &scope, item)?);
            }
            let mut sort_keys = Vec::new();
            for key in &self.order {
                sort_keys.push(match key {
                    OrderKey::Output(index) => output[*index].clone(),
                    OrderKey::Expr(expr) => eval(ctx, &scope, expr)?,
                });
            }
            let candidate = Candidate {
                row_ids: Vec::new(),
                scope,
            };
            output_rows.push((sort_keys, candidate, output));
        }
        Ok(output_rows)
    }

    fn groups(&self, ctx: &mut StmtCtx, rows: Vec<Candidate>) -> Exec<Vec<Group>> {
        let mut groups: Vec<Group> = Vec::new();
        // Group positions sorted by key, for a binary search per row.
        let mut by_key: Vec<usize> = Vec::new();
        if !self.has_group_by {
            groups.push(self.new_group(Vec::new(), None));
            by_key.push(0);
        }
        for row in rows {
            let mut key = Vec::new();
            for expr in &self.keys {
                key.push(eval(ctx, &row.scope, expr)?);
            }
            let index = match search(&by_key, |index| &groups[index].key, &key)? {
                Ok(found) => by_key[found],
                Err(insert_at) => {
                    groups.push(self.new_group(key, None));
                    by_key.insert(insert_at, groups.len() - 1);
                    groups.len() - 1
                }
            };
            self.accumulate(ctx, &mut groups[index], &row)?;
            if groups[index].first.is_none() {
                groups[index].first = Some(row);
            }
        }
        Ok(groups)
    }

    fn new_group(&self, key: Vec<Value>, first: Option<Candidate>) -> Group {
        Group {
            key,
            first,
            accumulators: vec![Accumulator::new(); self.aggregates.len()],
        }
    }

    fn accumulate(&self, ctx: &mut StmtCtx, group: &mut Group, row: &Candidate) -> Exec<()> {
        for (aggregate, accumulator) in self.aggregates.iter().zip(&mut group.accumulators) {
            if let Some(filter) = &aggregate.filter {
                if !eval_condition(ctx, &row.scope, filter, "FILTER")? {
                    continue;
                }
            }
            let value = match &aggregate.arg {
                None => None,
                Some(arg) => match eval(ctx, &row.scope, arg)? {
                    Value::Null => continue,
                    value => Some(value),
                },
            };
            accumulator.add(aggregate, value)?;
        }
        Ok(())
    }

    /// `#group` (keys, then aggregates) followed by the group's first row.
    fn scope(&self, group: &Group) -> Result<Vec<Binding>, PgError> {
        let mut columns: Vec<String> = (0..self.keys.len())
            .map(|index| format!("k{index}"))
            .collect();
        columns.extend((0..self.aggregates.len()).map(|index| format!("a{index}")));
        let mut values = group.key.clone();
        for (aggregate, accumulator) in self.aggregates.iter().zip(&group.accumulators) {
            values.push(accumulator.result(aggregate.kind)?);
        }
        let mut scope = vec![Binding {
            name: GROUP_BINDING.to_string(),
            columns: columns.into(),
            values,
        }];
        if let Some(first) = &group.first {
            scope.extend(first.scope.iter().cloned());
        }
        Ok(scope)
    }
}

/// Binary search of `key` among `items` (positions in key order, `key_of` reading each
/// one's key): `Ok(position)` when found, `Err(insertion point)` otherwise.
fn search<'i>(
    sorted: &[usize],
    key_of: impl Fn(usize) -> &'i [Value],
    key: &[Value],
) -> Result<Result<usize, usize>, PgError> {
    let (mut low, mut high) = (0, sorted.len());
    while low < high {
        let middle = (low + high) / 2;
        match compare_keys(key_of(sorted[middle]), key)? {
            std::cmp::Ordering::Less => low = middle + 1,
            std::cmp::Ordering::Greater => high = middle,
            std::cmp::Ordering::Equal => return Ok(Ok(middle)),
        }
    }
    Ok(Err(low))
}

/// Source tables of `sources` (`None` for a series), parallel to their templates.
pub fn source_tables<'c>(ctx: &'c StmtCtx, sources: &[Source]) -> Vec<Option<&'c Table>> {
    sources
        .iter()
        .map(|source| match source.derived {
            Some(_) => None,
            None => Some(ctx.db.catalog.table(source.table_id)),
        })
        .collect()
}

/// `SELECT DISTINCT` (not `SELECT ALL`, not `DISTINCT ON`, which `select.rs` refuses).
pub fn is_distinct(select: &Select) -> bool {
    matches!(select.distinct, Some(ast::Distinct::Distinct))
}

/// Whether the SELECT is `SELECT DISTINCT`, checking PostgreSQL's rule that each ORDER BY
/// expression is an output column (42P10), since the sort runs over distinct output rows.
pub fn distinct(select: &Select, query: &Query, templates: &[Binding]) -> Result<bool, PgError> {
    if !is_distinct(select) {
        return Ok(false);
    }
    let resolver = Resolver { templates };
    let (items, names) = output_items(select, &resolver)?;
    for order in order_exprs(query)? {
        if output_reference(&order.expr, &names, items.len())?.is_some() {
            continue;
        }
        if !items.contains(&resolver.qualify(order.expr.clone())?) {
            return Err(PgError::new(
                SqlState::InvalidColumnReference,
                "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
            ));
        }
    }
    Ok(true)
}

/// The rows with a distinct output, each kept at its first occurrence (NULLs equal, as
/// DISTINCT compares them).
pub fn without_duplicates(rows: Vec<SortedRow>) -> Result<Vec<SortedRow>, PgError> {
    let mut kept: Vec<SortedRow> = Vec::new();
    // Positions in `kept`, sorted by output, for a binary search per row.
    let mut by_output: Vec<usize> = Vec::new();
    for row in rows {
        if let Err(insert_at) = search(&by_output, |index| &kept[index].2, &row.2)? {
            by_output.insert(insert_at, kept.len());
            kept.push(row);
        }
    }
    Ok(kept)
}
