//! ON CONFLICT arbiter inference, as PostgreSQL 15's `infer_arbiter_indexes`
//! (<https://www.postgresql.org/docs/15/sql-insert.html#SQL-ON-CONFLICT>): the conflict
//! target `(col, …)`, `((expression), …)` or `(…) WHERE predicate` names every unique index
//! whose key is exactly those columns and expressions (in any order) and, for a partial
//! index, whose predicate the target's WHERE implies; `ON CONSTRAINT name` names a constraint
//! (never a plain CREATE UNIQUE INDEX: 42704); no target (DO NOTHING only) means every unique
//! index. None matching is 42P10.
//!
//! sqlparser 0.63 reads a conflict target as a list of column names only, so before parsing
//! (`encode`, on sqlparser's own tokens, like `lock_syntax`) a target with an expression or
//! a WHERE becomes `ON CONSTRAINT "syncsim:infer:<the target's text>"`, and `arbiters`
//! parses that text back. Implication is decided syntactically: the index predicate must be
//! the target's WHERE or one of its AND-ed terms (both normalized: names case-folded,
//! parentheses dropped). PostgreSQL proves more (`x > 5` implies `x > 3`); a partial index
//! whose predicate this cannot decide is 0A000 naming it, never a wrong 42P10.
//! Not modelled: `COLLATE` and operator classes in the target (0A000).

use std::borrow::Cow;
use std::ops::ControlFlow;

use sqlparser::ast::{self, ConflictTarget, Expr, OnConflict, OnConflictAction};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::catalog::{fold_ident, split_name, Table};
use super::error::{PgError, SqlState};
use super::lock_syntax::{apply_edits, keyword, significant_tokens};

/// The marker prefix of a rewritten conflict target.
const INFER: &str = "syncsim:infer:";

/// `sql` with each ON CONFLICT target sqlparser cannot read (an expression, or a WHERE)
/// rewritten to a marked `ON CONSTRAINT` name (borrowed and unchanged when there is none).
pub fn encode(sql: &str) -> Cow<'_, str> {
    let Some((words, offsets)) = significant_tokens(sql, "CONFLICT") else {
        return Cow::Borrowed(sql);
    };
    let mut edits = Vec::new();
    for (index, token) in words.iter().enumerate() {
        let starts_target = keyword(&token.token) == "CONFLICT"
            && index > 0
            && keyword(&words[index - 1].token) == "ON"
            && words.get(index + 1).map(|next| &next.token) == Some(&Token::LParen);
        if !starts_target {
            continue;
        }
        // The target runs to the DO that follows its parentheses at depth 0.
        // The statement's `;` ends the search (a target without DO stays a parse error).
        let mut depth = 0_i32;
        let mut end = None;
        for (position, word) in words.iter().enumerate().skip(index + 1) {
            match &word.token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::SemiColon if depth == 0 => break,
                _ => {}
            }
            if depth == 0 && keyword(&word.token) == "DO" {
                end = Some(position);
                break;
            }
        }
        let Some(end) = end else {
            continue;
        };
        // `(a, b)`: parentheses around names and commas only, which sqlparser reads.
        let span = &words[index + 1..end];
        let inner = &span[1..span.len().saturating_sub(1).max(1)];
        let plain = span.len() >= 3
            && span.last().map(|token| &token.token) == Some(&Token::RParen)
            && inner
                .iter()
                .enumerate()
                .all(|(position, token)| match position % 2 {
                    0 => matches!(token.token, Token::Word(_)),
                    _ => token.token == Token::Comma,
                });
        if plain {
            continue;
        }
        let start_byte = offsets.byte(words[index + 1].span.start);
        let end_byte = offsets.byte(words[end].span.start);
        let target = sql[start_byte..end_byte].trim_end();
        let quoted = format!("{INFER}{target}").replace('"', "\"\"");
        edits.push((start_byte, end_byte, format!("ON CONSTRAINT \"{quoted}\" ")));
    }
    apply_edits(sql, edits)
}

/// The arbiter indexes (positions in `table.uniques`) of an ON CONFLICT clause.
pub fn arbiters(table: &Table, on_conflict: &OnConflict) -> Result<Vec<usize>, PgError> {
    let target = match &on_conflict.conflict_target {
        None if matches!(on_conflict.action, OnConflictAction::DoUpdate(_)) => {
            return Err(PgError::syntax(
                "ON CONFLICT DO UPDATE requires inference specification or constraint name",
            ))
        }
        None => return Ok((0..table.uniques.len()).collect()),
        Some(ConflictTarget::Columns(columns)) => Target {
            parts: columns
                .iter()
                .map(|c| Expr::Identifier(c.clone()))
                .collect(),
            predicate: None,
        },
        Some(ConflictTarget::OnConstraint(name)) => {
            // The marker is read from the raw identifier: folding would cut it at 63 bytes.
            let raw = match &name.0[..] {
                [ast::ObjectNamePart::Identifier(ident)] => ident.value.strip_prefix(INFER),
                _ => None,
            };
            match raw {
                Some(text) => decode(text)?,
                None => return on_constraint(table, &split_name(name)?.1),
            }
        }
    };
    infer(table, &target)
}

/// A conflict target: its key parts and WHERE.
struct Target {
    parts: Vec<Expr>,
    predicate: Option<Expr>,
}

