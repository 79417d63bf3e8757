//! An upstream pipeline several models share: objects reaching the CRM from elsewhere (not
//! through the application), each at its own arrival time.
//!
//! Not modelled: the pipeline's own faults beyond a failed call, retried every second.

use std::time::Duration;

use serde_json::json;
use syncsim_services::crm::{CrmRequest, CrmResponse, CrmStore};
use syncsim_sim::{Ctx, ServiceRef};

/// One object the pipeline brings: arrival time in milliseconds of virtual time, external
/// id, email.
pub(crate) type Arrival = (u64, String, String);

/// Upserts each arrival as an `object_type` with its `email` field at its time, in the
/// order given (earliest first), retrying a failed upsert every second.
pub(crate) async fn deliver(
    ctx: &Ctx,
    crm: &ServiceRef<CrmStore>,
    object_type: &str,
    arrivals: impl IntoIterator<Item = Arrival>,
) {
    for (arrival_ms, external_id, email) in arrivals {
        let now_ms = ctx.now().as_micros() / 1_000;
        ctx.sleep(Duration::from_millis(arrival_ms.saturating_sub(now_ms)))
            .await;
        let request = CrmRequest::Upsert {
            object_type: object_type.to_string(),
            external_id,
            fields: [("email".to_string(), json!(email))].into(),
            references: Vec::new(),
        };
        while !matches!(
            ctx.call(crm, request.clone()).await,
            Ok(CrmResponse::Upserted { .. })
        ) {
            ctx.sleep(Duration::from_secs(1)).await;
        }
    }
}
