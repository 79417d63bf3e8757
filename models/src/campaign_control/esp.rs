//! The email service provider the senders dispatch to: it records every message it was
//! handed, with the time, and that record is the ground truth of what went out.
//!
//! Not modelled: bounces, provider-side rate limits, delivery to inboxes.

use std::fmt;

use syncsim_sim::{Ack, Caller, Service, VirtualTime};

/// One dispatched message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// When the provider took it.
    pub time: VirtualTime,
    /// The sender node.
    pub sender: String,
    /// The campaign.
    pub campaign_id: i64,
    /// The message.
    pub message_id: i64,
}

/// A request to the provider.
#[derive(Clone, Debug)]
pub struct Send {
    /// The campaign.
    pub campaign_id: i64,
    /// The message.
    pub message_id: i64,
}

impl fmt::Display for Send {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (campaign, message) = (self.campaign_id, self.message_id);
        write!(formatter, "send message {message} of campaign {campaign}")
    }
}

/// The provider: durable, it forgets nothing.
#[derive(Debug, Default)]
pub struct Esp {
    dispatches: Vec<Dispatch>,
}

impl Esp {
    /// Every message taken, in order.
    pub fn dispatches(&self) -> &[Dispatch] {
        &self.dispatches
    }
}

impl Service for Esp {
    type Request = Send;
    type Response = Ack;

    fn apply(&mut self, caller: Caller<'_>, request: Send) -> Ack {
        self.dispatches.push(Dispatch {
            time: caller.now,
            sender: caller.node.to_string(),
            campaign_id: request.campaign_id,
            message_id: request.message_id,
        });
        Ack
    }

    fn crash(&mut self) {}
}
