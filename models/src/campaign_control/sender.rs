//! A sender: consumes send batches and, before each dispatch, checks the campaign's status
//! through its own cache (TTL `cache_ttl_ms`); it consumes the control topic (its own group,
//! so every sender sees every event) to drop a cache entry at once.
//!
//! Per message: skip unless the campaign is `SENDING` and the message still `PENDING`, hand
//! it to the provider, mark it `SENT`. A crash between the dispatch and the mark sends the
//! message again after the batch is redelivered.
//!
//! `gated` asks its control consumer for its assignment before each round (KafkaJS tells the
//! app through the `GROUP_JOIN` event, https://kafka.js.org/docs/instrumentation-events,
//! kafkajs 2.2.4): while it has none (a restarted sender's control group waits for its dead
//! member's 30 s session, or the broker is unreachable) the cache is emptied and every
//! dispatch reads the status from Postgres. Not modelled: per-contact rate limits.

use std::collections::BTreeMap;
use std::time::Duration;

use syncsim_services::broker::{BrokerHandle, Consumer, Delivery};
use syncsim_services::pg::{DbError, PgConnection, PgHandle, Value};
use syncsim_sim::{Ctx, ServiceRef, VirtualTime, WorldBuilder};

use super::esp::{Esp, Send};
use super::packer::{control_events, subscribe};
use super::{CampaignControlConfig, Mutation, Variant, CONTROL_TOPIC, SEND_TOPIC};

/// Coverage mark: a control event dropped a cache entry that still said `SENDING`.
pub const MARK_CACHE_DROPPED: &str =
    "campaign_control: a pause dropped a sender's cached SENDING status";

/// Coverage mark: a `gated` sender checked a status while its control group's rebalance
/// waited for a dead member (the window `fixed/restart_between_joins` shows the cache must
/// not be trusted in).
pub const MARK_SENT_UNASSIGNED: &str =
    "campaign_control: a sender checked a status while its control group waited for a dead member";

/// The `sender-<index>` node.
pub fn install(
    world: &mut WorldBuilder,
    index: u32,
    db: &PgHandle,
    broker: &BrokerHandle,
    esp: &ServiceRef<Esp>,
    config: &CampaignControlConfig,
) {
    let (db, broker, esp, config) = (db.clone(), broker.clone(), esp.clone(), config.clone());
    let node = format!("sender-{index}");
    let group = config.groups.control_group(&node);
    world.node(&node).daemon("send", move |ctx| {
        let sender = Sender {
            ctx,
            db: db.clone(),
            esp: esp.clone(),
            config: config.clone(),
            cache: BTreeMap::new(),
            control_assigned: false,
            control_rebalancing: false,
        };
        sender.run(broker.clone(), group.clone())
    });
}

struct Sender {
    ctx: Ctx,
    db: PgHandle,
    esp: ServiceRef<Esp>,
    config: CampaignControlConfig,
    /// Campaign status as last read, and when.
    cache: BTreeMap<i64, (String, VirtualTime)>,
    /// The control consumer holds its assignment, so a pause reaches this sender at once and
    /// the cache may be trusted (always true but for `gated`, which asks each round).
    control_assigned: bool,
    /// `gated`: the broker answered that the control group's rebalance still waits.
    control_rebalancing: bool,
}

