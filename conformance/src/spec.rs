//! The script format: PostgreSQL's isolation-spec language (`src/test/isolation/specs/*.spec`,
//! described in `src/test/isolation/README` of PostgreSQL 15), parsed into a [`Spec`]. A spec
//! file from PostgreSQL's repository parses unchanged.
//!
//! ```text
//! # comments run to the end of the line
//! setup { CREATE TABLE t (id int PRIMARY KEY); }   # shared setup blocks, run in order
//! teardown { DROP TABLE t; }                        # shared teardown blocks
//! session s1
//! setup { BEGIN; }                                 # the session's own setup (optional)
//! step s1a { UPDATE t SET id = 2 WHERE id = 1; }
//! teardown { COMMIT; }                             # the session's own teardown (optional)
//! session "s 2"                                    # names may be double-quoted
//! step s2a { SELECT * FROM t FOR UPDATE NOWAIT; }
//! permutation s1a s2a(*) s2a(s1a) s2a(s1a notices 1)   # markers: see [`Blocker`]
//! ```
//!
//! Without any `permutation` line the spec stands for every interleaving of its sessions'
//! steps (each session's steps in their order), as isolationtester runs it; see
//! [`Spec::permutations`]. Differences from isolationtester's grammar, all more lenient:
//! blocks may come in any order, `{ }` blocks may hold braces inside quotes or balanced pairs.

use std::collections::BTreeSet;
use std::fmt;

/// The most permutations a spec without `permutation` lines may expand to: past it the spec
/// is refused (isolationtester would run them all; none of PostgreSQL 15's specs comes near).
pub const PERMUTATIONS_MAX: usize = 10_000;

/// A parsed script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The case name (the file stem).
    pub name: String,
    /// Shared setup blocks, run in order on a separate connection before the sessions open.
    pub setup: Vec<String>,
    /// Shared teardown blocks, run in order on a separate connection after the sessions close.
    pub teardown: Vec<String>,
    /// The sessions, in file order.
    pub sessions: Vec<Session>,
    /// The `permutation` lines; empty means every interleaving ([`Spec::permutations`]).
    pub listed: Vec<Permutation>,
}

/// One connection of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Its name.
    pub name: String,
    /// SQL run when the session opens (before any permutation step).
    pub setup: Option<String>,
    /// SQL run on the session after the permutation's last step.
    pub teardown: Option<String>,
    /// Its steps.
    pub steps: Vec<Step>,
}

/// A named SQL string of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The step name, unique in the script.
    pub name: String,
    /// One or more `;`-separated statements.
    pub sql: String,
}

/// One entry of a permutation: a step and its markers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermutationStep {
    /// The step's name.
    pub step: String,
    /// The markers written after it in parentheses.
    pub blockers: Vec<Blocker>,
}

/// A marker of a permutation step (isolationtester's "blocker"): it delays when the step is
/// reported finished, so that output does not depend on the server's timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// `(*)`: the step is reported as waiting as soon as it is issued, finished or not.
    Once,
    /// `(other)`: the step is not reported finished while `other` is still running.
    Step(String),
    /// `(other notices N)`: not reported finished before `other`'s session got N NOTICEs.
    Notices {
        /// The other step.
        step: String,
        /// NOTICE messages to wait for.
        count: u32,
    },
}

/// A permutation: the steps in the order they are issued.
pub type Permutation = Vec<PermutationStep>;

/// A script that does not parse, with the line it was found on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SpecError {}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    /// A double-quoted name: never a keyword.
    Quoted(String),
    Block(String),
    /// One of `(`, `)`, `,`, `*`.
    Punct(char),
}

