//! `[NOT] DEFERRABLE` in BEGIN, START TRANSACTION and SET TRANSACTION
//! (<https://www.postgresql.org/docs/15/sql-set-transaction.html>): sqlparser 0.63 parses the
//! isolation level and READ ONLY / READ WRITE but not this mode.
//!
//! As `set_constraints` does, the text is rewritten on sqlparser's own tokens before parsing
//! (strings, quoted names and comments are never touched): a statement whose mode list names
//! DEFERRABLE becomes `SET "syncsim:transaction modes" TO 'begin', 'serializable',
//! 'read_only', 'deferrable'` (a SET of a variable no application uses; `'set'` for SET
//! TRANSACTION), which [`decode`] reads back as the command and its [`TxnModes`].
//! Invariant: only a statement made of one of the three commands and a mode list PostgreSQL
//! accepts (modes separated by commas or blanks) is rewritten; any other text is left for the
//! parser to judge.

use std::borrow::Cow;

use sqlparser::ast::{Expr, Set, Value, ValueWithSpan};
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::lock_syntax::{apply_edits, keyword, significant_tokens, LineOffsets};
use super::txn_modes::TxnModes;
use super::IsolationLevel;

/// The variable name a rewritten statement sets.
const MARKER: &str = "syncsim:transaction modes";

/// Which statement a rewritten one was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeCommand {
    /// BEGIN or START TRANSACTION.
    Begin,
    /// SET TRANSACTION.
    SetTransaction,
}

/// `sql` with each statement that names DEFERRABLE rewritten for sqlparser (borrowed and
/// unchanged when there is none, or the text does not tokenize: the parser reports that).
pub fn encode(sql: &str) -> Cow<'_, str> {
    let Some((tokens, offsets)) = significant_tokens(sql, "DEFERRABLE") else {
        return Cow::Borrowed(sql);
    };
    let mut edits = Vec::new();
    for statement in tokens.split(|token| token.token == Token::SemiColon) {
        edits.extend(statement_edit(statement, &offsets));
    }
    apply_edits(sql, edits)
}

/// The edit (byte range, replacement) that rewrites one statement, if it is one of the
/// three commands with a mode list that names DEFERRABLE.
fn statement_edit(
    tokens: &[TokenWithSpan],
    offsets: &LineOffsets,
) -> Option<(usize, usize, String)> {
    let words: Vec<String> = tokens.iter().map(|token| keyword(&token.token)).collect();
    let (command, modes_from) = match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["BEGIN", "WORK" | "TRANSACTION", ..] => ("begin", 2),
        ["BEGIN", ..] => ("begin", 1),
        ["START", "TRANSACTION", ..] => ("begin", 2),
        ["SET", "TRANSACTION", ..] => ("set", 2),
        _ => return None,
    };
    let modes = mode_words(&tokens[modes_from..], &words[modes_from..])?;
    if !modes.iter().any(|mode| mode.ends_with("deferrable")) {
        return None;
    }
    let start = offsets.byte(tokens.first()?.span.start);
    let end = offsets.byte(tokens.last()?.span.end);
    let values: Vec<String> = std::iter::once(command.to_string())
        .chain(modes)
        .map(|word| format!("'{word}'"))
        .collect();
    Some((
        start,
        end,
        format!("SET \"{MARKER}\" TO {}", values.join(", ")),
    ))
}

/// The modes of a list PostgreSQL's `transaction_mode_list` accepts, as marker words, or
/// `None` when the list is anything else.
fn mode_words(tokens: &[TokenWithSpan], words: &[String]) -> Option<Vec<String>> {
    let mut modes = Vec::new();
    let mut at = 0;
    while at < words.len() {
        let rest: Vec<&str> = words[at..].iter().take(4).map(String::as_str).collect();
        let (mode, length) = match rest[..] {
            ["ISOLATION", "LEVEL", "READ", "UNCOMMITTED", ..] => ("read_uncommitted", 4),
            ["ISOLATION", "LEVEL", "READ", "COMMITTED", ..] => ("read_committed", 4),
            ["ISOLATION", "LEVEL", "REPEATABLE", "READ", ..] => ("repeatable_read", 4),
            ["ISOLATION", "LEVEL", "SERIALIZABLE", ..] => ("serializable", 3),
            ["READ", "ONLY", ..] => ("read_only", 2),
            ["READ", "WRITE", ..] => ("read_write", 2),
            ["NOT", "DEFERRABLE", ..] => ("not_deferrable", 2),
            ["DEFERRABLE", ..] => ("deferrable", 1),
            _ => return None,
        };
        modes.push(mode.to_string());
        at += length;
        // A comma between modes is optional; one at the end is not.
        if tokens
            .get(at)
            .is_some_and(|token| token.token == Token::Comma)
        {
            at += 1;
            if at == words.len() {
                return None;
            }
        }
    }
    Some(modes)
}

/// The command and modes of a rewritten statement, or `None` for any other SET.
pub fn decode(set: &Set) -> Option<(ModeCommand, TxnModes)> {
    let values = super::set_constraints::marker_values(set, MARKER)?;
    let words: Vec<&str> = values
        .iter()
        .map(|value| match value {
            Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(word),
                ..
            }) => Some(word.as_str()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let (command, modes) = words.split_first()?;
    let command = match *command {
        "begin" => ModeCommand::Begin,
        "set" => ModeCommand::SetTransaction,
        _ => return None,
    };
    let mut parsed = TxnModes::default();
    for mode in modes {
        match *mode {
            "read_uncommitted" | "read_committed" => {
                parsed.isolation = Some(IsolationLevel::ReadCommitted)
            }
            "repeatable_read" => parsed.isolation = Some(IsolationLevel::RepeatableRead),
            "serializable" => parsed.isolation = Some(IsolationLevel::Serializable),
            "read_only" => parsed.read_only = Some(true),
            "read_write" => parsed.read_only = Some(false),
            "deferrable" => parsed.deferrable = Some(true),
            "not_deferrable" => parsed.deferrable = Some(false),
            _ => return None,
        }
    }
    Some((command, parsed))
}
