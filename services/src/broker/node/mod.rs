//! The broker's async face: the engine served on its own node, producers and consumers that
//! reach it over the simulated request path.
//!
//! ```text
//!  producer ── publish ──▶ ┌ broker node ─────────────┐ ◀── poll / ack / nack ── consumer
//!   (any node)             │ BrokerServer             │      (member of a group)
//!                          │  = Broker (engine)       │
//!                          │  + last fetch per member │
//!                          └──────────────────────────┘
//! ```
//!
//! Every call takes a seeded latency each way and the plan's request faults: `reject` (the
//! broker refuses, nothing applied), `reply_lost` (a publish is stored but the producer times
//! out and cannot know), `duplicate` (a publish is stored twice; a fetch's batch reaches the
//! consumer again with its next fetch), `delay` (deliveries arrive late). Outages are the
//! faults `outage`/`recover` on the broker node: it answers every request with
//! `Unavailable`. A crash of the broker node keeps the log and committed offsets and loses the
//! deliveries in flight. A consumer stall is a `pause` of the consumer's node: with a session
//! timeout the member is evicted once silent that long, and rejoins under a new member id
//! when it runs again. Not modelled: producer batching and idempotence, fetch sessions.

mod consumer;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use consumer::Consumer;

use super::types::Partitions;
use super::{
    Broker, BrokerConfig, BrokerError, Created, Delivery, MessageId, NackOutcome, Published,
    Rebalance, TopicConfig,
};
use crate::text::List;
use syncsim_sim::ctx::{CallError, Ctx};
use syncsim_sim::kit;
use syncsim_sim::service::{Caller, Service, ServiceRef};
use syncsim_sim::time::VirtualTime;
use syncsim_sim::world::WorldBuilder;

/// A request to the broker node.
#[derive(Clone, Debug)]
pub enum BrokerRequest {
    /// Creates a topic with its settings.
    CreateTopic {
        /// The topic.
        topic: String,
        /// Its settings (they only apply if the topic does not exist yet).
        config: TopicConfig,
    },
    /// Appends a message to its key's partition.
    Publish {
        /// The topic (auto-created with the broker's defaults).
        topic: String,
        /// The partitioning key.
        key: String,
        /// JSON text.
        payload: String,
    },
    /// A member joins a group on a topic.
    Join {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// The topic.
        topic: String,
    },
    /// A member leaves its group cleanly; its unacked messages go back.
    Leave {
        /// The group.
        group: String,
        /// The member.
        member: String,
    },
    /// A fetch: the next deliveries for a member.
    Poll {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// At most this many deliveries.
        batch_size_max: usize,
        /// The member's fetch number: a retry after a lost reply repeats it and gets the same
        /// batch back instead of leaving it in flight unseen.
        fetch_seq: u64,
    },
    /// Asks for a member's assignment (what KafkaJS's `GROUP_JOIN` event tells the app).
    Assignment {
        /// The group.
        group: String,
        /// The member.
        member: String,
    },
    /// Settles a delivery.
    Ack {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// The message.
        message_id: MessageId,
    },
    /// Gives a delivery back (`requeue`) or drops / dead-letters it.
    Nack {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// The message.
        message_id: MessageId,
        /// Redeliver it rather than drop it.
        requeue: bool,
    },
}

/// The broker node's answer.
#[derive(Clone, Debug)]
pub enum BrokerResponse {
    /// To `CreateTopic`.
    Created(Result<Created, BrokerError>),
    /// To `Publish`.
    Published(Result<Published, BrokerError>),
    /// To `Join` and `Leave`.
    Rebalanced(Result<Rebalance, BrokerError>),
    /// To `Poll`.
    Deliveries(Result<Vec<Delivery>, BrokerError>),
    /// To `Assignment`: `None` while a rebalance waits for members to rejoin.
    Assigned(Result<Option<Vec<(String, u32)>>, BrokerError>),
    /// To `Ack`.
    Acked(Result<(), BrokerError>),
    /// To `Nack`.
    Nacked(Result<NackOutcome, BrokerError>),
}

