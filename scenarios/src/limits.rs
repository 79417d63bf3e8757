//! Limits on a model's config, checked when a scenario or replay file is loaded and before
//! the model is built: every integer and duration of any registered model's config (a
//! user's included) has a maximum, so a mistyped size fails at once, naming its field,
//! instead of hanging in setup or exhausting memory before the run's own bounds apply.
//!
//! A config's fields are read by the house naming rule, names carry units: an integer
//! field ending `_ms`, `_micros` or `_s` is a duration in that unit, a text such as `"2s"`
//! is a duration, and any other integer is a count or a size. The scenario's own fields are
//! bounded by the kernel (`syncsim_sim::limits`). Not here: products of fields (a model
//! building `campaign_count * messages_per_campaign` rows bounds that itself, or not).

use std::time::Duration;

use serde_json::Value;

/// The largest count or size in a model's config (workers, entities, batch sizes).
pub const COUNT_LIMIT: u64 = 10_000;
/// The longest duration in a model's config: the longest a run may last.
pub const DURATION_LIMIT: Duration = syncsim_sim::limits::TIME_MAX_LIMIT;

/// One step of a path into a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigKey {
    /// A field of a table.
    Field(String),
    /// An element of an array.
    Index(usize),
}

/// A path into a config, displayed as serde_path_to_error does: `broker.partitions_default`,
/// `kinds[0].name`, `.` for the config itself.
pub fn display_path(path: &[ConfigKey]) -> String {
    let mut shown = String::new();
    for key in path {
        match key {
            ConfigKey::Field(name) if shown.is_empty() => shown.push_str(name),
            ConfigKey::Field(name) => shown.push_str(&format!(".{name}")),
            ConfigKey::Index(index) => shown.push_str(&format!("[{index}]")),
        }
    }
    if shown.is_empty() {
        shown.push('.');
    }
    shown
}

/// The first field of `config` above its limit: its path and why.
pub fn check(config: &Value) -> Result<(), (Vec<ConfigKey>, String)> {
    let mut path = Vec::new();
    walk(config, &mut path)
}

fn walk(value: &Value, path: &mut Vec<ConfigKey>) -> Result<(), (Vec<ConfigKey>, String)> {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                path.push(ConfigKey::Field(name.clone()));
                walk(field, path)?;
                path.pop();
            }
        }
        Value::Array(elements) => {
            for (index, element) in elements.iter().enumerate() {
                path.push(ConfigKey::Index(index));
                walk(element, path)?;
                path.pop();
            }
        }
        Value::Number(number) => {
            let Some(number) = number.as_u64() else {
                return Ok(()); // negative or fractional: the model's type refuses it
            };
            let name = match path.last() {
                Some(ConfigKey::Field(name)) => name.as_str(),
                _ => "",
            };
            check_integer(name, number).map_err(|message| (path.clone(), message))?;
        }
        Value::String(text) => {
            if let Ok(duration) = humantime::parse_duration(text) {
                check_duration(duration).map_err(|message| (path.clone(), message))?;
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
    Ok(())
}

fn check_integer(name: &str, number: u64) -> Result<(), String> {
    let unit = |suffix: &str| name.ends_with(suffix);
    let duration = if unit("_ms") {
        Some(Duration::from_millis(number))
    } else if unit("_micros") {
        Some(Duration::from_micros(number))
    } else if unit("_s") {
        // Past about 584 billion years a u64 of seconds overflows no Duration; cap first.
        Some(Duration::from_secs(
            number.min(DURATION_LIMIT.as_secs() + 1),
        ))
    } else {
        None
    };
    match duration {
        Some(duration) => check_duration(duration),
        None if number > COUNT_LIMIT => Err(format!(
            "{number} is above the limit {COUNT_LIMIT} of a count or size"
        )),
        None => Ok(()),
    }
}

fn check_duration(duration: Duration) -> Result<(), String> {
    if duration > DURATION_LIMIT {
        let (shown, limit) = (
            humantime::format_duration(duration),
            humantime::format_duration(DURATION_LIMIT),
        );
        return Err(format!("{shown} is above the limit {limit} of a duration"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(config: Value) -> (String, String) {
        let (path, message) = check(&config).expect_err("above a limit");
        (display_path(&path), message)
    }

    #[test]
    fn counts_and_durations_by_name_and_text_have_limits() {
        let ok = serde_json::json!({
            "worker_count": 10_000, "lease": "30days", "poll_ms": 1_000,
            "broker": { "partitions_default": 3 }, "variant": "guarded", "ratio": "1/20",
        });
        assert_eq!(check(&ok), Ok(()));
        let count = refused(serde_json::json!({ "worker_count": 10_001 }));
        assert_eq!(count.0, "worker_count");
        assert!(count.1.contains("limit 10000 "), "{}", count.1);
        let nested = refused(serde_json::json!({ "worker": { "lease": "31days" } }));
        assert_eq!(nested.0, "worker.lease");
        let listed = refused(serde_json::json!({ "kinds": [{ "wait_ms": u64::MAX }] }));
        assert_eq!(listed.0, "kinds[0].wait_ms");
        let seconds = refused(serde_json::json!({ "lag_max_s": u64::MAX }));
        assert!(seconds.1.contains("limit 30days"), "{}", seconds.1);
        assert_eq!(
            refused(serde_json::json!({ "idle_micros": u64::MAX })).0,
            "idle_micros"
        );
    }
}
