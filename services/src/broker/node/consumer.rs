//! A consumer: one member of a group, fetching, acking and nacking over the request path.
//!
//! Fetches are numbered; a fetch whose reply was lost is retried with the same number and
//! gets the same batch, so a lost reply does not strand deliveries in flight. A batch that
//! spans partitions reaches the model in a seeded interleaving (order is kept within each
//! partition only, as a broker promises). Every call is a heartbeat; a consumer evicted for
//! silence (`UnknownMember` on a fetch) rejoins under a new member id, as KafkaJS's runner
//! does. Not modelled: a heartbeat sent while the model processes without calling the
//! broker (KafkaJS heartbeats only between messages, so a long `eachMessage` is silence
//! too), pause/resume of single partitions, seeking.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::BrokerServer;
use super::{join_as_new_member, unexpected, BrokerCallError, BrokerRequest, BrokerResponse};
use crate::broker::BrokerError;
use crate::broker::{Delivery, NackOutcome, Rebalance};
use syncsim_sim::ctx::Ctx;
use syncsim_sim::kit;
use syncsim_sim::service::ServiceRef;

/// A member of a consumer group, created by `BrokerHandle::subscribe`.
pub struct Consumer {
    ctx: Ctx,
    service: ServiceRef<BrokerServer>,
    /// Numbers the member ids of this world's joins, for a rejoin after eviction.
    members_joined: Arc<AtomicU64>,
    group: String,
    topic: String,
    member: String,
    /// The number of the next fetch; it advances only once a fetch was answered.
    fetch_seq: u64,
    /// Left cleanly: dropping it says nothing more to the broker.
    left: bool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Consumer({} in {})", self.member, self.group)
    }
}

impl Consumer {
    pub(super) fn new(
        ctx: &Ctx,
        service: ServiceRef<BrokerServer>,
        members_joined: Arc<AtomicU64>,
        (group, topic): (&str, &str),
        member: &str,
    ) -> Consumer {
        Consumer {
            ctx: ctx.clone(),
            service,
            members_joined,
            group: group.to_string(),
            topic: topic.to_string(),
            member: member.to_string(),
            fetch_seq: 0,
            left: false,
        }
    }

    /// This member's id in its group.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// The group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Fetches up to `batch_size_max` deliveries (none when nothing is owed to this member).
    /// A member the broker evicted rejoins under a new id and gets none this time.
    pub async fn poll(&mut self, batch_size_max: usize) -> Result<Vec<Delivery>, BrokerCallError> {
        let request = BrokerRequest::Poll {
            group: self.group.clone(),
            member: self.member.clone(),
            batch_size_max,
            fetch_seq: self.fetch_seq,
        };
        let batch = match self.ctx.call(&self.service, request).await? {
            BrokerResponse::Deliveries(Err(BrokerError::UnknownMember { .. })) => {
                self.rejoin().await?;
                return Ok(Vec::new());
            }
            BrokerResponse::Deliveries(batch) => batch.map_err(BrokerCallError::Broker)?,
            other => unexpected("poll", &other),
        };
        self.fetch_seq += 1;
        Ok(self.interleave(batch))
    }

    /// This member's partitions once its group's rebalance completed, `None` while it still
    /// waits for other members to rejoin (KafkaJS's `GROUP_JOIN` event has not fired yet).
    pub async fn assignment(&self) -> Result<Option<Vec<(String, u32)>>, BrokerCallError> {
        let request = BrokerRequest::Assignment {
            group: self.group.clone(),
            member: self.member.clone(),
        };
        match self.ctx.call(&self.service, request).await? {
            BrokerResponse::Assigned(assigned) => assigned.map_err(BrokerCallError::Broker),
            other => unexpected("assignment", &other),
        }
    }

    /// Settles `delivery`: the group's offset may move past it.
    pub async fn ack(&self, delivery: &Delivery) -> Result<(), BrokerCallError> {
        let request = BrokerRequest::Ack {
            group: self.group.clone(),
            member: self.member.clone(),
            message_id: delivery.message_id,
        };
        match self.ctx.call(&self.service, request).await? {
            BrokerResponse::Acked(acked) => acked.map_err(BrokerCallError::Broker),
            other => unexpected("ack", &other),
        }
    }

    /// Gives `delivery` back: redelivered when `requeue`, else dropped or dead-lettered.
    pub async fn nack(
        &self,
        delivery: &Delivery,
        requeue: bool,
    ) -> Result<NackOutcome, BrokerCallError> {
        let request = BrokerRequest::Nack {
            group: self.group.clone(),
            member: self.member.clone(),
            message_id: delivery.message_id,
            requeue,
        };
        match self.ctx.call(&self.service, request).await? {
            BrokerResponse::Nacked(outcome) => outcome.map_err(BrokerCallError::Broker),
            other => unexpected("nack", &other),
        }
    }

    /// Leaves the group cleanly; its unsettled deliveries go to the remaining members.
    pub async fn leave(mut self) -> Result<Rebalance, BrokerCallError> {
        let request = BrokerRequest::Leave {
            group: self.group.clone(),
            member: self.member.clone(),
        };
        let left = match self.ctx.call(&self.service, request).await? {
            BrokerResponse::Rebalanced(left) => left.map_err(BrokerCallError::Broker),
            other => unexpected("leave", &other),
        };
        self.left = left.is_ok();
        left
    }

    /// The broker evicted this member (its session expired): join again as a new member.
    async fn rejoin(&mut self) -> Result<(), BrokerCallError> {
        let old = self.member.clone();
        let member = join_as_new_member(
            &self.ctx,
            &self.service,
            &self.members_joined,
            &self.group,
            &self.topic,
        )
        .await?;
        self.ctx.note(format!(
            "{old} was evicted from {}: rejoins as {member}",
            self.group
        ));
        self.member = member;
        self.fetch_seq = 0;
        Ok(())
    }

    /// The batch in a seeded interleaving of its partitions, each partition's order kept.
    fn interleave(&self, batch: Vec<Delivery>) -> Vec<Delivery> {
        let count = batch.len();
        let mut lanes: BTreeMap<(String, u32), VecDeque<Delivery>> = BTreeMap::new();
        for delivery in batch {
            let lane = (delivery.topic.clone(), delivery.partition);
            lanes.entry(lane).or_default().push_back(delivery);
        }
        if lanes.len() < 2 {
            return lanes.into_values().flatten().collect();
        }
        let mut interleaved = Vec::with_capacity(count);
        while !lanes.is_empty() {
            let keys: Vec<(String, u32)> = lanes.keys().cloned().collect();
            let key = self.ctx.random(|prng| prng.pick(&keys).clone());
            let lane = lanes.get_mut(&key).expect("picked from the keys");
            interleaved.extend(lane.pop_front());
            if lane.is_empty() {
                lanes.remove(&key);
            }
        }
        let order: Vec<String> = interleaved
            .iter()
            .map(|delivery| delivery.message_id.to_string())
            .collect();
        self.ctx.note(format!(
            "{} gets deliveries across partitions in seeded order: {}",
            self.member,
            order.join(" ")
        ));
        interleaved
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // Outside a running simulation (the run is being torn down) there is no one to tell.
        if self.left || kit::try_now().is_none() {
            return;
        }
        let mut service = self.service.lock();
        service.member_gone(&self.group, &self.member);
        let when = if service.config().session_timeout.is_some() {
            "when its session expires"
        } else {
            "at once"
        };
        drop(service);
        if !std::thread::panicking() {
            self.ctx.note(format!(
                "{} left {} without a goodbye: its unacked messages go back {when}",
                self.member, self.group
            ));
        }
    }
}
