//! Aggregate functions of grouped SELECTs: `count(*)`, `count`, `sum`, `avg`, `min`, `max`, with
//! `DISTINCT` and `FILTER (WHERE ...)`, their signatures as PostgreSQL 15 resolves them
//! (functions-aggregate.html: `sum(integer)` is bigint, `min`/`max` keep the argument's type
//! and do not exist for boolean, uuid or jsonb) and their running state per group.
//!
//! `sum` and `avg` over integer, bigint, numeric and interval: `sum(bigint)`, `sum(numeric)`
//! and `avg` of a number are numeric (avg divides with numeric_div's scale, so `avg(1, 2)` is
//! `1.5000000000000000`); `avg(interval)` divides the sum by the count as a float8, as
//! `interval_avg` does.
//! Not modelled: the other aggregates (`string_agg`, `array_agg`, `bool_and`, ...),
//! whole-row arguments (`count(t.*)`), ORDER BY inside an aggregate's arguments, WITHIN
//! GROUP. Each is 0A000 naming it.
//! Invariant: an accumulator only ever sees values of the argument's one type; a value of a
//! type the aggregate has no signature for is 42883 before it is added.

use std::ops::ControlFlow;

use sqlparser::ast::{
    self, DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    Query,
};

use super::error::{PgError, SqlState};
use super::functions::function_name;
use super::numeric::Numeric;
use super::operators::arithmetic;
use super::value::{as_numeric, order_for_sort, Value};

/// Aggregates PostgreSQL has that the engine does not compute: refused by name.
const UNSUPPORTED_AGGREGATES: &[&str] = &[
    "string_agg",
    "array_agg",
    "bool_and",
    "bool_or",
    "every",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "bit_and",
    "bit_or",
    "stddev",
    "variance",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AggregateKind {
    Count,
    Sum,
    /// `avg` over integers and numeric (a numeric) or interval.
    Avg,
    Min,
    Max,
}

/// One aggregate call of the query, computed once per group.
#[derive(Clone, Debug)]
pub(super) struct Aggregate {
    pub(super) kind: AggregateKind,
    /// `None` for `count(*)`.
    pub(super) arg: Option<Expr>,
    pub(super) distinct: bool,
    pub(super) filter: Option<Expr>,
    /// The call as written, for messages.
    pub(super) name: String,
}

/// Whether `name` (a call without OVER) is an aggregate PostgreSQL knows.
pub(super) fn is_aggregate_call(function: &Function) -> bool {
    if function.over.is_some() {
        return false;
    }
    let name = function_name(function);
    matches!(name.as_str(), "count" | "sum" | "avg" | "min" | "max")
        || UNSUPPORTED_AGGREGATES.contains(&name.as_str())
}

/// Whether `expr` calls an aggregate outside any subquery (a subquery's aggregates are its own).
pub(super) fn has_aggregate<V: ast::Visit>(node: &V) -> bool {
    visit_outer(node, |expr| match expr {
        Expr::Function(function) if is_aggregate_call(function) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
}

/// Counts the subqueries a visit is inside: their expressions belong to their own query
/// (its aggregates, its columns), never to the one being planned.
struct Outer<F> {
    depth: usize,
    on_expr: F,
}

impl<F: FnMut(&Expr) -> ControlFlow<()>> ast::Visitor for Outer<F> {
    type Break = ();
    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }
    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match self.depth {
            0 => (self.on_expr)(expr),
            _ => ControlFlow::Continue(()),
        }
    }
}

/// Calls `on_expr` on every expression of `node` outside subqueries, pre-order; true when it
/// broke off.
pub(super) fn visit_outer<V: ast::Visit>(
    node: &V,
    on_expr: impl FnMut(&Expr) -> ControlFlow<()>,
) -> bool {
    node.visit(&mut Outer { depth: 0, on_expr }).is_break()
}

/// Calls `rewrite` on every expression of `expr` outside subqueries, pre-order, so a node it
/// replaces is not descended into as it was; stops at the first error.
pub(super) fn rewrite_outer(
    expr: &mut Expr,
    rewrite: impl FnMut(&mut Expr) -> Result<(), PgError>,
) -> Result<(), PgError> {
    struct Rewrite<F> {
        outer: Outer<F>,
        error: Option<PgError>,
    }
    impl<F: FnMut(&mut Expr) -> Result<(), PgError>> ast::VisitorMut for Rewrite<F> {
        type Break = ();
        fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
            self.outer.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
            self.outer.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if self.outer.depth > 0 {
                return ControlFlow::Continue(());
            }
            match (self.outer.on_expr)(expr) {
                Ok(()) => ControlFlow::Continue(()),
                Err(error) => {
                    self.error = Some(error);
                    ControlFlow::Break(())
                }
            }
        }
    }
    let mut visitor = Rewrite {
        outer: Outer {
            depth: 0,
            on_expr: rewrite,
        },
        error: None,
    };
    let _ = ast::VisitMut::visit(expr, &mut visitor);
    visitor.error.map_or(Ok(()), Err)
}