impl Sender {
    async fn run(mut self, broker: BrokerHandle, group: String) {
        let ctx = self.ctx.clone();
        let mut control = match self.config.variant {
            Variant::TtlOnly => None,
            _ => Some(subscribe(&ctx, &broker, &group, CONTROL_TOPIC).await),
        };
        let send_group = self.config.groups.send_group.clone();
        let mut batches = subscribe(&ctx, &broker, &send_group, SEND_TOPIC).await;
        self.control_assigned = self.config.variant != Variant::Gated;
        loop {
            if let (Some(consumer), Variant::Gated) = (control.as_ref(), self.config.variant) {
                self.gate(consumer).await;
            }
            if let Some(consumer) = control.as_mut() {
                for (campaign, action) in control_events(&ctx, consumer).await {
                    self.forget(campaign, &action);
                }
            }
            let deliveries = batches.poll(1).await.unwrap_or_default();
            if deliveries.is_empty() {
                ctx.sleep(Duration::from_millis(20)).await;
            }
            for delivery in deliveries {
                if self.send_batch(&delivery).await.is_ok() {
                    let _ = batches.ack(&delivery).await;
                } else {
                    let _ = batches.nack(&delivery, true).await;
                }
            }
        }
    }

    /// `gated`: trusts the cache only while the control consumer holds its assignment; an
    /// unanswered question counts as none.
    async fn gate(&mut self, control: &Consumer) {
        let answer = control.assignment().await;
        self.control_assigned = matches!(answer, Ok(Some(_)));
        self.control_rebalancing = matches!(answer, Ok(None));
        if !self.control_assigned {
            self.cache.clear();
        }
    }

    fn forget(&mut self, campaign: i64, action: &str) {
        let cached = self.cache.remove(&campaign);
        if action == "pause" && cached.is_some_and(|(status, _)| status == "SENDING") {
            self.ctx.mark(MARK_CACHE_DROPPED);
        }
    }

    async fn send_batch(&mut self, delivery: &Delivery) -> Result<(), DbError> {
        let batch: serde_json::Value = serde_json::from_str(&delivery.payload).unwrap_or_default();
        let campaign = batch["campaignId"].as_i64().unwrap_or_default();
        let ids: Vec<i64> = batch["messageIds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_i64)
            .collect();
        let mut conn = self.db.connect(&self.ctx).await?;
        for message in ids {
            if self.status(&mut conn, campaign).await? != "SENDING" {
                continue;
            }
            self.send_one(&mut conn, campaign, message).await?;
        }
        Ok(())
    }

    /// The campaign's status through the cache.
    async fn status(&mut self, conn: &mut PgConnection, campaign: i64) -> Result<String, DbError> {
        let now = self.ctx.now();
        let ttl = Duration::from_millis(self.config.cache_ttl_ms);
        if self.control_rebalancing {
            self.ctx.mark(MARK_SENT_UNASSIGNED);
        }
        if let Some((status, read_at)) = self.cache.get(&campaign) {
            if now.as_micros() < read_at.as_micros() + ttl.as_micros() as u64 {
                return Ok(status.clone());
            }
        }
        let select = "SELECT status FROM campaigns WHERE id = $1";
        let status: String = conn
            .query_one(select, &[campaign.into()])
            .await?
            .get("status");
        if self.control_assigned {
            self.cache.insert(campaign, (status.clone(), now));
        }
        Ok(status)
    }

    async fn send_one(
        &mut self,
        conn: &mut PgConnection,
        campaign: i64,
        message: i64,
    ) -> Result<(), DbError> {
        let select = "SELECT status FROM campaign_messages WHERE id = $1";
        let status = conn
            .query_one(select, &[message.into()])
            .await?
            .get::<Value>("status");
        let trust_batch = self.config.mutation == Some(Mutation::ResendSent);
        if status != Value::from("PENDING") && !trust_batch {
            return Ok(());
        }
        self.ctx
            .sleep(Duration::from_millis(self.config.dispatch_ms))
            .await;
        let send = Send {
            campaign_id: campaign,
            message_id: message,
        };
        if self.ctx.call(&self.esp, send).await.is_err() {
            return Ok(());
        }
        let now_micros = i64::try_from(self.ctx.now().as_micros()).unwrap_or(i64::MAX);
        let mark =
            "UPDATE campaign_messages SET status = 'SENT', sent_at_micros = $2 WHERE id = $1";
        conn.execute(mark, &[message.into(), now_micros.into()])
            .await?;
        Ok(())
    }
}