impl fmt::Display for BrokerRequest {
    /// A verb, then `group/member` or the topic, then the arguments: `poll g/m max 10 fetch 3`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerRequest::CreateTopic { topic, config } => {
                write!(formatter, "create-topic {topic} with {config}")
            }
            BrokerRequest::Publish {
                topic,
                key,
                payload,
            } => write!(formatter, "publish {topic} key={key} {payload:?}"),
            BrokerRequest::Join {
                group,
                member,
                topic,
            } => write!(formatter, "join {group}/{member} on {topic}"),
            BrokerRequest::Leave { group, member } => write!(formatter, "leave {group}/{member}"),
            BrokerRequest::Poll {
                group,
                member,
                batch_size_max,
                fetch_seq,
            } => write!(
                formatter,
                "poll {group}/{member} max {batch_size_max} fetch {fetch_seq}"
            ),
            BrokerRequest::Assignment { group, member } => {
                write!(formatter, "assignment {group}/{member}")
            }
            BrokerRequest::Ack {
                group,
                member,
                message_id,
            } => write!(formatter, "ack {group}/{member} {message_id}"),
            BrokerRequest::Nack {
                group,
                member,
                message_id,
                requeue,
            } => {
                let requeue = if *requeue { "requeue" } else { "no-requeue" };
                write!(formatter, "nack {group}/{member} {message_id} {requeue}")
            }
        }
    }
}

impl fmt::Display for BrokerResponse {
    /// What the call did (`published m5 at orders:0@12`), or `error: <why>`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerResponse::Created(Ok(created)) => write!(formatter, "{created}"),
            BrokerResponse::Published(Ok(published)) => {
                write!(formatter, "published {published}")
            }
            BrokerResponse::Rebalanced(Ok(rebalance)) => {
                write!(formatter, "rebalanced {rebalance}")
            }
            BrokerResponse::Deliveries(Ok(deliveries)) => {
                write!(formatter, "delivered {}", List(deliveries))
            }
            BrokerResponse::Assigned(Ok(Some(partitions))) => {
                write!(formatter, "assigned {}", Partitions(partitions))
            }
            BrokerResponse::Assigned(Ok(None)) => formatter.write_str("assignment pending"),
            BrokerResponse::Acked(Ok(())) => formatter.write_str("acked"),
            BrokerResponse::Nacked(Ok(outcome)) => write!(formatter, "{outcome}"),
            BrokerResponse::Created(Err(error))
            | BrokerResponse::Published(Err(error))
            | BrokerResponse::Rebalanced(Err(error))
            | BrokerResponse::Deliveries(Err(error))
            | BrokerResponse::Assigned(Err(error))
            | BrokerResponse::Acked(Err(error))
            | BrokerResponse::Nacked(Err(error)) => write!(formatter, "error: {error}"),
        }
    }
}

/// The broker as served on its node: the engine, plus the last fetch of each member so a
/// retried fetch is answered with the same batch, and duplicated fetches owed to members.
/// Properties read the engine's ground truth through it (`Deref<Target = Broker>`).
pub struct BrokerServer {
    engine: Broker,
    /// (group, member) → (fetch number, its batch).
    last_fetch: BTreeMap<(String, String), (u64, Vec<Delivery>)>,
    /// (group, member) → deliveries the network duplicated, handed over with the next fetch.
    owed_copies: BTreeMap<(String, String), Vec<Delivery>>,
    /// (group, member) whose client is gone. Member names are never reused, so a join of one
    /// still in flight when its node crashed is refused instead of leaving a ghost member
    /// that holds partitions forever.
    departed: BTreeSet<(String, String)>,
}

impl fmt::Debug for BrokerServer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("BrokerServer")
    }
}

impl Deref for BrokerServer {
    type Target = Broker;

    fn deref(&self) -> &Broker {
        &self.engine
    }
}

impl BrokerServer {
    fn new(config: BrokerConfig) -> BrokerServer {
        BrokerServer {
            engine: Broker::new(config),
            last_fetch: BTreeMap::new(),
            owed_copies: BTreeMap::new(),
            departed: BTreeSet::new(),
        }
    }

    /// The member's client ended without a goodbye (its process or node died). With a session
    /// timeout the broker is not told: it stops hearing from the member and evicts it when the
    /// session expires. Without one it takes the partitions back at once.
    pub(crate) fn member_gone(&mut self, group: &str, member: &str) {
        self.forget(group, member);
        self.departed
            .insert((group.to_string(), member.to_string()));
        if self.engine.config().session_timeout.is_some() {
            return;
        }
        let now = kit::try_now().unwrap_or_default();
        self.engine.member_crashed(group, member, now);
    }