const PUNCTUATION: &str = "(),*";

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, SpecError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut line = 1;
    while let Some((offset, character)) = chars.next() {
        match character {
            '\n' => line += 1,
            '#' => {
                while chars.peek().is_some_and(|(_, next)| *next != '\n') {
                    chars.next();
                }
            }
            '{' => {
                let start_line = line;
                let rest = &text[offset + 1..];
                let length = block_length(rest)
                    .ok_or_else(|| error(start_line, "unterminated `{` block"))?;
                let sql = &rest[..length];
                line += sql.matches('\n').count();
                tokens.push((start_line, Token::Block(sql.trim().to_string())));
                // Skip the block and its closing brace.
                while chars
                    .peek()
                    .is_some_and(|(next, _)| *next <= offset + 1 + length)
                {
                    chars.next();
                }
            }
            '"' => {
                let mut word = String::new();
                loop {
                    match chars.next().map(|(_, inner)| inner) {
                        Some('"') => break,
                        Some('\n') | None => return Err(error(line, "unterminated quoted name")),
                        Some(inner) => word.push(inner),
                    }
                }
                tokens.push((line, Token::Quoted(word)));
            }
            '}' => return Err(error(line, "`}` without `{`")),
            other if PUNCTUATION.contains(other) => tokens.push((line, Token::Punct(other))),
            other if other.is_whitespace() => {}
            other => {
                let mut word = String::from(other);
                while chars.peek().is_some_and(|(_, next)| {
                    !next.is_whitespace()
                        && !"{}#\"".contains(*next)
                        && !PUNCTUATION.contains(*next)
                }) {
                    word.extend(chars.next().map(|(_, next)| next));
                }
                tokens.push((line, Token::Word(word)));
            }
        }
    }
    Ok(tokens)
}

/// The length in bytes of a `{ ... }` block's text (after its `{`, before its `}`); `None`
/// when it never closes. isolationtester ends a block at the first `}`; here braces inside
/// SQL strings ('{"a": 1}' jsonb literals), dollar-quoted bodies, `--` comments and balanced
/// pairs stay SQL, which every upstream spec (none has a brace there) reads the same.
fn block_length(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0_usize;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'}' if depth == 0 => return Some(index),
            b'}' => depth -= 1,
            b'{' => depth += 1,
            b'\'' => index += text[index + 1..].find('\'')? + 1,
            b'-' if bytes.get(index + 1) == Some(&b'-') => {
                // To the end of the line (the newline itself is read next).
                index += text[index..].find('\n').map_or(0, |end| end - 1);
            }
            b'$' => {
                if let Some(tag_length) = dollar_tag(&text[index..]) {
                    let tag = &text[index..index + tag_length];
                    let body = &text[index + tag_length..];
                    index += tag_length + body.find(tag)? + tag_length - 1;
                }
            }
            _ => {}
        }
        index += 1;
    }
    None
}

/// The length of a dollar-quote tag (`$$`, `$body$`) at the start of `text`, if one is there.
fn dollar_tag(text: &str) -> Option<usize> {
    let inner = &text[1..];
    let end = inner.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    (inner.as_bytes()[end] == b'$').then_some(end + 2)
}

fn error(line: usize, message: impl Into<String>) -> SpecError {
    SpecError {
        line,
        message: message.into(),
    }
}

/// The tokens of a script with a cursor.
struct Cursor {
    tokens: Vec<(usize, Token)>,
    index: usize,
    line: usize,
}

