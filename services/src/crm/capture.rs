//! Heroku Connect's change capture, as it installs it on every mapped read-write table: a
//! status trigger and the shared trigger log `<schema>._trigger_log`.
//!
//! What Heroku Connect does (sources in `docs/crm.md`): a `BEFORE INSERT OR UPDATE` trigger
//! checks `get_xmlbinary()`: in an application's session (`base64`, PostgreSQL's default) it
//! sets `_hc_lastop = 'PENDING'` and `_hc_err = NULL`; in Connect's own sessions (`hex`) it
//! leaves the status Connect writes. An `AFTER` trigger adds each application change to
//! `_trigger_log` with state `NEW`; Connect sends entries from there and records each one's
//! outcome (`SUCCESS`, `FAILED` with `sf_message`). Each change has its own entry, so an update
//! made while an earlier one is being sent is still sent. The database also notifies Connect
//! of changes with `pg_notify`, so its writer starts a cycle sooner than its 2-minute poll.
//!
//! Here: the same two triggers as native row triggers of the simulated Postgres, fired in the
//! writer's transaction; `postgres_sql` writes them as PL/pgSQL with the same rules, which
//! `syncsim confirm` installs on a real server next to the run's schema. Not modelled: the
//! captured values (`old` and `values` hstore columns: the sync sends the row as it is when
//! the entry is processed), `txid` and
//! timestamps, `DELETE` capture, `_trigger_log_archive`, and the real trigger's
//! Connect-branch rule that an unchanged `_hc_lastop` becomes `SYNCED` (the sync here always
//! writes the status it means, and a Connect insert with no status becomes `SYNCED`).

use std::sync::Arc;

use crate::pg::{PgHandle, RowTrigger, TriggerEvent, TriggerInsert, TriggerOp, Value, XmlBinary};

/// The status column Connect maintains.
pub(crate) const LASTOP: &str = "_hc_lastop";
/// The error column Connect maintains.
pub(crate) const ERROR: &str = "_hc_err";

/// The channel the capture trigger notifies on each application change, and Connect's writer
/// listens on (Heroku Connect's `pg_notify` wake-up; the channel name is syncsim's own).
pub(crate) const CHANNEL: &str = "heroku_connect_changes";

/// The trigger log's name in `schema`.
pub(crate) fn log_table(schema: &str) -> String {
    format!("{schema}._trigger_log")
}

/// Creates the trigger log in `schema` and installs the capture triggers on each of `tables`
/// (`schema.name`, keyed by `key_columns`).
pub(crate) fn install(pg: &PgHandle, schema: &str, tables: &[(String, String)]) {
    pg.setup(&format!(
        "CREATE TABLE {} (id bigserial PRIMARY KEY, table_name text NOT NULL, \
         record_id bigint NOT NULL, action text NOT NULL, state text NOT NULL, sf_message text)",
        log_table(schema)
    ));
    for (table, key_column) in tables {
        let trigger = ConnectTrigger {
            log_table: log_table(schema),
            table_name: table.clone(),
            key_column: key_column.clone(),
        };
        pg.install_trigger(table, Arc::new(trigger));
    }
}

/// The status and log triggers of one mapped table.
#[derive(Debug)]
struct ConnectTrigger {
    log_table: String,
    /// The mapped table as the log names it (`schema.name`).
    table_name: String,
    key_column: String,
}

impl RowTrigger for ConnectTrigger {
    fn before(&self, event: &TriggerEvent<'_>, new: &mut [Value]) {
        let (lastop, error) = (event.column(LASTOP), event.column(ERROR));
        match event.xmlbinary {
            XmlBinary::Base64 => {
                new[lastop] = Value::from("PENDING");
                new[error] = Value::Null;
            }
            XmlBinary::Hex if event.op == TriggerOp::Insert && new[lastop].is_null() => {
                new[lastop] = Value::from("SYNCED");
            }
            XmlBinary::Hex => {}
        }
    }

    fn notify(&self, event: &TriggerEvent<'_>) -> Option<(String, String)> {
        (event.xmlbinary == XmlBinary::Base64)
            .then(|| (CHANNEL.to_string(), self.table_name.clone()))
    }

    fn postgres_sql(&self, table: &str) -> Option<String> {
        let function: String = table
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let (log, key) = (&self.log_table, &self.key_column);
        let name = self.table_name.replace('\'', "''");
        Some(format!(
            "CREATE FUNCTION hc_status_{function}() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF current_setting('xmlbinary') = 'base64' THEN \
                 NEW.{LASTOP} := 'PENDING'; NEW.{ERROR} := NULL; \
               ELSIF TG_OP = 'INSERT' AND NEW.{LASTOP} IS NULL THEN \
                 NEW.{LASTOP} := 'SYNCED'; \
               END IF; \
               RETURN NEW; \
             END $$; \
             CREATE TRIGGER hc_status BEFORE INSERT OR UPDATE ON {table} \
               FOR EACH ROW EXECUTE FUNCTION hc_status_{function}(); \
             CREATE FUNCTION hc_log_{function}() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF current_setting('xmlbinary') = 'base64' THEN \
                 INSERT INTO {log} (table_name, record_id, action, state) \
                   VALUES ('{name}', NEW.{key}, TG_OP, 'NEW'); \
                 PERFORM pg_notify('{CHANNEL}', '{name}'); \
               END IF; \
               RETURN NULL; \
             END $$; \
             CREATE TRIGGER hc_log AFTER INSERT OR UPDATE ON {table} \
               FOR EACH ROW EXECUTE FUNCTION hc_log_{function}()"
        ))
    }

    fn after(&self, event: &TriggerEvent<'_>, new: &[Value]) -> Vec<TriggerInsert> {
        if event.xmlbinary == XmlBinary::Hex {
            return Vec::new();
        }
        let action = event.op.keyword();
        let record = new[event.column(&self.key_column)].clone();
        vec![TriggerInsert {
            table: self.log_table.clone(),
            values: vec![
                (
                    "table_name".to_string(),
                    Value::from(self.table_name.as_str()),
                ),
                ("record_id".to_string(), record),
                ("action".to_string(), Value::from(action)),
                ("state".to_string(), Value::from("NEW")),
            ],
        }]
    }
}