    fn forget(&mut self, group: &str, member: &str) {
        let key = (group.to_string(), member.to_string());
        self.last_fetch.remove(&key);
        self.owed_copies.remove(&key);
    }

    /// A fetch. A retry of the last one (same number, its reply was lost) gets the same batch;
    /// copies the network duplicated come first.
    fn fetch(&mut self, fetch: Fetch, now: VirtualTime) -> Result<Vec<Delivery>, BrokerError> {
        if self.engine.is_down() {
            return Err(BrokerError::Unavailable);
        }
        let key = (fetch.group, fetch.member);
        if let Some((seq, batch)) = self.last_fetch.get(&key) {
            if *seq == fetch.fetch_seq {
                return Ok(batch.clone());
            }
        }
        let fresh = self
            .engine
            .poll(&key.0, &key.1, fetch.batch_size_max, now)?;
        let mut batch = self.owed_copies.remove(&key).unwrap_or_default();
        batch.extend(fresh);
        self.last_fetch
            .insert(key, (fetch.fetch_seq, batch.clone()));
        Ok(batch)
    }

    /// The network delivered a fetch's answer twice: the member gets the batch again with its
    /// next fetch (same attempt numbers: a copy, not a redelivery).
    fn duplicate_fetch(&mut self, fetch: Fetch, now: VirtualTime) -> BrokerResponse {
        let key = (fetch.group.clone(), fetch.member.clone());
        let answered = self
            .last_fetch
            .get(&key)
            .filter(|(seq, _)| *seq == fetch.fetch_seq)
            .map(|(_, batch)| batch.clone());
        let Some(batch) = answered else {
            // The original failed: the copy is one more try of the same fetch.
            return BrokerResponse::Deliveries(self.fetch(fetch, now));
        };
        for delivery in &batch {
            self.engine
                .record_duplicate(&key.0, &key.1, delivery.message_id, now);
        }
        self.owed_copies
            .entry(key)
            .or_default()
            .extend(batch.iter().cloned());
        BrokerResponse::Deliveries(Ok(batch))
    }
}

/// A fetch's parameters, unpacked from `BrokerRequest::Poll`.
struct Fetch {
    group: String,
    member: String,
    batch_size_max: usize,
    fetch_seq: u64,
}

impl Service for BrokerServer {
    type Request = BrokerRequest;
    type Response = BrokerResponse;

    fn apply(&mut self, caller: Caller<'_>, request: BrokerRequest) -> BrokerResponse {
        let now = caller.now;
        let engine = &mut self.engine;
        match request {
            BrokerRequest::CreateTopic { topic, config } => {
                BrokerResponse::Created(engine.create_topic(&topic, config, now))
            }
            BrokerRequest::Publish {
                topic,
                key,
                payload,
            } => BrokerResponse::Published(engine.publish(&topic, &key, &payload, now)),
            BrokerRequest::Join {
                group,
                member,
                topic,
            } => {
                if self.departed.contains(&(group.clone(), member.clone())) {
                    let gone = BrokerError::UnknownMember { group, member };
                    return BrokerResponse::Rebalanced(Err(gone));
                }
                BrokerResponse::Rebalanced(engine.join(&group, &member, &topic, now))
            }
            BrokerRequest::Leave { group, member } => {
                let left = engine.leave(&group, &member, now);
                if left.is_ok() {
                    self.forget(&group, &member);
                }
                BrokerResponse::Rebalanced(left)
            }
            BrokerRequest::Poll {
                group,
                member,
                batch_size_max,
                fetch_seq,
            } => BrokerResponse::Deliveries(self.fetch(
                Fetch {
                    group,
                    member,
                    batch_size_max,
                    fetch_seq,
                },
                now,
            )),
            BrokerRequest::Assignment { group, member } => {
                BrokerResponse::Assigned(engine.assignment_of(&group, &member, now))
            }
            BrokerRequest::Ack {
                group,
                member,
                message_id,
            } => BrokerResponse::Acked(engine.ack(&group, &member, message_id, now)),
            BrokerRequest::Nack {
                group,
                member,
                message_id,
                requeue,
            } => BrokerResponse::Nacked(engine.nack(&group, &member, message_id, requeue, now)),
        }
    }