impl Cursor {
    fn next(&mut self) -> Option<Token> {
        let (line, token) = self.tokens.get(self.index)?.clone();
        self.index += 1;
        self.line = line;
        Some(token)
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.index).map(|(_, token)| token)
    }

    /// A name (a word that is not a keyword, or a quoted name), for `what`.
    fn name(&mut self, what: &str) -> Result<String, SpecError> {
        match self.peek() {
            Some(Token::Word(word)) if !is_keyword(word) => {}
            Some(Token::Quoted(_)) => {}
            _ => return Err(error(self.line, format!("`{what}` needs a name"))),
        }
        match self.next() {
            Some(Token::Word(name) | Token::Quoted(name)) => Ok(name),
            _ => unreachable!("peeked a name"),
        }
    }

    fn block(&mut self, what: &str) -> Result<String, SpecError> {
        match self.peek() {
            Some(Token::Block(_)) => match self.next() {
                Some(Token::Block(sql)) => Ok(sql),
                _ => unreachable!("peeked a block"),
            },
            _ => Err(error(
                self.line,
                format!("`{what}` needs a `{{ SQL }}` block"),
            )),
        }
    }

    fn punct(&mut self, expected: char) -> Result<(), SpecError> {
        match self.next() {
            Some(Token::Punct(found)) if found == expected => Ok(()),
            _ => Err(error(self.line, format!("expected `{expected}`"))),
        }
    }
}

/// Parses a script; `name` becomes [`Spec::name`].
pub fn parse(name: &str, text: &str) -> Result<Spec, SpecError> {
    let mut cursor = Cursor {
        tokens: tokenize(text)?,
        index: 0,
        line: 1,
    };
    let mut spec = Spec {
        name: name.to_string(),
        setup: Vec::new(),
        teardown: Vec::new(),
        sessions: Vec::new(),
        listed: Vec::new(),
    };
    while let Some(token) = cursor.next() {
        let keyword = match token {
            Token::Word(keyword) => keyword,
            Token::Quoted(word) => {
                return Err(error(cursor.line, format!("unexpected \"{word}\"")))
            }
            Token::Punct(punct) => return Err(error(cursor.line, format!("unexpected `{punct}`"))),
            Token::Block(_) => {
                return Err(error(
                    cursor.line,
                    "a `{` block must follow setup, teardown or step",
                ))
            }
        };
        match keyword.as_str() {
            "setup" | "teardown" => {
                let sql = cursor.block(&keyword)?;
                add_block(&mut spec, &keyword, sql, cursor.line)?;
            }
            "session" => {
                let name = cursor.name("session")?;
                spec.sessions.push(Session {
                    name,
                    setup: None,
                    teardown: None,
                    steps: Vec::new(),
                });
            }
            "step" => {
                let name = cursor.name("step")?;
                let sql = cursor.block("step")?;
                let line = cursor.line;
                let session = spec
                    .sessions
                    .last_mut()
                    .ok_or_else(|| error(line, format!("step {name} before any session")))?;
                if session.teardown.is_some() {
                    return Err(error(
                        line,
                        format!("session {}: step {name} after its teardown", session.name),
                    ));
                }
                session.steps.push(Step { name, sql });
            }
            "permutation" => {
                let permutation = permutation(&mut cursor)?;
                spec.listed.push(permutation);
            }
            other => return Err(error(cursor.line, format!("unexpected `{other}`"))),
        }
    }
    validate(&spec, cursor.line)?;
    Ok(spec)
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "setup" | "teardown" | "session" | "step" | "permutation"
    )
}

/// A `setup` or `teardown` block: shared before the first session, the session's own after.
fn add_block(spec: &mut Spec, keyword: &str, sql: String, line: usize) -> Result<(), SpecError> {
    let Some(session) = spec.sessions.last_mut() else {
        match keyword {
            "setup" => spec.setup.push(sql),
            _ => spec.teardown.push(sql),
        }
        return Ok(());
    };
    match keyword {
        "setup" if session.setup.is_none() && session.steps.is_empty() => {
            session.setup = Some(sql);
        }
        "teardown" if session.teardown.is_none() => session.teardown = Some(sql),
        _ => {
            let rule = if keyword == "setup" {
                "before"
            } else {
                "after"
            };
            return Err(error(
                line,
                format!(
                    "session {}: {keyword} must come once, {rule} its steps",
                    session.name
                ),
            ));
        }
    }
    Ok(())
}

