//! The CRM and its mirror (Heroku Connect-like): mirror tables in the simulated Postgres that
//! the application writes with plain SQL, a sync daemon that pushes their pending rows to the
//! CRM, and the CRM itself.
//!
//! ```text
//!  app ── INSERT/UPDATE salesforce.<table> ──▶ triggers (same transaction):
//!          _hc_lastop = 'PENDING', _hc_err = NULL; a NEW entry in salesforce._trigger_log
//!  sync node (xmlbinary = hex) ◀── entries NEW/REQUEUE, oldest id first
//!     │ create (no sfid yet) or upsert by external id ──▶ CrmStore
//!     │   reference missing: "Foreign key external ID ..."; create again: "duplicate value"
//!     ▼
//!  entry SUCCESS | FAILED (never sent again unless the row is updated or the entry requeued)
//!  row   SYNCED + sfid | FAILED + _hc_err | PENDING while a newer entry waits
//!  refused or unanswered: entry NEW again, next cycle
//! ```
//!
//! Cadence is config: Heroku Connect's one serial writer (every 2 min, sooner on a change,
//! at most every 10 s) or one loop per table. Trigger-log ids are drawn when the application
//! writes, not when it commits, so even the serial writer cannot order rows of two
//! transactions by commit: a child row can reach the CRM before its parent and fail. Not
//! modelled: deletes, bulk API, updates of existing rows from the CRM, merged writes.

mod capture;
mod mirror;
mod push;
mod store;

pub use mirror::{MirrorCadence, MirrorConfig, MirrorReference, MirrorTable};
pub use store::{
    CrmObject, CrmRequest, CrmResponse, CrmStore, Deletion, Push, PushKind, Reference,
};

use crate::pg::PgHandle;
use syncsim_sim::service::ServiceRef;
use syncsim_sim::world::{NodeBuilder, WorldBuilder};

/// Declares the CRM and its mirror in a world.
pub trait CrmWorld {
    /// Registers the CRM on its own node `name`.
    fn crm(&mut self, name: &str) -> ServiceRef<CrmStore>;
    /// Declares the mirror's sync node `name`: installs Heroku Connect's capture triggers and
    /// trigger log on `pg` (the mapped tables must exist), and the processes `config.cadence`
    /// asks for: Connect's one writer plus a pull loop per pulled table, or one loop per
    /// table.
    fn crm_mirror(
        &mut self,
        name: &str,
        pg: &PgHandle,
        crm: &ServiceRef<CrmStore>,
        config: MirrorConfig,
    ) -> NodeBuilder<'_>;
}

impl CrmWorld for WorldBuilder {
    fn crm(&mut self, name: &str) -> ServiceRef<CrmStore> {
        self.service(name, CrmStore::default())
    }

    fn crm_mirror(
        &mut self,
        name: &str,
        pg: &PgHandle,
        crm: &ServiceRef<CrmStore>,
        config: MirrorConfig,
    ) -> NodeBuilder<'_> {
        let keyed: Vec<(String, String)> = config
            .tables
            .iter()
            .map(|table| (table.table.clone(), table.key_column.clone()))
            .collect();
        capture::install(pg, &config.schema, &keyed);
        let mut node = self.node(name);
        match config.cadence.clone() {
            MirrorCadence::Connect {
                poll_interval,
                notify_interval_min,
            } => {
                let (writer_pg, writer_crm, writer) = (pg.clone(), crm.clone(), config.clone());
                node = node.daemon("sync writes", move |ctx| {
                    mirror::connect_writer(
                        ctx,
                        writer_pg.clone(),
                        writer_crm.clone(),
                        writer.clone(),
                        poll_interval,
                        notify_interval_min,
                    )
                });
                for table in config.tables.into_iter().filter(|table| table.pull) {
                    let (pg, crm) = (pg.clone(), crm.clone());
                    let process = format!("read {}", table.table);
                    node = node.daemon(&process, move |ctx| {
                        mirror::pull_loop(ctx, pg.clone(), crm.clone(), table.clone())
                    });
                }
            }
            MirrorCadence::PerTable => {
                for table in config.tables {
                    let (pg, crm, schema) = (pg.clone(), crm.clone(), config.schema.clone());
                    let process = format!("sync {}", table.table);
                    node = node.daemon(&process, move |ctx| {
                        mirror::table_loop(
                            ctx,
                            pg.clone(),
                            crm.clone(),
                            schema.clone(),
                            table.clone(),
                        )
                    });
                }
            }
        }
        node
    }
}