    fn apply_duplicate(&mut self, caller: Caller<'_>, request: BrokerRequest) -> BrokerResponse {
        match request {
            BrokerRequest::Poll {
                group,
                member,
                batch_size_max,
                fetch_seq,
            } => {
                let fetch = Fetch {
                    group,
                    member,
                    batch_size_max,
                    fetch_seq,
                };
                self.duplicate_fetch(fetch, caller.now)
            }
            // A publish stored twice is what a producer without idempotence gets.
            other => self.apply(caller, other),
        }
    }

    fn crash(&mut self) {
        // Fetches in flight die with the broker; the engine redelivers their messages.
        self.last_fetch.clear();
        self.owed_copies.clear();
        self.engine.crash(kit::try_now().unwrap_or_default());
    }
}

/// Why a broker call failed, as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerCallError {
    /// No answer within the call timeout: the request may have been applied (a publish
    /// stored) or not; the client cannot know.
    Timeout,
    /// The broker refused the request under load; nothing was applied.
    Rejected,
    /// The broker answered with an error (`Unavailable` during an outage).
    Broker(BrokerError),
}

impl fmt::Display for BrokerCallError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerCallError::Timeout => formatter.write_str("no reply from the broker in time"),
            BrokerCallError::Rejected => formatter.write_str("the broker rejected the request"),
            BrokerCallError::Broker(error) => write!(formatter, "{error}"),
        }
    }
}

impl std::error::Error for BrokerCallError {}

impl From<CallError> for BrokerCallError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Timeout => BrokerCallError::Timeout,
            CallError::Rejected => BrokerCallError::Rejected,
        }
    }
}

/// A handle to a broker node: producers publish through it, consumers subscribe through it;
/// properties read its ground truth with `history.service::<BrokerServer>(name)`.
#[derive(Clone, Debug)]
pub struct BrokerHandle {
    service: ServiceRef<BrokerServer>,
    /// Numbers the members this world's consumers join as (`<node>-<n>`).
    members_joined: Arc<AtomicU64>,
}

impl BrokerHandle {
    /// The broker's node name.
    pub fn name(&self) -> &str {
        self.service.name()
    }

    /// Creates `topic` with `config`; an existing topic keeps its settings.
    pub async fn create_topic(
        &self,
        ctx: &Ctx,
        topic: &str,
        config: TopicConfig,
    ) -> Result<Created, BrokerCallError> {
        let request = BrokerRequest::CreateTopic {
            topic: topic.to_string(),
            config,
        };
        match ctx.call(&self.service, request).await? {
            BrokerResponse::Created(created) => created.map_err(BrokerCallError::Broker),
            other => unexpected("create_topic", &other),
        }
    }

    /// Publishes `payload` under `key`. `Err(Timeout)` does not mean "not stored".
    pub async fn publish(
        &self,
        ctx: &Ctx,
        topic: &str,
        key: &str,
        payload: &serde_json::Value,
    ) -> Result<Published, BrokerCallError> {
        let request = BrokerRequest::Publish {
            topic: topic.to_string(),
            key: key.to_string(),
            payload: payload.to_string(),
        };
        match ctx.call(&self.service, request).await? {
            BrokerResponse::Published(published) => published.map_err(BrokerCallError::Broker),
            other => unexpected("publish", &other),
        }
    }

    /// Joins `group` on `topic` as a new member named after this node. Dropping the consumer
    /// without `leave` (its process ended or its node crashed) is a session the broker stops
    /// hearing from: its unacked messages are redelivered once the session expires (at once
    /// without a session timeout).
    pub async fn subscribe(
        &self,
        ctx: &Ctx,
        group: &str,
        topic: &str,
    ) -> Result<Consumer, BrokerCallError> {
        let member =
            join_as_new_member(ctx, &self.service, &self.members_joined, group, topic).await?;
        Ok(Consumer::new(
            ctx,
            self.service.clone(),
            self.members_joined.clone(),
            (group, topic),
            &member,
        ))
    }
}

