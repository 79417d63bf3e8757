//! `SET CONSTRAINTS { ALL | name [, ...] } { DEFERRED | IMMEDIATE }`
//! (<https://www.postgresql.org/docs/15/sql-set-constraints.html>): names resolve to DEFERRABLE
//! unique and foreign-key constraints of the schema (`public` when unqualified, the only
//! schema of the search path that holds user constraints); a constraint that is not deferrable
//! is 42809 for DEFERRED (and skipped for IMMEDIATE), an unknown name 42704; IMMEDIATE
//! runs the pending checks of the constraints that are now immediate at the end of the
//! statement. The state lasts until the transaction (or the savepoint it was set after)
//! ends; `deferred.rs` keeps it.
//!
//! sqlparser 0.63 does not parse the statement. As `lock_syntax` does for row-lock strengths,
//! the text is rewritten on sqlparser's own tokens before parsing (strings, quoted names and
//! comments are never touched): `SET CONSTRAINTS a, s.b DEFERRED` becomes
//! `SET "syncsim:set constraints" TO a, s.b, DEFERRED` (and `ALL` the quoted marker
//! `"syncsim:all"`), a SET of a variable no application uses, which [`decode`] reads back.
//! Not modelled: PostgreSQL's WARNING outside a transaction block (warnings are not
//! modelled; the statement does its work, which ends with the implicit transaction, as on
//! PostgreSQL), constraints of schemas other than `public` found through a search path.
//! Invariant: only a statement that starts with the words SET CONSTRAINTS and ends with
//! DEFERRED or IMMEDIATE is rewritten; any other text is left for the parser to judge.

use std::borrow::Cow;

use sqlparser::ast::{Expr, ObjectNamePart, Set};
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::catalog::{fold_ident, TableId};
use super::deferred::{Deferred, Modes};
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::lock_syntax::{keyword, significant_tokens, LineOffsets};
use super::QueryResult;

/// The variable name a rewritten SET CONSTRAINTS sets.
const MARKER: &str = "syncsim:set constraints";
/// What `ALL` becomes.
const ALL: &str = "syncsim:all";

/// `sql` with each SET CONSTRAINTS statement rewritten for sqlparser (borrowed and unchanged
/// when there is none, or the text does not tokenize: the parser reports that).
pub fn encode(sql: &str) -> Cow<'_, str> {
    let Some((tokens, offsets)) = significant_tokens(sql, "CONSTRAINTS") else {
        return Cow::Borrowed(sql);
    };
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut statement: Vec<&TokenWithSpan> = Vec::new();
    let end = TokenWithSpan::wrap(Token::SemiColon);
    for token in tokens.iter().chain(std::iter::once(&end)) {
        if token.token != Token::SemiColon {
            statement.push(token);
            continue;
        }
        edits.extend(statement_edits(&statement, &offsets));
        statement.clear();
    }
    super::lock_syntax::apply_edits(sql, edits)
}

/// The edits (byte range, replacement; in text order) that rewrite one statement's tokens,
/// if it is a SET CONSTRAINTS.
fn statement_edits(
    tokens: &[&TokenWithSpan],
    offsets: &LineOffsets,
) -> Vec<(usize, usize, String)> {
    let words: Vec<String> = tokens.iter().map(|token| keyword(&token.token)).collect();
    let mode_last = matches!(
        words.last().map(String::as_str),
        Some("DEFERRED" | "IMMEDIATE")
    );
    if words.len() < 4 || words[0] != "SET" || words[1] != "CONSTRAINTS" || !mode_last {
        return Vec::new();
    }
    let span = |index: usize| {
        let span = tokens[index].span;
        (offsets.byte(span.start), offsets.byte(span.end))
    };
    let (start, end) = span(1);
    let mut edits = vec![(start, end, format!("\"{MARKER}\" TO"))];
    if words[2] == "ALL" {
        let (start, end) = span(2);
        edits.push((start, end, format!("\"{ALL}\"")));
    }
    let (mode_start, _) = span(words.len() - 1);
    edits.push((mode_start, mode_start, ", ".to_string()));
    edits
}

/// Which constraints a SET CONSTRAINTS names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `ALL`.
    All,
    /// Names as (schema, constraint), folded.
    Named(Vec<(String, String)>),
}

/// A decoded SET CONSTRAINTS: its targets and whether they become deferred.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetConstraints {
    /// What it names.
    pub target: Target,
    /// DEFERRED (true) or IMMEDIATE.
    pub deferred: bool,
}

/// The values of a SET of the quoted variable `marker`, the form a token rewrite gives a
/// statement sqlparser does not parse (here, and in `deferrable_syntax.rs`); `None` for any
/// other SET.
pub(super) fn marker_values<'s>(set: &'s Set, marker: &str) -> Option<&'s [Expr]> {
    let Set::SingleAssignment {
        scope: None,
        hivevar: false,
        variable,
        values,
    } = set
    else {
        return None;
    };
    let [ObjectNamePart::Identifier(name)] = &variable.0[..] else {
        return None;
    };
    (name.value == marker && name.quote_style == Some('"')).then_some(values.as_slice())
}