/// The target text `encode` hid in a name: `(parts) [WHERE predicate]`.
fn decode(text: &str) -> Result<Target, PgError> {
    let unsupported = || PgError::unsupported(format!("ON CONFLICT target {text}"));
    let select = format!("SELECT {}", text.trim());
    let statements =
        Parser::parse_sql(&PostgreSqlDialect {}, &select).map_err(|_| unsupported())?;
    let [ast::Statement::Query(query)] = &statements[..] else {
        return Err(unsupported());
    };
    let ast::SetExpr::Select(parsed) = query.body.as_ref() else {
        return Err(unsupported());
    };
    // `(a, lower(b))` reads as one tuple item; `(a)` as one nested expression.
    let items: Vec<Expr> = match &parsed.projection[..] {
        [ast::SelectItem::UnnamedExpr(Expr::Tuple(items))] => items.clone(),
        [ast::SelectItem::UnnamedExpr(Expr::Nested(item))] => vec![(**item).clone()],
        _ => return Err(unsupported()),
    };
    Ok(Target {
        parts: items,
        predicate: parsed.selection.clone(),
    })
}

/// `ON CONFLICT ON CONSTRAINT name`: a constraint of the table, not a unique index.
fn on_constraint(table: &Table, name: &str) -> Result<Vec<usize>, PgError> {
    let position = table
        .uniques
        .iter()
        .position(|unique| unique.constraint && unique.name == name)
        .ok_or_else(|| {
            PgError::new(
                SqlState::UndefinedObject,
                format!(
                    "constraint \"{name}\" for table \"{}\" does not exist",
                    table.name
                ),
            )
        })?;
    Ok(vec![position])
}

/// The unique indexes whose key is the target's parts and whose predicate (if any) the
/// target's WHERE implies.
fn infer(table: &Table, target: &Target) -> Result<Vec<usize>, PgError> {
    for part in &target.parts {
        if matches!(part, Expr::Collate { .. }) {
            return Err(PgError::unsupported("COLLATE in an ON CONFLICT target"));
        }
        check_columns(table, part)?;
    }
    let mut wanted: Vec<String> = target.parts.iter().map(normalized).collect();
    wanted.sort_unstable();
    let conjuncts = target.predicate.as_ref().map(|predicate| {
        conjuncts(predicate)
            .into_iter()
            .map(normalized)
            .collect::<Vec<_>>()
    });
    let mut matching = Vec::new();
    for (position, unique) in table.uniques.iter().enumerate() {
        let (mut key, predicate): (Vec<String>, Option<&Expr>) = match &unique.computed {
            Some(computed) => (
                computed.parts.iter().map(normalized).collect(),
                computed.predicate.as_ref(),
            ),
            None => (
                unique
                    .columns
                    .iter()
                    .map(|c| table.columns[*c].name.clone())
                    .collect(),
                None,
            ),
        };
        key.sort_unstable();
        if key != wanted {
            continue;
        }
        match (predicate, &conjuncts) {
            (None, _) => matching.push(position),
            (Some(_), None) => {}
            (Some(predicate), Some(terms)) => {
                if terms.contains(&normalized(predicate)) {
                    matching.push(position);
                } else {
                    return Err(PgError::unsupported(format!(
                        "ON CONFLICT ... WHERE that does not name the predicate of partial \
                         index \"{}\" (PostgreSQL may still prove that it implies it)",
                        unique.name
                    )));
                }
            }
        }
    }
    if matching.is_empty() {
        return Err(PgError::new(
            SqlState::InvalidColumnReference,
            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
        ));
    }
    Ok(matching)
}

/// 42703 for a column of the target the table lacks.
fn check_columns(table: &Table, part: &Expr) -> Result<(), PgError> {
    let mut missing = None;
    let _ = ast::visit_expressions(part, |inner| {
        if let Expr::Identifier(ident) = inner {
            let name = fold_ident(ident);
            if table.column_index(&name).is_none() {
                missing = Some(name);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    match missing {
        Some(name) => Err(PgError::undefined_column(&name)),
        None => Ok(()),
    }
}

/// The AND-ed terms of a predicate.
fn conjuncts(predicate: &Expr) -> Vec<&Expr> {
    match predicate {
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => {
            let mut terms = conjuncts(left);
            terms.extend(conjuncts(right));
            terms
        }
        Expr::Nested(inner) => conjuncts(inner),
        other => vec![other],
    }
}

/// An expression's text with names case-folded and outer parentheses dropped, for comparing
/// a target with an index (`LOWER(Slug)` and `(lower(slug))` read the same).
fn normalized(mut expr: &Expr) -> String {
    // Only the outer parentheses go: inner ones group (sqlparser prints `a * (b + 1)` and
    // `(a * b) + 1` from their Nested nodes).
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    let mut expr = expr.clone();
    let _ = ast::visit_expressions_mut(&mut expr, |inner| {
        match inner {
            Expr::Identifier(ident) => *ident = ast::Ident::new(fold_ident(ident)),
            Expr::Function(function) => {
                for part in &mut function.name.0 {
                    if let ast::ObjectNamePart::Identifier(ident) = part {
                        *ident = ast::Ident::new(fold_ident(ident));
                    }
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    expr.to_string()
}