/// Joins `group` on `topic` under a fresh member id `<node>-<n>` and returns it (KafkaJS gets
/// a new member id from the coordinator on each join after its old one is gone).
pub(super) async fn join_as_new_member(
    ctx: &Ctx,
    service: &ServiceRef<BrokerServer>,
    members_joined: &AtomicU64,
    group: &str,
    topic: &str,
) -> Result<String, BrokerCallError> {
    let number = members_joined.fetch_add(1, Ordering::Relaxed);
    let member = format!("{}-{number}", ctx.node());
    let request = BrokerRequest::Join {
        group: group.to_string(),
        member: member.clone(),
        topic: topic.to_string(),
    };
    // A join whose reply was lost, or whose node crashed while it was in flight, may have
    // joined: unless the join is known to have succeeded, the broker forgets it.
    let mut guard = JoinGuard {
        service: service.clone(),
        group: group.to_string(),
        member: member.clone(),
        joined: false,
    };
    let joined = match ctx.call(service, request).await {
        Ok(BrokerResponse::Rebalanced(joined)) => joined.map_err(BrokerCallError::Broker),
        Ok(other) => unexpected("subscribe", &other),
        Err(error) => Err(error.into()),
    };
    joined?;
    guard.joined = true;
    Ok(member)
}

/// Tells the broker a member is gone when dropped before its join was known to succeed
/// (an error, or the node crashing mid-call drops the subscribing future).
struct JoinGuard {
    service: ServiceRef<BrokerServer>,
    group: String,
    member: String,
    joined: bool,
}

impl Drop for JoinGuard {
    fn drop(&mut self) {
        // Outside a running simulation (the run is being torn down) there is no one to tell.
        if !self.joined && kit::try_now().is_some() {
            self.service.lock().member_gone(&self.group, &self.member);
        }
    }
}

/// The broker answered a request with another request's response: a harness bug.
fn unexpected<T>(request: &str, response: &BrokerResponse) -> T {
    panic!("the broker answered {request} with {response:?}")
}

/// Declares brokers in a world.
pub trait BrokerWorld {
    /// Registers a broker on its own node `name`. Its node takes the `outage` and `recover`
    /// faults as well as crashes, pauses and isolation.
    fn broker(&mut self, name: &str, config: BrokerConfig) -> BrokerHandle;
}

impl BrokerWorld for WorldBuilder {
    fn broker(&mut self, name: &str, config: BrokerConfig) -> BrokerHandle {
        let service = self.service(name, BrokerServer::new(config));
        let outage = service.clone();
        self.set_outage_hook(name, move |down| {
            let now = kit::try_now().unwrap_or_default();
            outage.lock().engine.set_outage(down, now);
        });
        BrokerHandle {
            service,
            members_joined: Arc::new(AtomicU64::new(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_render_for_people() {
        let publish = BrokerRequest::Publish {
            topic: "orders".to_string(),
            key: "7".to_string(),
            payload: "hi".to_string(),
        };
        assert_eq!(publish.to_string(), r#"publish orders key=7 "hi""#);
        let poll = BrokerRequest::Poll {
            group: "billing".to_string(),
            member: "worker-1".to_string(),
            batch_size_max: 10,
            fetch_seq: 3,
        };
        assert_eq!(poll.to_string(), "poll billing/worker-1 max 10 fetch 3");
        let nack = BrokerRequest::Nack {
            group: "billing".to_string(),
            member: "worker-1".to_string(),
            message_id: MessageId(5),
            requeue: false,
        };
        assert_eq!(nack.to_string(), "nack billing/worker-1 m5 no-requeue");
        let published = BrokerResponse::Published(Ok(Published {
            topic: "orders".to_string(),
            partition: 1,
            offset: 12,
            message_id: MessageId(5),
        }));
        assert_eq!(published.to_string(), "published m5 at orders:1@12");
        let refused = BrokerResponse::Acked(Err(BrokerError::Unavailable));
        assert_eq!(refused.to_string(), "error: broker unavailable (outage)");
        let assigned = BrokerResponse::Assigned(Ok(Some(vec![("orders".to_string(), 0)])));
        assert_eq!(assigned.to_string(), "assigned [orders:0]");
    }
}
