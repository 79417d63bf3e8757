//! The packer: every `pack_interval_ms` it pages the `PENDING` messages of each `SENDING`
//! campaign into send batches, remembering what it already queued; a campaign seen not
//! `SENDING`, or a valid pause/stop control event, aborts its pagination (a resume then
//! re-pages what is still `PENDING`).
//!
//! Its memory is in the process, so a crash forgets it and re-pages from the database. Not
//! modelled: page cursors persisted across restarts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;
use syncsim_services::broker::{BrokerHandle, Consumer};
use syncsim_services::pg::{DbError, PgConnection, PgHandle};
use syncsim_sim::{Ctx, WorldBuilder};

use super::ids::is_uuid_v4;
use super::{CampaignControlConfig, Mutation, Variant, CONTROL_TOPIC, SEND_TOPIC};

/// Coverage mark: a consumer dropped a control message whose correlation id is not a v4.
pub const MARK_CONTROL_DROPPED: &str =
    "campaign_control: a control message was dropped by validation";

/// The `packer` node.
pub fn install(
    world: &mut WorldBuilder,
    db: &PgHandle,
    broker: &BrokerHandle,
    config: &CampaignControlConfig,
) {
    let (db, broker, config) = (db.clone(), broker.clone(), config.clone());
    world.node("packer").daemon("pack", move |ctx| {
        pack(ctx, db.clone(), broker.clone(), config.clone())
    });
}

/// Joins `group` on the control topic, retrying while the broker is unreachable.
pub async fn subscribe(ctx: &Ctx, broker: &BrokerHandle, group: &str, topic: &str) -> Consumer {
    loop {
        if let Ok(consumer) = broker.subscribe(ctx, group, topic).await {
            return consumer;
        }
        ctx.sleep(Duration::from_millis(200)).await;
    }
}

/// Takes the control events waiting for `consumer`: drops invalid ones (nack, no requeue)
/// and returns the valid ones as (campaign, action).
pub async fn control_events(ctx: &Ctx, consumer: &mut Consumer) -> Vec<(i64, String)> {
    let mut events = Vec::new();
    for delivery in consumer.poll(10).await.unwrap_or_default() {
        let payload: serde_json::Value =
            serde_json::from_str(&delivery.payload).unwrap_or_default();
        let correlation_id = payload["correlationId"].as_str().unwrap_or_default();
        if !is_uuid_v4(correlation_id) {
            ctx.mark(MARK_CONTROL_DROPPED);
            let _ = consumer.nack(&delivery, false).await;
            continue;
        }
        let campaign = payload["campaignId"].as_i64().unwrap_or_default();
        let action = payload["action"].as_str().unwrap_or_default().to_string();
        events.push((campaign, action));
        let _ = consumer.ack(&delivery).await;
    }
    events
}

async fn pack(ctx: Ctx, db: PgHandle, broker: BrokerHandle, config: CampaignControlConfig) {
    let mut control = match config.variant {
        Variant::TtlOnly => None,
        _ => Some(subscribe(&ctx, &broker, "packer", CONTROL_TOPIC).await),
    };
    let mut queued: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    loop {
        if let Some(consumer) = control.as_mut() {
            for (campaign, action) in control_events(&ctx, consumer).await {
                if action != "resume" {
                    queued.remove(&campaign);
                }
            }
        }
        if let Ok(mut conn) = db.connect(&ctx).await {
            let _ = pack_once(&ctx, &mut conn, &broker, &config, &mut queued).await;
        }
        ctx.sleep(Duration::from_millis(config.pack_interval_ms))
            .await;
    }
}

/// One pass: a page per `SENDING` campaign.
async fn pack_once(
    ctx: &Ctx,
    conn: &mut PgConnection,
    broker: &BrokerHandle,
    config: &CampaignControlConfig,
    queued: &mut BTreeMap<i64, BTreeSet<i64>>,
) -> Result<(), DbError> {
    let campaigns = conn
        .query("SELECT id, status FROM campaigns ORDER BY id", &[])
        .await?;
    for row in campaigns {
        let (campaign, status): (i64, String) = (row.get("id"), row.get("status"));
        if status != "SENDING" {
            queued.remove(&campaign);
            continue;
        }
        let pending = if config.mutation == Some(Mutation::ResendSent) {
            "SELECT id FROM campaign_messages WHERE campaign_id = $1 ORDER BY id"
        } else {
            "SELECT id FROM campaign_messages WHERE campaign_id = $1 AND status = 'PENDING' \
             ORDER BY id"
        };
        let already = queued.entry(campaign).or_default();
        let page: Vec<i64> = conn
            .query(pending, &[campaign.into()])
            .await?
            .iter()
            .map(|row| row.get::<i64>("id"))
            .filter(|id| !already.contains(id))
            .take(config.page_size as usize)
            .collect();
        if page.is_empty() {
            continue;
        }
        let batch = json!({ "campaignId": campaign, "messageIds": page });
        if broker
            .publish(ctx, SEND_TOPIC, &config.groups.key(campaign), &batch)
            .await
            .is_ok()
        {
            already.extend(page);
        }
    }
    Ok(())
}