pub(super) fn grouping_error(message: impl Into<String>) -> PgError {
    PgError::new(SqlState::GroupingError, message)
}

/// The aggregate a call computes, or why the engine cannot.
pub(super) fn aggregate_of(function: &Function) -> Result<Aggregate, PgError> {
    let name = function_name(function);
    let kind = match name.as_str() {
        "count" => AggregateKind::Count,
        "sum" => AggregateKind::Sum,
        "min" => AggregateKind::Min,
        "max" => AggregateKind::Max,
        "avg" => AggregateKind::Avg,
        other => return Err(PgError::unsupported(format!("aggregate {other}()"))),
    };
    let Function {
        name: _,
        uses_odbc_syntax,
        parameters,
        args,
        within_group,
        filter,
        null_treatment,
        over: _,
    } = function;
    if *uses_odbc_syntax
        || null_treatment.is_some()
        || !matches!(parameters, FunctionArguments::None)
    {
        return Err(PgError::syntax(format!("syntax error in call of {name}()")));
    }
    if !within_group.is_empty() {
        return Err(PgError::unsupported("aggregate WITHIN GROUP"));
    }
    let FunctionArguments::List(list) = args else {
        return Err(PgError::new(
            SqlState::UndefinedFunction,
            format!("function {name}() does not exist"),
        ));
    };
    if !list.clauses.is_empty() {
        return Err(PgError::unsupported(
            "ORDER BY inside an aggregate's arguments",
        ));
    }
    let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
    let arg = argument(&name, kind, distinct, &list.args)?;
    let nested =
        arg.as_ref().is_some_and(has_aggregate) || filter.as_deref().is_some_and(has_aggregate);
    if nested {
        return Err(grouping_error("aggregate function calls cannot be nested"));
    }
    Ok(Aggregate {
        kind,
        arg,
        distinct,
        filter: filter.as_deref().cloned(),
        name,
    })
}

/// The one argument of an aggregate call; `None` for `count(*)`.
fn argument(
    name: &str,
    kind: AggregateKind,
    distinct: bool,
    args: &[FunctionArg],
) -> Result<Option<Expr>, PgError> {
    match args {
        [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if kind == AggregateKind::Count => {
            if distinct {
                return Err(PgError::syntax("syntax error at or near \"*\""));
            }
            Ok(None)
        }
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] => Ok(Some(arg.clone())),
        [FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(name))] => {
            Err(PgError::unsupported(format!("whole-row argument {name}.*")))
        }
        [] if kind == AggregateKind::Count => Err(PgError::new(
            SqlState::WrongObjectType,
            format!("{name}(*) must be used to call a parameterless aggregate function"),
        )),
        other => Err(PgError::new(
            SqlState::UndefinedFunction,
            format!(
                "function {name} with {} arguments does not exist",
                other.len()
            ),
        )),
    }
}

/// The error PostgreSQL raises for `aggregate(type_name)`, if any.
pub(super) fn signature_error(aggregate: &Aggregate, type_name: String) -> Result<(), PgError> {
    let supported = match aggregate.kind {
        AggregateKind::Count => true,
        AggregateKind::Avg | AggregateKind::Sum => matches!(
            type_name.as_str(),
            "integer" | "bigint" | "numeric" | "interval"
        ),
        AggregateKind::Min | AggregateKind::Max => {
            !matches!(type_name.as_str(), "boolean" | "uuid" | "jsonb")
        }
    };
    if supported {
        return Ok(());
    }
    Err(PgError::new(
        SqlState::UndefinedFunction,
        format!("function {}({type_name}) does not exist", aggregate.name),
    ))
}

