//! The script format: PostgreSQL isolation-spec style text (`src/test/isolation/specs/*.spec`)
//! parsed into a [`Spec`]: setup SQL, named sessions with named steps, and permutations.
//!
//! ```text
//! # comments run to the end of the line
//! setup { CREATE TABLE t (id int PRIMARY KEY); }   # shared setup, run once per permutation
//! session s1
//! setup { BEGIN; }                                 # the session's own setup (optional)
//! step s1a { UPDATE t SET id = 2 WHERE id = 1; }
//! session s2
//! step s2a { SELECT * FROM t FOR UPDATE NOWAIT; }
//! permutation s1a s2a                              # one or more; each is run on a fresh database
//! ```
//!
//! Not supported from the upstream format: `teardown` (every permutation starts from an empty
//! database, so it is accepted and ignored), omitted permutations (upstream then runs all of
//! them; here each must be listed) and step markers such as `s1a(s2a)` and `*`.

use std::fmt;

/// A parsed script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The case name (the file stem).
    pub name: String,
    /// Shared setup blocks, run in order on a separate connection before the sessions open.
    pub setup: Vec<String>,
    /// The sessions, in file order.
    pub sessions: Vec<Session>,
    /// Each permutation lists step names in the order they are issued.
    pub permutations: Vec<Vec<String>>,
}

/// One connection of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Its name.
    pub name: String,
    /// SQL run when the session opens (before any permutation step).
    pub setup: Option<String>,
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
    Block(String),
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, SpecError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(character) = chars.next() {
        match character {
            '\n' => line += 1,
            '#' => {
                while chars.peek().is_some_and(|next| *next != '\n') {
                    chars.next();
                }
            }
            '{' => {
                let start_line = line;
                let mut sql = String::new();
                // Braces inside 'quoted strings' (jsonb literals) or nested pairs stay SQL.
                let mut in_quote = false;
                let mut depth = 0_usize;
                loop {
                    match chars.next() {
                        Some('}') if !in_quote && depth == 0 => break,
                        Some(inner) => {
                            line += usize::from(inner == '\n');
                            match inner {
                                '\'' => in_quote = !in_quote,
                                '{' if !in_quote => depth += 1,
                                '}' if !in_quote => depth -= 1,
                                _ => {}
                            }
                            sql.push(inner);
                        }
                        None => return Err(error(start_line, "unterminated `{` block")),
                    }
                }
                tokens.push((start_line, Token::Block(sql.trim().to_string())));
            }
            '"' => {
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\n') | None => return Err(error(line, "unterminated quoted name")),
                        Some(inner) => word.push(inner),
                    }
                }
                tokens.push((line, Token::Word(word)));
            }
            '}' => return Err(error(line, "`}` without `{`")),
            other if other.is_whitespace() => {}
            other => {
                let mut word = String::from(other);
                while chars
                    .peek()
                    .is_some_and(|next| !next.is_whitespace() && !"{}#\"".contains(*next))
                {
                    word.extend(chars.next());
                }
                tokens.push((line, Token::Word(word)));
            }
        }
    }
    Ok(tokens)
}

fn error(line: usize, message: impl Into<String>) -> SpecError {
    SpecError {
        line,
        message: message.into(),
    }
}

/// Parses a script; `name` becomes [`Spec::name`].
pub fn parse(name: &str, text: &str) -> Result<Spec, SpecError> {
    let tokens = tokenize(text)?;
    let mut spec = Spec {
        name: name.to_string(),
        setup: Vec::new(),
        sessions: Vec::new(),
        permutations: Vec::new(),
    };
    let mut index = 0;
    let mut last_line = 1;
    while let Some((line, token)) = tokens.get(index) {
        last_line = *line;
        index += 1;
        let Token::Word(keyword) = token else {
            return Err(error(
                *line,
                "a `{` block must follow setup, teardown or step",
            ));
        };
        match keyword.as_str() {
            "setup" | "teardown" => {
                let block = block_after(&tokens, &mut index, *line, keyword)?;
                apply_setup(&mut spec, keyword, block, *line)?;
            }
            "session" => {
                let name = word_after(&tokens, &mut index, *line, "session")?;
                spec.sessions.push(Session {
                    name,
                    setup: None,
                    steps: Vec::new(),
                });
            }
            "step" => {
                let name = word_after(&tokens, &mut index, *line, "step")?;
                let sql = block_after(&tokens, &mut index, *line, "step")?;
                let session = spec
                    .sessions
                    .last_mut()
                    .ok_or_else(|| error(*line, format!("step {name} before any session")))?;
                session.steps.push(Step { name, sql });
            }
            "permutation" => {
                let mut steps = Vec::new();
                while let Some((_, Token::Word(word))) = tokens.get(index) {
                    if is_keyword(word) {
                        break;
                    }
                    steps.push(word.clone());
                    index += 1;
                }
                if steps.is_empty() {
                    return Err(error(*line, "empty permutation"));
                }
                spec.permutations.push(steps);
            }
            other => return Err(error(*line, format!("unexpected `{other}`"))),
        }
    }
    validate(&spec, last_line)?;
    Ok(spec)
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "setup" | "teardown" | "session" | "step" | "permutation"
    )
}

