//! `campaign_control`: pause and stop through a broker fast path.
//!
//! ```text
//!  operator ──POST /campaigns/{id}/{pause|resume|stop}──▶ api
//!     api: UPDATE campaigns (authoritative) + legacy workflow; then publish
//!          campaigns.control {campaignId, action, correlationId}
//!  packer: pages PENDING messages of SENDING campaigns ──▶ campaigns.send batches
//!          consumes campaigns.control to abort a pagination
//!  sender: consumes batches; before each dispatch checks the campaign status through a
//!          5 s TTL cache; consumes campaigns.control to drop the cache entry at once
//!  packer and sender validate control payloads: correlationId must be a UUID v4, else the
//!  message is nacked without requeue (dropped)
//! ```
//!
//! The real system is a campaign sender with a Postgres source of truth and a broker fast
//! path for control. Variants: `ttl_only` publishes no control messages; `request_correlation`
//! forwards the request's correlation id (any shape) and awaits the publish, so a broker
//! error fails a transition already committed and the API compensates by resuming the legacy
//! workflow; `fixed` mints a UUID v4 per event and publishes best effort, and its senders
//! trust their cache while a restarted control consumer waits 30 s for its dead member, so a
//! pause in that window waits for the cache; `gated` is `fixed` whose senders trust the
//! cache only while the control consumer holds its assignment. Modelled: broker outages and
//! crashes, sender and packer crashes and stalls, cache staleness, KafkaJS's consumer groups
//! (30 s sessions: a restarted sender's groups wait for its dead member; redelivery from the
//! committed offset). `gated` is claimed with one sender: with two, a
//! sender stalled past its session mid-batch is evicted, the other gets the batch again from
//! the committed offset, both see a message `PENDING`, and it goes out twice
//! (`tests/campaign_control.rs` shows "resume never re-sends a SENT message" failing). Not
//! modelled: campaign scheduling, per-contact throttling, the legacy workflow's own
//! activities (its state is a row).

mod api;
mod esp;
mod ids;
mod packer;
mod properties;
mod schema;
mod sender;

use serde::{Deserialize, Serialize};
use syncsim_services::broker::BrokerWorld;
use syncsim_services::broker::{BrokerConfig, StartFrom};
use syncsim_services::pg::PgConfig;
use syncsim_services::pg::PgServer;
use syncsim_services::pg::PostgresWorld;
use syncsim_sim::ServiceKey;
use syncsim_sim::{Knob, Model, ModelConfig, Property, Ratio, WorldBuilder};

pub use esp::{Dispatch, Esp};
pub use ids::{is_uuid_v4, request_id, uuid_v4};
pub use schema::SCHEMA;

/// The database node.
pub const DB: ServiceKey<PgServer> = ServiceKey::new("db");
/// The broker node.
pub const BROKER: &str = "broker";
/// The email provider node.
pub const ESP: ServiceKey<Esp> = ServiceKey::new("esp");
/// The API node.
pub const API: &str = "api";
/// The control topic.
pub const CONTROL_TOPIC: &str = "campaigns.control";
/// The send-batch topic.
pub const SEND_TOPIC: &str = "campaigns.send";

/// How the API publishes control events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// No control messages: senders see a pause when their cache entry expires.
    TtlOnly,
    /// The request's correlation id is forwarded and the publish is awaited.
    RequestCorrelation,
    /// A fresh UUID v4 per event; the publish is best effort.
    Fixed,
    /// `Fixed`, and a sender trusts its status cache only while its control consumer holds
    /// its assignment (KafkaJS's `GROUP_JOIN`): until then every dispatch reads Postgres.
    Gated,
}

impl Variant {
    /// The variant's name in scenario ids.
    pub fn name(self) -> &'static str {
        match self {
            Variant::TtlOnly => "ttl_only",
            Variant::RequestCorrelation => "request_correlation",
            Variant::Fixed => "fixed",
            Variant::Gated => "gated",
        }
    }
}