/// The steps of a `permutation` line, each with its `( ... )` markers.
fn permutation(cursor: &mut Cursor) -> Result<Permutation, SpecError> {
    let line = cursor.line;
    let mut steps = Vec::new();
    loop {
        match cursor.peek() {
            Some(Token::Word(word)) if !is_keyword(word) => {}
            Some(Token::Quoted(_)) => {}
            _ => break,
        }
        let step = cursor.name("permutation")?;
        let blockers = if cursor.peek() == Some(&Token::Punct('(')) {
            cursor.next();
            blockers(cursor)?
        } else {
            Vec::new()
        };
        steps.push(PermutationStep { step, blockers });
    }
    if steps.is_empty() {
        return Err(error(line, "empty permutation"));
    }
    Ok(steps)
}

/// `*`, `step` or `step notices N`, comma-separated, up to the closing `)`.
fn blockers(cursor: &mut Cursor) -> Result<Vec<Blocker>, SpecError> {
    let mut blockers = Vec::new();
    loop {
        if cursor.peek() == Some(&Token::Punct('*')) {
            cursor.next();
            blockers.push(Blocker::Once);
        } else {
            let step = cursor.name("a step marker")?;
            if cursor.peek() == Some(&Token::Word("notices".to_string())) {
                cursor.next();
                let count = match cursor.next() {
                    Some(Token::Word(count)) => count.parse().ok(),
                    _ => None,
                }
                .ok_or_else(|| error(cursor.line, "`notices` needs a count"))?;
                blockers.push(Blocker::Notices { step, count });
            } else {
                blockers.push(Blocker::Step(step));
            }
        }
        match cursor.peek() {
            Some(Token::Punct(',')) => {
                cursor.next();
            }
            _ => return cursor.punct(')').map(|()| blockers),
        }
    }
}

fn validate(spec: &Spec, last_line: usize) -> Result<(), SpecError> {
    let mut sessions = BTreeSet::new();
    let mut steps = BTreeSet::new();
    for session in &spec.sessions {
        if !sessions.insert(session.name.as_str()) {
            return Err(error(
                last_line,
                format!("duplicate session {}", session.name),
            ));
        }
        for step in &session.steps {
            if !steps.insert(step.name.as_str()) {
                return Err(error(last_line, format!("duplicate step {}", step.name)));
            }
        }
    }
    if spec.sessions.is_empty() {
        return Err(error(last_line, "no session"));
    }
    let known = |name: &str, what: &str| {
        if steps.contains(name) {
            Ok(())
        } else {
            Err(error(
                last_line,
                format!("{what} names unknown step {name}"),
            ))
        }
    };
    for entry in spec.listed.iter().flatten() {
        known(&entry.step, "permutation")?;
        for blocker in &entry.blockers {
            match blocker {
                Blocker::Once => {}
                Blocker::Step(step) | Blocker::Notices { step, .. } => {
                    known(step, "a step marker")?;
                }
            }
        }
    }
    if spec.listed.is_empty() {
        let count = interleaving_count(spec);
        if count.is_none_or(|count| count > PERMUTATIONS_MAX) {
            return Err(error(
                last_line,
                format!(
                    "no permutation listed and every interleaving would be more than \
                     {PERMUTATIONS_MAX} permutations: list the ones to run"
                ),
            ));
        }
    }
    Ok(())
}

/// How many interleavings the sessions' steps have (a multinomial), `None` on overflow.
fn interleaving_count(spec: &Spec) -> Option<usize> {
    let mut count: usize = 1;
    let mut placed: usize = 0;
    for session in &spec.sessions {
        // Choose where this session's steps go among the steps placed so far plus its own.
        for index in 1..=session.steps.len() {
            placed += 1;
            count = count.checked_mul(placed)? / index;
        }
    }
    Some(count)
}