fn apply_setup(
    spec: &mut Spec,
    keyword: &str,
    block: String,
    line: usize,
) -> Result<(), SpecError> {
    if keyword == "teardown" {
        return Ok(());
    }
    match spec.sessions.last_mut() {
        None => spec.setup.push(block),
        Some(session) if session.setup.is_none() && session.steps.is_empty() => {
            session.setup = Some(block);
        }
        Some(session) => {
            return Err(error(
                line,
                format!(
                    "session {}: setup must come once, before its steps",
                    session.name
                ),
            ))
        }
    }
    Ok(())
}

fn word_after(
    tokens: &[(usize, Token)],
    index: &mut usize,
    line: usize,
    what: &str,
) -> Result<String, SpecError> {
    match tokens.get(*index) {
        Some((_, Token::Word(word))) if !is_keyword(word) => {
            *index += 1;
            Ok(word.clone())
        }
        _ => Err(error(line, format!("`{what}` needs a name"))),
    }
}

fn block_after(
    tokens: &[(usize, Token)],
    index: &mut usize,
    line: usize,
    what: &str,
) -> Result<String, SpecError> {
    match tokens.get(*index) {
        Some((_, Token::Block(sql))) => {
            *index += 1;
            Ok(sql.clone())
        }
        _ => Err(error(line, format!("`{what}` needs a `{{ SQL }}` block"))),
    }
}

fn validate(spec: &Spec, last_line: usize) -> Result<(), SpecError> {
    let mut names = std::collections::BTreeSet::new();
    for session in &spec.sessions {
        if !names.insert(session.name.clone()) {
            return Err(error(
                last_line,
                format!("duplicate session {}", session.name),
            ));
        }
        for step in &session.steps {
            if !names.insert(step.name.clone()) {
                return Err(error(last_line, format!("duplicate name {}", step.name)));
            }
        }
    }
    if spec.permutations.is_empty() {
        return Err(error(last_line, "no permutation: list at least one"));
    }
    for permutation in &spec.permutations {
        for step in permutation {
            if spec.step_session(step).is_none() {
                return Err(error(
                    last_line,
                    format!("permutation names unknown step {step}"),
                ));
            }
        }
    }
    Ok(())
}

impl Spec {
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

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str =
        "# a comment\nsetup { CREATE TABLE t (id int); }\nteardown { DROP TABLE t; }\n\
        session s1\nsetup { BEGIN; }\nstep s1a { SELECT 1; }\nstep \"s1 b\" { COMMIT; }\n\
        session s2\nstep s2a { SELECT '}{'; }\npermutation s1a s2a \"s1 b\"\npermutation s2a\n";

    #[test]
    fn parses_sessions_steps_and_permutations() {
        let spec = parse("x", SCRIPT).expect("parses");
        assert_eq!(spec.setup, vec!["CREATE TABLE t (id int);".to_string()]);
        assert_eq!(spec.sessions.len(), 2);
        assert_eq!(spec.sessions[0].setup.as_deref(), Some("BEGIN;"));
        assert_eq!(spec.sessions[0].steps[1].name, "s1 b");
        assert_eq!(spec.permutations[0], vec!["s1a", "s2a", "s1 b"]);
        assert_eq!(spec.step_session("s2a"), Some(1));
        assert_eq!(spec.step_sql("s2a"), Some("SELECT '}{';"));
    }

    #[test]
    fn rejects_bad_scripts_with_a_line() {
        let cases = [
            ("step s1 { x }", "before any session"),
            ("session s\nstep a { x }\npermutation b", "unknown step b"),
            ("session s\nstep a { x }", "no permutation"),
            ("session s\nstep a { x", "unterminated"),
            (
                "session s\nstep a { x }\nstep a { y }\npermutation a",
                "duplicate",
            ),
            ("bogus", "unexpected `bogus`"),
            (
                "session s\nstep a\npermutation a",
                "needs a `{ SQL }` block",
            ),
        ];
        for (text, expected) in cases {
            let problem = parse("x", text).expect_err(text).to_string();
            assert!(problem.contains(expected), "{text}: {problem}");
        }
    }
}