/// A running aggregate of one group.
#[derive(Clone, Debug)]
pub(super) struct Accumulator {
    count: i64,
    /// bigint for sum(integer), interval for sum(interval) and avg(interval), numeric for
    /// the rest.
    sum: Option<Value>,
    extreme: Option<Value>,
    /// DISTINCT: the values already counted, sorted.
    seen: Vec<Value>,
}

impl Accumulator {
    pub(super) fn new() -> Self {
        Accumulator {
            count: 0,
            sum: None,
            extreme: None,
            seen: Vec::new(),
        }
    }

    /// Adds one non-NULL argument value (or a row, for `count(*)`).
    pub(super) fn add(
        &mut self,
        aggregate: &Aggregate,
        value: Option<Value>,
    ) -> Result<(), PgError> {
        if let Some(value) = &value {
            signature_error(aggregate, type_name_of(value))?;
            if aggregate.distinct {
                match self.seen.binary_search_by(|seen| {
                    order_for_sort(seen, value).unwrap_or(std::cmp::Ordering::Equal)
                }) {
                    Ok(_) => return Ok(()),
                    Err(position) => self.seen.insert(position, value.clone()),
                }
            }
        }
        self.count += 1;
        let Some(value) = value else {
            return Ok(());
        };
        match aggregate.kind {
            AggregateKind::Count => {}
            AggregateKind::Sum | AggregateKind::Avg => {
                self.sum = Some(match self.sum.take() {
                    None => match (aggregate.kind, value) {
                        (_, value @ Value::Interval(_)) => value,
                        // sum(integer) is a bigint; sum(bigint), sum(numeric) and avg over
                        // either accumulate a numeric (int8_avg_accum, numeric_avg_accum).
                        (AggregateKind::Sum, Value::Int4(number)) => Value::Int8(number.into()),
                        (_, value) => Value::Numeric(as_numeric(&value)),
                    },
                    // bigint + integer is bigint, interval + interval interval: each
                    // overflows with PostgreSQL's message for its state type.
                    Some(total) => arithmetic(&ast::BinaryOperator::Plus, &total, &value)?,
                });
            }
            AggregateKind::Min | AggregateKind::Max => {
                let replace = match &self.extreme {
                    None => true,
                    Some(current) => {
                        let ordering = order_for_sort(&value, current)?;
                        if aggregate.kind == AggregateKind::Min {
                            ordering.is_lt()
                        } else {
                            ordering.is_gt()
                        }
                    }
                };
                if replace {
                    self.extreme = Some(value);
                }
            }
        }
        Ok(())
    }

    pub(super) fn result(&self, kind: AggregateKind) -> Result<Value, PgError> {
        Ok(match kind {
            AggregateKind::Count => Value::Int8(self.count),
            AggregateKind::Sum => self.sum.clone().unwrap_or(Value::Null),
            // interval_avg: the sum divided by the count as a float8.
            AggregateKind::Avg => match &self.sum {
                Some(Value::Interval(total)) => Value::Interval(total.div(self.count as f64)?),
                // numeric_avg: the sum divided by the count with numeric_div's scale.
                Some(Value::Numeric(total)) => {
                    Value::Numeric(total.checked_div(&Numeric::from_i64(self.count))?)
                }
                _ => Value::Null,
            },
            AggregateKind::Min | AggregateKind::Max => self.extreme.clone().unwrap_or(Value::Null),
        })
    }
}

/// PostgreSQL's name of a value's type, as `signature_error` matches it.
fn type_name_of(value: &Value) -> String {
    match value {
        Value::Int4(_) => "integer".into(),
        Value::Int8(_) => "bigint".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Uuid(_) => "uuid".into(),
        Value::Char(_) => "character".into(),
        Value::Jsonb(_) => "jsonb".into(),
        Value::Timestamptz(_) => "timestamp with time zone".into(),
        Value::Interval(_) => "interval".into(),
        Value::Numeric(_) => "numeric".into(),
        Value::Timestamp(_) => "timestamp without time zone".into(),
        Value::Date(_) => "date".into(),
        Value::Text(_) | Value::Null | Value::Void => "text".into(),
    }
}
