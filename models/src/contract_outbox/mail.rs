//! The mail service the worker sends confirmation emails through: it records every email it
//! accepted, with the time, and that record is the ground truth of what went out. It fails
//! by being down (a crash in the fault plan): the worker's call times out.
//!
//! Not modelled: bounces, delivery to inboxes, rate limits.

use std::fmt;

use syncsim_sim::{Ack, Caller, Service, VirtualTime};

/// One accepted email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// When the service took it.
    pub time: VirtualTime,
    /// The recipient.
    pub to: String,
    /// The player whose contract it confirms.
    pub player_id: i64,
}

/// A confirmation email to send.
#[derive(Clone, Debug)]
pub struct SendEmail {
    /// The recipient.
    pub to: String,
    /// The player whose contract it confirms.
    pub player_id: i64,
}

impl fmt::Display for SendEmail {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "email {} about player {}",
            self.to, self.player_id
        )
    }
}

/// The mail service: durable, it forgets nothing it accepted.
#[derive(Debug, Default)]
pub struct Mail {
    sent: Vec<Email>,
}

impl Mail {
    /// Every email accepted, in order.
    pub fn sent(&self) -> &[Email] {
        &self.sent
    }
}

impl Service for Mail {
    type Request = SendEmail;
    type Response = Ack;

    fn apply(&mut self, caller: Caller<'_>, request: SendEmail) -> Ack {
        self.sent.push(Email {
            time: caller.now,
            to: request.to,
            player_id: request.player_id,
        });
        Ack
    }

    fn crash(&mut self) {}
}
