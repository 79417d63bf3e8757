//! `FOR NO KEY UPDATE` and `FOR KEY SHARE` in SQL text. PostgreSQL 15 has four row-lock
//! strengths (<https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE>);
//! sqlparser 0.63's `LockType` has only UPDATE and SHARE and refuses the other two.
//!
//! Chosen over a patched copy of sqlparser kept in the workspace (a fork to maintain for two
//! keywords) and PostgreSQL's own parser through `pg_query` (it needs libclang to build, which
//! a machine with only the Rust toolchain lacks): a rewrite on sqlparser's own tokens, so text
//! inside strings, quoted names, comments and dollar-quoted bodies is never touched. Before
//! parsing, `FOR NO KEY UPDATE` becomes `FOR UPDATE` and `FOR KEY SHARE` becomes `FOR SHARE`,
//! each with a marker (a quoted name no application uses) as the first part of its `OF`
//! name: `FOR KEY SHARE OF t` reads `FOR SHARE OF "syncsim:key share".t`. [`strength`] reads
//! the lock mode and the real `OF` name back from the parsed clause, so the marker never
//! reaches an error message.
//!
//! Not modelled here (refused where the clause is run): several locking clauses, `OF` with
//! several tables (sqlparser reads one name), locking clauses on joins.

use std::borrow::Cow;

use sqlparser::ast::{Ident, LockClause, LockType, ObjectName, ObjectNamePart};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use super::locks::RowLockMode;

/// The `OF` marker of a rewritten `FOR NO KEY UPDATE`.
const NO_KEY_UPDATE: &str = "syncsim:no key update";
/// The `OF` marker of a rewritten `FOR KEY SHARE`.
const KEY_SHARE: &str = "syncsim:key share";

/// `sql` with `FOR NO KEY UPDATE` / `FOR KEY SHARE` rewritten for sqlparser (borrowed and
/// unchanged when it has neither, or does not tokenize: the parser reports that).
pub fn encode(sql: &str) -> Cow<'_, str> {
    let Some((tokens, offsets)) = significant_tokens(sql, "KEY") else {
        return Cow::Borrowed(sql);
    };
    let words: Vec<(String, &TokenWithSpan)> = tokens
        .iter()
        .map(|token| (keyword(&token.token), token))
        .collect();
    // (byte range to replace, replacement), in text order.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for (index, (word, _)) in words.iter().enumerate() {
        if word != "FOR" {
            continue;
        }
        let next = |ahead: usize| words.get(index + ahead).map(|(word, _)| word.as_str());
        let (marker, plain, last) = match (next(1), next(2), next(3)) {
            (Some("NO"), Some("KEY"), Some("UPDATE")) => (NO_KEY_UPDATE, "UPDATE", 3),
            (Some("KEY"), Some("SHARE"), _) => (KEY_SHARE, "SHARE", 2),
            _ => continue,
        };
        let start = offsets.byte(words[index + 1].1.span.start);
        let end = offsets.byte(words[index + last].1.span.end);
        let quoted = format!("\"{marker}\"");
        match next(last + 1) {
            Some("OF") => {
                edits.push((start, end, plain.to_string()));
                // Before the name that follows OF (a missing one stays a parse error).
                let at = words
                    .get(index + last + 2)
                    .map_or(sql.len(), |(_, name)| offsets.byte(name.span.start));
                edits.push((at, at, format!("{quoted}.")));
            }
            _ => edits.push((start, end, format!("{plain} OF {quoted}"))),
        }
    }
    apply_edits(sql, edits)
}

/// `sql` with each (byte range, replacement) applied; the edits are in text order and do
/// not overlap. Borrowed when there is none.
pub(super) fn apply_edits(sql: &str, edits: Vec<(usize, usize, String)>) -> Cow<'_, str> {
    if edits.is_empty() {
        return Cow::Borrowed(sql);
    }
    let mut text = String::with_capacity(sql.len() + 32 * edits.len());
    let mut copied = 0;
    for (start, end, replacement) in edits {
        debug_assert!(
            copied <= start && start <= end,
            "edits in order, not overlapping"
        );
        text.push_str(&sql[copied..start]);
        text.push_str(&replacement);
        copied = end;
    }
    text.push_str(&sql[copied..]);
    Cow::Owned(text)
}

