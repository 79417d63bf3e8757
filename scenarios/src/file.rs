//! Scenario files: one scenario per TOML (or JSON) file, read at run time, so a user tries a
//! new fault plan, workload or property selection on a catalog model without a rebuild.
//!
//! A file holds a `ScenarioSpec` as data (the same fields a replay file's `scenario` has);
//! unknown fields are refused. Every error names the file, the field (its path, as
//! `faults.timed[2].at`) and, for a syntax or type error, the line and column: a model's
//! config (`[model.config]`) is read as the model's type after the file, so its errors are
//! placed by their path in the text (TOML; a JSON file's config errors name the path only).
//! The committed catalog is such files (`scenarios/catalog/`), embedded at build time. A file
//! names its model by its registered name (`registry`). Not here: models themselves (a model
//! is code).

use std::path::{Path, PathBuf};

use crate::limits::ConfigKey;
use crate::registry;
use crate::spec::ScenarioSpec;

/// The longest scenario file read, in bytes: far above any real scenario (the catalog's
/// largest is under 3 KiB), low enough that a wrong path to a huge file fails at once.
pub const FILE_BYTES_MAX: u64 = 1 << 20;

/// Parses and validates one scenario file's text; `origin` (its path) names it in errors.
/// `.json` is read as JSON, anything else as TOML.
pub fn parse(text: &str, origin: &str) -> Result<ScenarioSpec, String> {
    let spec: ScenarioSpec = if origin.ends_with(".json") {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(deserializer)
            .map_err(|error| located(origin, error.path(), &error.inner().to_string()))?
    } else {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|error| format!("{origin}: {}", error.to_string().trim_end()))?;
        let spec: ScenarioSpec = serde_path_to_error::deserialize(deserializer)
            .map_err(|error| located(origin, error.path(), &error.inner().to_string()))?;
        // The config is read as the model's type only now (it was kept as data): find the
        // line of a field it refuses in the text.
        if let Err(error) = registry::resolve_located(&spec.model.name, &spec.model.config) {
            let unknown = unknown_field(&error.message);
            let at = (error.path.as_ref()).and_then(|path| config_line(text, path, unknown));
            let at = at.map_or_else(String::new, |(line, column)| {
                format!(" at line {line}, column {column}")
            });
            return Err(format!(
                "{origin}: invalid scenario{at}: {}: {error}",
                spec.id
            ));
        }
        spec
    };
    spec.validate()
        .map_err(|error| format!("{origin}: invalid scenario: {error}"))?;
    Ok(spec)
}

/// `origin: field `path`: message`, the path left out when the error is at the top.
fn located(origin: &str, path: &serde_path_to_error::Path, message: &str) -> String {
    let message = message.trim_end();
    match path.to_string().as_str() {
        "." | "" => format!("{origin}: {message}"),
        field => format!("{origin}: field `{field}`: {message}"),
    }
}

/// The field serde names in an "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(field, _)| field)
}

/// The line and column (from 1) of the value at `path` inside `[model.config]` of a TOML
/// text (of the key `unknown` in it, for an unknown field), or of the deepest table on the
/// path that exists (a missing field's table).
fn config_line(text: &str, path: &[ConfigKey], unknown: Option<&str>) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let document = DeTable::parse(text).ok()?;
    let model = document.get_ref().get("model")?;
    let DeValue::Table(model) = model.get_ref() else {
        return None;
    };
    let mut value = model.get("config")?;
    for key in path {
        let next = match (key, value.get_ref()) {
            // An unknown field is placed at its key (serde names it, or its table).
            (ConfigKey::Field(name), DeValue::Table(_)) if Some(name.as_str()) == unknown => break,
            (ConfigKey::Field(name), DeValue::Table(table)) => table.get(name.as_str()),
            (ConfigKey::Index(index), DeValue::Array(array)) => array.get(*index),
            _ => None,
        };
        let Some(next) = next else { break };
        value = next;
    }
    let mut offset = value.span().start;
    if let (Some(unknown), DeValue::Table(table)) = (unknown, value.get_ref()) {
        let key = table.keys().find(|key| key.get_ref().as_ref() == unknown);
        offset = key.map_or(offset, |key| key.span().start);
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    Some((line, column))
}

/// Reads and parses the scenario file at `path`.
pub fn load(path: &Path) -> Result<ScenarioSpec, String> {
    let text = read_bounded(path, FILE_BYTES_MAX, "a scenario file")?;
    parse(&text, &path.display().to_string())
}

/// The UTF-8 text of the regular file at `path`, refused past `bytes_max` (`what` names
/// the kind of file in the message) without reading more than one byte past it.
#[allow(clippy::disallowed_methods)] // Users' files are read by the CLI, outside any run.
pub fn read_bounded(path: &Path, bytes_max: u64, what: &str) -> Result<String, String> {
    use std::io::Read as _;
    let origin = path.display().to_string();
    let cannot = |error: std::io::Error| format!("cannot read {origin}: {error}");
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        return Err(format!("{origin}: not a regular file"));
    }
    // Read at most one byte past the limit: the file may grow, or lie about its size.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(bytes_max + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > bytes_max {
        return Err(format!(
            "{origin}: above the {bytes_max}-byte limit of {what}"
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{origin}: not UTF-8 text"))
}

/// Every scenario file (`*.toml`, `*.json`) under `directory`, recursively, in path order,
/// each with its path. Two files with one id are refused, as is a directory with none.
/// Symbolic links are not followed (a link to a parent would loop), and `syncsim-failures`
/// directories (replay files, not scenarios) are skipped.
pub fn load_dir(directory: &Path) -> Result<Vec<(PathBuf, ScenarioSpec)>, String> {
    let mut paths = Vec::new();
    collect(directory, &mut paths)?;
    paths.sort();
    if paths.is_empty() {
        let shown = directory.display();
        return Err(format!("{shown}: no scenario files (*.toml, *.json)"));
    }
    let mut loaded: Vec<(PathBuf, ScenarioSpec)> = Vec::new();
    for path in paths {
        let spec = load(&path)?;
        if let Some((first, _)) = loaded.iter().find(|(_, other)| other.id == spec.id) {
            return Err(format!(
                "{}: scenario id {:?} is also the id of {}",
                path.display(),
                spec.id,
                first.display()
            ));
        }
        loaded.push((path, spec));
    }
    Ok(loaded)
}

fn collect(directory: &Path, paths: &mut Vec<PathBuf>) -> Result<(), String> {
    let shown = directory.display();
    let cannot = |error: std::io::Error| format!("{shown}: cannot read: {error}");
    for entry in std::fs::read_dir(directory).map_err(cannot)? {
        let entry = entry.map_err(cannot)?;
        // The entry's own type: a symbolic link is neither a directory nor a file here.
        let kind = entry.file_type().map_err(cannot)?;
        let path = entry.path();
        if kind.is_dir() && entry.file_name() != "syncsim-failures" {
            collect(&path, paths)?;
        } else if kind.is_file()
            && path
                .extension()
                .is_some_and(|extension| extension == "toml" || extension == "json")
        {
            paths.push(path);
        }
    }
    Ok(())
}

/// The committed catalog: the embedded files, parsed (a test checks each loads).
pub(crate) fn embedded() -> Vec<ScenarioSpec> {
    mod files {
        include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));
    }
    files::FILES
        .iter()
        .map(|(path, text)| {
            let origin = format!("scenarios/catalog/{path}");
            parse(text, &origin)
                .unwrap_or_else(|error| panic!("a committed scenario file: {error}"))
        })
        .collect()
}