/// Reads a rewritten SET CONSTRAINTS back; `None` for any other SET.
pub fn decode(set: &Set) -> Option<SetConstraints> {
    let values = marker_values(set, MARKER)?;
    let (mode, names) = values.split_last()?;
    let deferred = match mode {
        Expr::Identifier(word) if word.quote_style.is_none() => {
            match word.value.to_uppercase().as_str() {
                "DEFERRED" => true,
                "IMMEDIATE" => false,
                _ => return None,
            }
        }
        _ => return None,
    };
    let target = match names {
        [Expr::Identifier(all)] if all.value == ALL && all.quote_style == Some('"') => Target::All,
        names => Target::Named(names.iter().map(constraint_name).collect::<Option<_>>()?),
    };
    Some(SetConstraints { target, deferred })
}

fn constraint_name(expr: &Expr) -> Option<(String, String)> {
    match expr {
        Expr::Identifier(name) => Some(("public".to_string(), fold_ident(name))),
        Expr::CompoundIdentifier(parts) => match &parts[..] {
            [schema, name] => Some((fold_ident(schema), fold_ident(name))),
            _ => None,
        },
        _ => None,
    }
}

/// The deferrable constraints a name denotes in its schema (several tables may use one
/// name), each as (table, name); 42704 when there is none. One that is not deferrable is
/// 42809 when `deferred` is asked, else skipped (PostgreSQL's `AfterTriggerSetState`: making
/// a non-deferrable constraint immediate is no error).
fn resolve(
    ctx: &StmtCtx,
    (schema, name): (&str, &str),
    deferred: bool,
) -> Result<Vec<(TableId, String)>, PgError> {
    let mut exists = false;
    let mut found = Vec::new();
    for (table_id, table) in ctx.db.catalog.tables() {
        if table.schema != schema {
            continue;
        }
        let uniques = table
            .uniques
            .iter()
            .filter(|unique| unique.constraint && unique.name == name)
            .map(|unique| unique.deferral);
        let foreign_keys = table
            .foreign_keys
            .iter()
            .filter(|fk| fk.name == name)
            .map(|fk| fk.deferral);
        for deferral in uniques.chain(foreign_keys) {
            exists = true;
            if deferral.is_deferrable() {
                found.push((table_id, name.to_string()));
            } else if deferred {
                return Err(PgError::new(
                    SqlState::WrongObjectType,
                    format!("constraint \"{name}\" is not deferrable"),
                ));
            }
        }
    }
    if !exists {
        return Err(PgError::new(
            SqlState::UndefinedObject,
            format!("constraint \"{name}\" does not exist"),
        ));
    }
    Ok(found)
}

/// Executes a decoded SET CONSTRAINTS: records the new state (under the statement's command
/// id, so a savepoint rollback undoes it). The checks it makes due run at the statement's
/// end, where a failure is its error.
pub fn execute(ctx: &mut StmtCtx, set: &SetConstraints) -> Exec<QueryResult> {
    let mut modes = ctx
        .db
        .deferred
        .get(&ctx.xid())
        .map(Deferred::modes)
        .unwrap_or_default();
    match &set.target {
        Target::All => {
            modes = Modes {
                all: Some(set.deferred),
                named: Default::default(),
            };
        }
        // PostgreSQL's grammar has `ALL` alone: `ALL, name` is its syntax error.
        Target::Named(names) if names.iter().any(|(_, name)| name == ALL) => {
            return Err(PgError::syntax("syntax error at or near \",\"").into());
        }
        Target::Named(names) => {
            for (schema, name) in names {
                for key in resolve(ctx, (schema, name), set.deferred)? {
                    modes.named.insert(key, set.deferred);
                }
            }
        }
    }
    let cid = ctx.cid();
    let state = ctx.db.deferred.entry(ctx.xid()).or_default();
    // A re-run (after an IMMEDIATE check waited) finds its own state already recorded.
    if state.modes.last().is_none_or(|(set_by, _)| *set_by != cid) {
        state.modes.push((cid, modes));
    }
    // IMMEDIATE's checks run at the end of this statement, like every statement's
    // (`dispatch::end_of_statement` runs whatever is due under the new state).
    Ok(QueryResult::tag("SET CONSTRAINTS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_set_constraints_only() {
        let cases = [
            (
                "SET CONSTRAINTS ALL DEFERRED",
                "SET \"syncsim:set constraints\" TO \"syncsim:all\" , DEFERRED",
            ),
            (
                "set constraints a, public.\"B\" immediate; SELECT 'SET CONSTRAINTS x DEFERRED'",
                "set \"syncsim:set constraints\" TO a, public.\"B\" , immediate; \
                 SELECT 'SET CONSTRAINTS x DEFERRED'",
            ),
            ("SET CONSTRAINTS ALL", "SET CONSTRAINTS ALL"),
            (
                "SELECT 1 -- SET CONSTRAINTS ALL DEFERRED",
                "SELECT 1 -- SET CONSTRAINTS ALL DEFERRED",
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(encode(sql), expected, "{sql}");
        }
    }
}