impl Spec {
    /// The permutations to run: the listed ones, or every interleaving of the sessions' steps
    /// in isolationtester's order (depth-first, lower session first).
    pub fn permutations(&self) -> Vec<Permutation> {
        if !self.listed.is_empty() {
            return self.listed.clone();
        }
        let mut all = Vec::new();
        let mut taken = vec![0; self.sessions.len()];
        self.interleave(&mut taken, &mut Vec::new(), &mut all);
        all
    }

    fn interleave(
        &self,
        taken: &mut [usize],
        prefix: &mut Permutation,
        all: &mut Vec<Permutation>,
    ) {
        let mut any = false;
        for (index, session) in self.sessions.iter().enumerate() {
            let Some(step) = session.steps.get(taken[index]) else {
                continue;
            };
            any = true;
            taken[index] += 1;
            prefix.push(PermutationStep {
                step: step.name.clone(),
                blockers: Vec::new(),
            });
            self.interleave(taken, prefix, all);
            prefix.pop();
            taken[index] -= 1;
        }
        if !any {
            all.push(prefix.clone());
        }
    }

    /// The index of the session owning `step`, if any.
    pub fn step_session(&self, step: &str) -> Option<usize> {
        self.sessions
            .iter()
            .position(|session| session.steps.iter().any(|candidate| candidate.name == step))
    }

    /// The SQL of `step`.
    pub fn step_sql(&self, step: &str) -> Option<&str> {
        self.sessions
            .iter()
            .flat_map(|session| &session.steps)
            .find(|candidate| candidate.name == step)
            .map(|candidate| candidate.sql.as_str())
    }
}

