//! Output lists: SELECT lists and RETURNING clauses, with PostgreSQL's column naming
//! (`id` for a column, `count` for `count(*)`, `?column?` for other expressions).
//!
//! Not modelled: `*` options (EXCLUDE, REPLACE), composite-typed output.
//! Invariant: names and values are produced from the same item list, so they always line up.

use sqlparser::ast::{Expr, SelectItem, SelectItemQualifiedWildcardKind};

use super::catalog::{fold_ident, fold_name};
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::expr::{eval, Binding};
use super::functions::function_name;
use super::types::internal_type_name;

/// The name PostgreSQL gives an unaliased output expression.
pub fn expr_name(expr: &Expr) -> String {
    figure_name(expr).0
}

/// PostgreSQL's `FigureColnameInternal`: a name and its strength. A column or function name
/// (2) survives casts around it; a cast or typed literal names the column after its type in
/// PostgreSQL's spelling (`int4`, `timestamptz`), an outer cast winning over an inner one.
fn figure_name(expr: &Expr) -> (String, u8) {
    match expr {
        Expr::Identifier(ident) => (fold_ident(ident), 2),
        Expr::CompoundIdentifier(parts) => (parts.last().map(fold_ident).unwrap_or_default(), 2),
        Expr::Function(function) => (function_name(function), 2),
        Expr::Nested(inner) => figure_name(inner),
        Expr::Cast {
            expr, data_type, ..
        } => match figure_name(expr) {
            (name, 2) => (name, 2),
            _ => (internal_type_name(data_type), 1),
        },
        Expr::TypedString(typed) => (internal_type_name(&typed.data_type), 1),
        Expr::Interval(_) => ("interval".into(), 1),
        _ => ("?column?".into(), 0),
    }
}

/// Name of the binding that carries system columns (`xmax`); `*` never expands it.
pub const SYSTEM_BINDING: &str = "#system";

fn wildcard_bindings<'s>(
    scope: &'s [Binding],
    qualifier: Option<&str>,
) -> Result<Vec<&'s Binding>, PgError> {
    let chosen: Vec<&Binding> = scope
        .iter()
        .filter(|binding| {
            binding.name != "excluded"
                && binding.name != SYSTEM_BINDING
                && qualifier.is_none_or(|name| binding.name == name)
        })
        .collect();
    if let (Some(name), true) = (qualifier, chosen.is_empty()) {
        return Err(PgError::new(
            SqlState::UndefinedTable,
            format!("missing FROM-clause entry for table \"{name}\""),
        ));
    }
    Ok(chosen)
}

fn qualifier_of(kind: &SelectItemQualifiedWildcardKind) -> Result<String, PgError> {
    match kind {
        SelectItemQualifiedWildcardKind::ObjectName(name) => Ok(fold_name(name)),
        SelectItemQualifiedWildcardKind::Expr(expr) => {
            Err(PgError::unsupported(format!("wildcard on {expr}")))
        }
    }
}

/// Output column names for `items` over bindings shaped like `scope`.
pub fn output_names(items: &[SelectItem], scope: &[Binding]) -> Result<Vec<String>, PgError> {
    let mut names = Vec::new();
    for item in items {
        match item {
            SelectItem::UnnamedExpr(expr) => names.push(expr_name(expr)),
            SelectItem::ExprWithAlias { alias, .. } => names.push(fold_ident(alias)),
            SelectItem::Wildcard(_) => {
                for binding in wildcard_bindings(scope, None)? {
                    names.extend(binding.columns.iter().cloned());
                }
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                let qualifier = qualifier_of(kind)?;
                for binding in wildcard_bindings(scope, Some(&qualifier))? {
                    names.extend(binding.columns.iter().cloned());
                }
            }
            other => return Err(PgError::unsupported(format!("select item {other}"))),
        }
    }
    Ok(names)
}

/// Output values of `items` for one row.
pub fn project(
    ctx: &mut StmtCtx,
    scope: &[Binding],
    items: &[SelectItem],
) -> Exec<Vec<super::Value>> {
    let mut values = Vec::new();
    for item in items {
        match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                values.push(eval(ctx, scope, expr)?)
            }
            SelectItem::Wildcard(_) => {
                for binding in wildcard_bindings(scope, None)? {
                    values.extend(binding.values.iter().cloned());
                }
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                let qualifier = qualifier_of(kind)?;
                for binding in wildcard_bindings(scope, Some(&qualifier))? {
                    values.extend(binding.values.iter().cloned());
                }
            }
            other => return Err(PgError::unsupported(format!("select item {other}")).into()),
        }
    }
    Ok(values)
}
