//! The CRM and its mirror (Heroku Connect-like): mirror tables in the simulated Postgres that
//! the application writes with plain SQL, a sync daemon that pushes their pending rows to the
//! CRM, and the CRM itself.
//!
//! ```text
//!  app ── INSERT ... _hc_lastop = 'PENDING' ──▶ salesforce.<table> (Postgres)
//!                                                  │ per table: every poll_interval,
//!                                                  │ up to batch_size_max pending rows
//!  sync daemon (its own node) ◀────────────────────┘
//!     │ upsert by external id ──▶ CrmStore ── reference missing: error text
//!     ▼
//!  SYNCED + sfid | FAILED + _hc_err (never retried by the daemon) | rejected: stays PENDING
//! ```
//!
//! Each mapped table has its own cadence and batch size, so nothing orders pushes between
//! tables: a child row can reach the CRM before its parent and fail. Not modelled: Heroku
//! Connect's trigger log (a row updated while its push is in flight is marked by the push's
//! result), bulk API, polling by system modstamp, deletes.

mod mirror;
mod store;

pub use mirror::{MirrorReference, MirrorTable};
pub use store::{CrmObject, CrmRequest, CrmResponse, CrmStore, Deletion, Push, Reference};

use crate::service::ServiceRef;
use crate::services::pg::PgHandle;
use crate::world::{NodeBuilder, WorldBuilder};

impl WorldBuilder {
    /// Registers the CRM on its own node `name`.
    pub fn crm(&mut self, name: &str) -> ServiceRef<CrmStore> {
        self.service(name, CrmStore::default())
    }

    /// Declares the sync daemon node `name`: one daemon per mapped table, pushing that
    /// table's pending rows from `pg` to `crm` (and pulling new CRM objects back when the
    /// table asks for it).
    pub fn crm_mirror(
        &mut self,
        name: &str,
        pg: &PgHandle,
        crm: &ServiceRef<CrmStore>,
        tables: Vec<MirrorTable>,
    ) -> NodeBuilder<'_> {
        let mut node = self.node(name);
        for table in tables {
            let (pg, crm) = (pg.clone(), crm.clone());
            let process = format!("sync {}", table.table);
            node = node.daemon(&process, move |ctx| {
                mirror::sync_table(ctx, pg.clone(), crm.clone(), table.clone())
            });
        }
        node
    }
}