/// Deployment: consumer groups and message keys (KafkaJS `groupId`s and produced `key`s).
/// Default: as the product runs it; a scenario's `[model.config.groups]` changes some.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Groups {
    /// The group every sender joins on the send topic: one group, so each batch goes to
    /// one sender (Kafka hands each partition to one member of a group).
    pub send_group: String,
    /// Whether each sender consumes the control topic in a group of its own (every sender
    /// sees every control event) or all senders share one (each event reaches one sender).
    pub control_groups: ControlGroups,
    /// The key of control events and send batches: the campaign id (one partition per
    /// campaign, so its events stay in order), or none (KafkaJS spreads keyless messages
    /// over partitions, so a pause and a resume may be read out of order).
    pub message_key: MessageKey,
}

impl Default for Groups {
    fn default() -> Groups {
        Groups {
            send_group: "senders".to_string(),
            control_groups: ControlGroups::PerSender,
            message_key: MessageKey::Campaign,
        }
    }
}

impl Groups {
    /// Whether every choice is the deployed one (a config leaves it out when serialized).
    pub fn is_deployed(&self) -> bool {
        *self == Groups::default()
    }

    /// The control-topic group of the sender on `node`.
    pub fn control_group(&self, node: &str) -> String {
        match self.control_groups {
            ControlGroups::PerSender => node.to_string(),
            ControlGroups::Shared => "senders-control".to_string(),
        }
    }

    /// The key a message about `campaign` is produced with (empty: no key).
    pub fn key(&self, campaign: i64) -> String {
        match self.message_key {
            MessageKey::Campaign => campaign.to_string(),
            MessageKey::None => String::new(),
        }
    }
}

/// How senders consume the control topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlGroups {
    /// A group per sender, named after its node.
    PerSender,
    /// One group, `senders-control`, for all senders.
    Shared,
}

/// What a produced message is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKey {
    /// The campaign id.
    Campaign,
    /// No key.
    None,
}

/// Deliberate bugs a test switches on to show a property can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mutation {
    /// The API lets a resume leave `STOPPED`.
    ResumeFromStopped,
    /// The packer pages every message of a resumed campaign, `SENT` ones included, and the
    /// sender trusts the batch.
    ResendSent,
}

/// Tunables of the campaign_control model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignControlConfig {
    /// How control events are published.
    pub variant: Variant,
    /// Campaigns, all `SENDING` at the start.
    pub campaign_count: u32,
    /// Messages per campaign.
    pub messages_per_campaign: u32,
    /// Sender nodes.
    pub sender_count: u32,
    /// Messages per send batch.
    pub page_size: u32,
    /// How often the packer looks for work, in milliseconds.
    pub pack_interval_ms: u64,
    /// Time a sender spends per dispatch, in milliseconds.
    pub dispatch_ms: u64,
    /// The senders' status cache TTL, in milliseconds.
    pub cache_ttl_ms: u64,
    /// When the operator pauses a campaign: drawn up to this, in milliseconds.
    pub pause_at_max_ms: u64,
    /// How long a campaign stays paused before its resume, at most, in milliseconds.
    pub pause_length_max_ms: u64,
    /// Campaigns the operator stops after resuming them (the first ones).
    pub stop_count: u32,
    /// Share of requests whose correlation id is not a UUID v4.
    pub foreign_id_ratio: Ratio,
    /// Deployment: the broker's settings (partitions, session timeout, settlement, where a
    /// new group starts, assignor). Default: KafkaJS's consumer defaults, starting from the
    /// earliest offset (see `install`); a scenario's `[model.config.broker]` changes them.
    #[serde(default = "deployed_broker", deserialize_with = "broker_over_deployed")]
    pub broker: BrokerConfig,
    /// Deployment: consumer group ids and message keys; see `Groups`.
    #[serde(default, skip_serializing_if = "Groups::is_deployed")]
    pub groups: Groups,
    /// A deliberate bug, for tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation: Option<Mutation>,
    /// Deployment: the Postgres server's settings (`deadlock_timeout_micros`, TCP
    /// keepalives, ...). Default: PostgreSQL 15's on Linux; a scenario's
    /// `[model.config.postgres]` changes the ones it names.
    #[serde(default, skip_serializing_if = "PgConfig::is_default")]
    pub postgres: PgConfig,
}