/// The preamble of every token rewriter: the tokens of `sql` without whitespace and its line
/// offsets, when `sql` mentions `word` in any case and tokenizes; `None` otherwise (the text
/// then goes to the parser unchanged, which reports any tokenizer error itself).
pub(super) fn significant_tokens<'a>(
    sql: &'a str,
    word: &str,
) -> Option<(Vec<TokenWithSpan>, LineOffsets<'a>)> {
    if !sql.to_uppercase().contains(word) {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let significant = tokens
        .into_iter()
        .filter(|token| !matches!(token.token, Token::Whitespace(_)))
        .collect();
    Some((significant, LineOffsets::new(sql)))
}

/// A word token in upper case, anything else as an empty string (never a keyword).
pub(super) fn keyword(token: &Token) -> String {
    match token {
        Token::Word(word) if word.quote_style.is_none() => word.value.to_uppercase(),
        _ => String::new(),
    }
}

/// Byte offsets of line starts, to turn the tokenizer's (line, column) into byte offsets.
pub(super) struct LineOffsets<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineOffsets<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(offset, _)| offset + 1));
        LineOffsets { text, starts }
    }

    /// The byte offset of a 1-based (line, column in characters) location.
    pub(super) fn byte(&self, location: Location) -> usize {
        let line_index = usize::try_from(location.line.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(start) = self.starts.get(line_index).copied() else {
            return self.text.len();
        };
        let column = usize::try_from(location.column.saturating_sub(1)).unwrap_or(usize::MAX);
        self.text[start..]
            .char_indices()
            .nth(column)
            .map_or(self.text.len(), |(offset, _)| start + offset)
    }
}

/// The lock mode of a parsed locking clause and its real `OF` name (the marker removed).
pub fn strength(lock: &LockClause) -> (RowLockMode, Option<ObjectName>) {
    let marker = lock.of.as_ref().and_then(|of| match of.0.first() {
        Some(ObjectNamePart::Identifier(Ident {
            value,
            quote_style: Some('"'),
            ..
        })) if value == NO_KEY_UPDATE || value == KEY_SHARE => Some(value.as_str()),
        _ => None,
    });
    let mode = match (lock.lock_type, marker) {
        (LockType::Update, Some(NO_KEY_UPDATE)) => RowLockMode::NoKeyUpdate,
        (LockType::Share, Some(KEY_SHARE)) => RowLockMode::KeyShare,
        (LockType::Update, _) => RowLockMode::Update,
        (LockType::Share, _) => RowLockMode::Share,
    };
    let of = match marker {
        None => lock.of.clone(),
        Some(_) => lock
            .of
            .as_ref()
            .map(|of| ObjectName(of.0[1..].to_vec()))
            .filter(|of| !of.0.is_empty()),
    };
    (mode, of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_the_two_clauses_and_keeps_everything_else() {
        let cases = [
            (
                "SELECT 1 FROM t FOR NO KEY UPDATE",
                "SELECT 1 FROM t FOR UPDATE OF \"syncsim:no key update\"",
            ),
            (
                "select 1 from t for key share nowait",
                "select 1 from t for SHARE OF \"syncsim:key share\" nowait",
            ),
            (
                "SELECT 1 FROM t FOR KEY SHARE OF t SKIP LOCKED",
                "SELECT 1 FROM t FOR SHARE OF \"syncsim:key share\".t SKIP LOCKED",
            ),
            (
                "SELECT 'FOR KEY SHARE' FROM t FOR UPDATE",
                "SELECT 'FOR KEY SHARE' FROM t FOR UPDATE",
            ),
            (
                "SELECT \"key\" FROM t -- FOR KEY SHARE\n",
                "SELECT \"key\" FROM t -- FOR KEY SHARE\n",
            ),
            (
                "SELECT 'é'\n  FROM t\n  FOR\tNO KEY  UPDATE;",
                "SELECT 'é'\n  FROM t\n  FOR\tUPDATE OF \"syncsim:no key update\";",
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(encode(sql), expected, "{sql}");
        }
    }
}
