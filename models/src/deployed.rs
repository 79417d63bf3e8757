//! A scenario's table of deployment settings read as changes to the deployed value: a field
//! left out keeps the deployment's setting, not the type's `Default`. Not here: checks of
//! the merged value (each model refuses what it cannot run).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Reads the table under `deserializer` over `deployed`; `what` names it in errors.
pub fn over<'de, T, D>(deserializer: D, deployed: T, what: &str) -> Result<T, D::Error>
where
    T: Serialize + DeserializeOwned,
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let changes = serde_json::Value::deserialize(deserializer)?;
    let serde_json::Value::Object(changes) = changes else {
        return Err(D::Error::custom(format!("`{what}` is a table of settings")));
    };
    let mut merged = serde_json::to_value(deployed).map_err(D::Error::custom)?;
    for (field, value) in changes {
        merged[field] = value;
    }
    serde_json::from_value(merged).map_err(D::Error::custom)
}