/// A permutation as written on a `permutation` line (markers included).
pub fn permutation_text(permutation: &[PermutationStep]) -> String {
    let entries: Vec<String> = permutation
        .iter()
        .map(|entry| {
            if entry.blockers.is_empty() {
                return entry.step.clone();
            }
            let markers: Vec<String> = entry
                .blockers
                .iter()
                .map(|blocker| match blocker {
                    Blocker::Once => "*".to_string(),
                    Blocker::Step(step) => step.clone(),
                    Blocker::Notices { step, count } => format!("{step} notices {count}"),
                })
                .collect();
            format!("{}({})", entry.step, markers.join(", "))
        })
        .collect();
    entries.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "# a comment\nsetup { CREATE TABLE t (id int); }\nsetup { SELECT 1; }\n\
        teardown { DROP TABLE t; }\n\
        session s1\nsetup { BEGIN; }\nstep s1a { SELECT 1; }\nstep \"s1 b\" { COMMIT; }\n\
        teardown { ROLLBACK; }\n\
        session s2\nstep s2a { SELECT '}{'; }\n\
        permutation s1a s2a(*) \"s1 b\"(s2a, s1a notices 2)\npermutation s2a\n";

    #[test]
    fn parses_blocks_sessions_steps_permutations_and_markers() {
        let spec = parse("x", SCRIPT).expect("parses");
        assert_eq!(spec.setup.len(), 2);
        assert_eq!(spec.teardown, vec!["DROP TABLE t;".to_string()]);
        assert_eq!(spec.sessions.len(), 2);
        assert_eq!(spec.sessions[0].setup.as_deref(), Some("BEGIN;"));
        assert_eq!(spec.sessions[0].teardown.as_deref(), Some("ROLLBACK;"));
        assert_eq!(spec.sessions[0].steps[1].name, "s1 b");
        let first = &spec.permutations()[0];
        assert_eq!(first[1].blockers, vec![Blocker::Once]);
        assert_eq!(
            first[2].blockers,
            vec![
                Blocker::Step("s2a".into()),
                Blocker::Notices {
                    step: "s1a".into(),
                    count: 2
                }
            ]
        );
        assert_eq!(
            permutation_text(first),
            "s1a s2a(*) s1 b(s2a, s1a notices 2)"
        );
        assert_eq!(spec.step_session("s2a"), Some(1));
        assert_eq!(spec.step_sql("s2a"), Some("SELECT '}{';"));
    }

    #[test]
    fn sql_strings_dollar_bodies_and_comments_keep_their_braces_and_quotes() {
        let text = "setup {\n  CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n  \
                    BEGIN -- it wasn't '{' here\n  RETURN 1; END;$body$;\n  \
                    SELECT '{\"a\": {}}', 'it''s';\n}\nsession s\nstep a { SELECT $1; }";
        let spec = parse("x", text).expect("parses");
        assert!(
            spec.setup[0].ends_with("SELECT '{\"a\": {}}', 'it''s';"),
            "{:?}",
            spec.setup
        );
        assert!(spec.setup[0].contains("it wasn't '{' here"));
        assert_eq!(spec.step_sql("a"), Some("SELECT $1;"));
    }

    #[test]
    fn without_permutation_lines_every_interleaving_runs_in_isolationtesters_order() {
        let text = "session a\nstep a1 { x }\nstep a2 { x }\nsession b\nstep b1 { x }";
        let spec = parse("x", text).expect("parses");
        let names: Vec<String> = spec
            .permutations()
            .iter()
            .map(|permutation| permutation_text(permutation))
            .collect();
        assert_eq!(names, vec!["a1 a2 b1", "a1 b1 a2", "b1 a1 a2"]);
        assert_eq!(interleaving_count(&spec), Some(3));
    }

    #[test]
    fn counts_interleavings_as_a_multinomial() {
        let session = |steps: usize| Session {
            name: format!("s{steps}"),
            setup: None,
            teardown: None,
            steps: (0..steps)
                .map(|index| Step {
                    name: format!("{steps}_{index}"),
                    sql: String::new(),
                })
                .collect(),
        };
        let spec = Spec {
            name: "x".into(),
            setup: Vec::new(),
            teardown: Vec::new(),
            sessions: vec![session(3), session(3), session(4)],
            listed: Vec::new(),
        };
        // 10! / (3! 3! 4!) = 4200.
        assert_eq!(interleaving_count(&spec), Some(4200));
        assert_eq!(spec.permutations().len(), 4200);
    }

    #[test]
    fn rejects_bad_scripts_with_a_line() {
        let cases = [
            ("step s1 { x }", "before any session"),
            ("session s\nstep a { x }\npermutation b", "unknown step b"),
            (
                "session s\nstep a { x }\npermutation a(b)",
                "unknown step b",
            ),
            ("session s\nstep a { x }\npermutation a(", "needs a name"),
            ("session s\nstep a { x }\npermutation a(*", "expected `)`"),
            (
                "session s\nstep a { x }\npermutation a(a notices)",
                "needs a count",
            ),
            ("session s\nstep a { x", "unterminated"),
            (
                "session s\nstep a { x }\nstep a { y }\npermutation a",
                "duplicate",
            ),
            ("bogus", "unexpected `bogus`"),
            ("setup { x }", "no session"),
            (
                "session s\nstep a\npermutation a",
                "needs a `{ SQL }` block",
            ),
            (
                "session s\nstep a { x }\nteardown { y }\nstep b { z }",
                "after its teardown",
            ),
            (
                "session s\nstep a { x }\nsetup { y }",
                "setup must come once",
            ),
        ];
        for (text, expected) in cases {
            let problem = parse("x", text).expect_err(text).to_string();
            assert!(problem.contains(expected), "{text}: {problem}");
        }
    }

    #[test]
    fn refuses_a_spec_whose_interleavings_explode() {
        let mut text = String::new();
        for session in 0..4 {
            text.push_str(&format!("session s{session}\n"));
            for step in 0..4 {
                text.push_str(&format!("step s{session}_{step} {{ x }}\n"));
            }
        }
        // 16! / (4!)^4 = 63,063,000 interleavings.
        let problem = parse("x", &text).expect_err("too many").to_string();
        assert!(problem.contains("every interleaving"), "{problem}");
    }
}