/// The campaign_control model in one variant.
#[derive(Clone, Debug)]
pub struct CampaignControl {
    /// Its configuration.
    pub config: CampaignControlConfig,
}

impl Model for CampaignControl {
    fn name(&self) -> &str {
        "campaign_control"
    }

    fn install(&self, world: &mut WorldBuilder) {
        let db = world.postgres(DB.name(), self.config.postgres.clone());
        db.setup(SCHEMA);
        db.setup(&schema::seed_rows(
            self.config.campaign_count,
            self.config.messages_per_campaign,
        ));
        let broker = world.broker(BROKER, self.config.broker.clone());
        let esp = world.service(ESP.name(), Esp::default());
        api::install(world, &db, &broker, &self.config);
        packer::install(world, &db, &broker, &self.config);
        for index in 1..=self.config.sender_count {
            sender::install(world, index, &db, &broker, &esp, &self.config);
        }
    }

    fn properties(&self) -> Vec<Property> {
        properties::all(self.config.variant)
    }
}

/// The production deployment: KafkaJS's consumer defaults (30 s sessions, round robin,
/// offset commits). The deployed groups committed offsets long before this run; their topics
/// start empty here, so reading a never-committed partition from its beginning is that state.
pub fn deployed_broker() -> BrokerConfig {
    BrokerConfig {
        start_from: StartFrom::Earliest,
        ..BrokerConfig::default()
    }
}

/// Reads a scenario's `broker` table as changes to `deployed_broker()`: a field left out
/// keeps the deployment's value (the earliest offset included), not the broker's default.
fn broker_over_deployed<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BrokerConfig, D::Error> {
    use serde::de::Error as _;
    let broker: BrokerConfig = crate::deployed::over(deserializer, deployed_broker(), "broker")?;
    if broker.partitions_default == 0 || broker.in_flight_max == 0 {
        return Err(D::Error::custom(
            "`partitions_default` and `in_flight_max` must be at least 1",
        ));
    }
    Ok(broker)
}

impl ModelConfig for CampaignControlConfig {
    const NAME: &'static str = "campaign_control";
    const ENTITY_KNOB: &'static str = "campaign_count";

    fn variant(&self) -> &str {
        self.variant.name()
    }

    fn model(&self) -> std::sync::Arc<dyn Model> {
        std::sync::Arc::new(CampaignControl {
            config: self.clone(),
        })
    }

    /// Messages are rows of the setup, and their ids are `campaign * 10_000 + index`.
    fn check_limits(&self) -> Result<(), String> {
        if self.messages_per_campaign >= 10_000 {
            return Err(format!(
                "messages_per_campaign is {}; message ids leave room for 9999 per campaign",
                self.messages_per_campaign
            ));
        }
        syncsim_sim::limits::setup_at_most(&[
            ("campaign_count", u64::from(self.campaign_count)),
            (
                "messages_per_campaign",
                u64::from(self.messages_per_campaign),
            ),
        ])
    }

    /// The workload knobs shrinking may lower, with their floors.
    fn knobs(&self) -> Vec<Knob> {
        vec![
            Knob::new("campaign_count", 1, u64::from(self.campaign_count)),
            Knob::new(
                "messages_per_campaign",
                1,
                u64::from(self.messages_per_campaign),
            ),
            Knob::new("pause_at_max_ms", 0, self.pause_at_max_ms),
            Knob::new("stop_count", 0, u64::from(self.stop_count)),
        ]
    }
}
