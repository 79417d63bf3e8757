//! One network round trip: the kernel's single way for a request to reach another node and
//! for its reply to come back, shared by `Ctx::call`, HTTP and the Postgres connection.
//!
//! The kernel owns the latencies (one seeded draw per leg), reachability (a target down,
//! paused or cut off), the plan's request faults, the caller's timeout and the `send`,
//! `drop` and `recv` lines; a caller passes what differs ([`Trip`]) and a `serve` future
//! that runs on arrival and writes the `apply` lines.
//!
//! What a caller learns, and when (the one rule):
//! - a request or reply lost in the network is learned at the caller's timeout, as no packet
//!   says so (an HTTP client's read timeout; a Postgres client's TCP retransmission giving
//!   up);
//! - a refused or reset connection is learned one latency later, when the RST comes back
//!   (HTTP to a host whose server is down; a Postgres session the server ended, including
//!   the connection drop a `reply_lost` fault makes of a Postgres reply); an RST comes only
//!   from a host that is up over a link that works, otherwise the reset is silence, learned
//!   at the timeout;
//! - a `reject` request fault is an answer (an overload answer: `CallError::Rejected`, or a
//!   503 for HTTP), learned one latency later.
//!
//! Sources: a host with nothing listening on the port answers a connection with a reset,
//! which the client sees as `ECONNREFUSED` (RFC 9293 section 3.5.2,
//! https://www.rfc-editor.org/rfc/rfc9293#section-3.5.2; connect(2),
//! https://man7.org/linux/man-pages/man2/connect.2.html); a lost segment says nothing, and the
//! client learns of it only from its own timer. tokio-postgres 0.7 has a connect timeout and
//! TCP keepalives (default on, idle 2 h) but no statement timeout
//! (https://docs.rs/tokio-postgres/0.7/tokio_postgres/config/struct.Config.html), so a
//! statement that reached its server is waited for however long it runs.
//!
//! Not modelled: TCP retransmission inside the timeout, partial replies, connection reuse
//! across requests.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;

use crate::ctx::Ctx;
use crate::rt;
use crate::trace::EventKind;
use crate::world::{DrawnRequestFaults, NodeStatus};

/// How often a request held by a paused service looks again whether the node resumed.
const PAUSE_POLL: Duration = Duration::from_millis(1);

/// Which of the plan's request faults a round trip takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TripFaults {
    /// All of them: reject, duplicate delivery, lost reply, slower reply.
    All,
    /// A lost reply and a slower one only: inside one TCP session a request is neither
    /// refused by a proxy nor delivered twice. The rest are drawn and ignored, so the random
    /// stream is the same as for `All`.
    ReplyOnly,
    /// None, and none drawn (a connect, whose reply is the session).
    None,
}

/// What a target that is down does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenDown {
    /// The request is lost; the caller learns it at its timeout.
    Lost,
    /// The target's host refuses the connection (an RST); the caller learns it one latency
    /// later. Only while the network between the two works: a cut-off host loses requests.
    Refused,
}

/// How much of the round trip the caller's timeout covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// All of it: an HTTP client's timeout runs from the send to the last byte of the reply.
    Whole,
    /// The way there only: once a statement reached its server, the client waits for its
    /// reply however long it takes (a statement waiting for a lock has no client timeout);
    /// a reply that will never come is learned a whole timeout after serving ended.
    Outbound,
}

/// One round trip as the caller describes it.
pub struct Trip<'a, R> {
    /// The target node.
    pub target: &'a str,
    /// The request as the `send` line shows it.
    pub request: &'a str,
    /// Which request faults apply.
    pub faults: TripFaults,
    /// What a down target does.
    pub when_down: WhenDown,
    /// What the timeout covers.
    pub deadline: Deadline,
    /// Checked when a reply arrives: false when the session it belongs to ended while it
    /// travelled (its server restarted), and the caller gets a reset instead.
    pub alive: Option<&'a dyn Fn(&R) -> bool>,
}

impl<'a, R> Trip<'a, R> {
    /// A stateless request: all faults, lost when the target is down, timeout over all of it.
    pub fn new(target: &'a str, request: &'a str) -> Trip<'a, R> {
        Trip {
            target,
            request,
            faults: TripFaults::All,
            when_down: WhenDown::Lost,
            deadline: Deadline::Whole,
            alive: None,
        }
    }
}

/// What the request found on arrival, for the caller's `serve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The network delivers the request a second time: serve it twice.
    pub duplicate: bool,
    /// The network will lose the reply. A stateless reply is lost by the kernel after
    /// `serve`; a caller with a session ends the session and answers [`Served::Reset`].
    pub reply_lost: bool,
}

/// What serving the request produced.
pub enum Served<R> {
    /// A reply, with its text for the `recv` line.
    Reply(R, String),
    /// Nothing listens there: the connection is refused.
    Refused,
    /// The session ended on the server: `drop` is the server's line, `recv` the client's.
    Reset {
        /// The server's `drop` line.
        drop: String,
        /// The client's `recv` line.
        recv: String,
    },
    /// No reply ever comes (a handler that stopped): `drop` is the server's line.
    Silent(String),
}

/// Why a round trip brought no reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TripError {
    /// The connection was refused: nothing was served.
    Refused,
    /// A `reject` request fault: nothing was served.
    Rejected,
    /// No reply within the timeout; the request may or may not have been served.
    Timeout,
    /// The session was reset; the request may or may not have been served.
    Reset,
}

/// Where a request's outbound leg left it.
#[derive(Clone, Copy, Debug)]
struct Outbound {
    /// The reply leg's latency, drawn with the outbound one.
    back: Duration,
    /// The request faults drawn for it.
    drawn: DrawnRequestFaults,
    /// Whether the target was up and reachable on arrival (after waiting out a pause).
    reached: bool,
}

impl Ctx {
    /// Sends a request to `trip.target`, serves it there with `serve` on arrival, and brings
    /// its reply back, by the rule in this module's doc.
    pub async fn round_trip<R, F, Fut>(&self, trip: Trip<'_, R>, serve: F) -> Result<R, TripError>
    where
        F: FnOnce(Arrival) -> Fut,
        Fut: Future<Output = Served<R>>,
    {
        let world = self.world();
        let started = world.now();
        let timeout = world.net.call_timeout;
        let remaining = || timeout.saturating_sub(world.now().0 - started.0);
        let outbound = self.send_request(&trip, timeout).await;
        let Outbound { back, drawn, .. } = outbound;
        if !outbound.reached {
            return self.unreached(&trip, back, remaining()).await;
        }
        let all = trip.faults == TripFaults::All;
        if all && drawn.reject {
            let rejected = format!("{} -> rejected", trip.request);
            self.message(trip.target, EventKind::Apply, self.node(), rejected);
            return self
                .learn(trip.target, back, "rejected", TripError::Rejected)
                .await;
        }
        let arrival = Arrival {
            duplicate: all && drawn.duplicate,
            reply_lost: drawn.reply_lost,
        };
        let mut serving = std::pin::pin!(serve(arrival));
        // A service that answers at once (a sans-IO apply) needs no timer: polled first, as
        // the timeout would poll it, it is done before any time passes.
        let served = match serving.as_mut().now_or_never() {
            Some(served) => Some(served),
            None if trip.deadline == Deadline::Whole => rt::timeout(remaining(), serving).await,
            None => Some(serving.await),
        };
        let (reply, text) = match served {
            Some(Served::Reply(reply, text)) => (reply, text),
            Some(Served::Refused) => return self.refuse(&trip, back).await,
            Some(Served::Reset { drop, recv }) if self.answers(trip.target) => {
                self.message(trip.target, EventKind::Drop, self.node(), drop);
                return self.learn(trip.target, back, &recv, TripError::Reset).await;
            }
            // No RST comes from a host that is down or over a link that is cut.
            Some(Served::Reset { drop, .. } | Served::Silent(drop)) => {
                let silence = match trip.deadline {
                    Deadline::Whole => remaining(),
                    Deadline::Outbound => timeout,
                };
                return self.lost(trip.target, drop, silence).await;
            }
            None => {
                let drop = format!("no reply in time: {}", trip.request);
                return self.lost(trip.target, drop, remaining()).await;
            }
        };
        if drawn.reply_lost {
            let drop = format!("reply lost: {text}");
            return self.lost(trip.target, drop, remaining()).await;
        }
        let back = back + drawn.extra_delay;
        if trip.deadline == Deadline::Whole && back > remaining() {
            let drop = format!("reply too late: {text}");
            return self.lost(trip.target, drop, remaining()).await;
        }
        rt::sleep(back).await;
        if trip.alive.is_some_and(|alive| !alive(&reply)) {
            self.receive(trip.target, "connection lost".to_string());
            return Err(TripError::Reset);
        }
        self.receive(trip.target, text);
        Ok(reply)
    }

    /// The outbound leg: draws both latencies (and the request faults the trip takes),
    /// records the send line, travels, then waits while the target is paused, within the
    /// call timeout.
    async fn send_request<R>(&self, trip: &Trip<'_, R>, timeout: Duration) -> Outbound {
        let (there, back) = self.world().draw_latencies();
        let drawn = match trip.faults {
            TripFaults::All | TripFaults::ReplyOnly => {
                self.world().draw_request_faults(trip.target)
            }
            TripFaults::None => DrawnRequestFaults::default(),
        };
        let send = trip.request.to_string();
        self.message(self.node(), EventKind::Send, trip.target, send);
        rt::sleep(there).await;
        let budget = timeout.saturating_sub(there);
        let reached = self.wait_until_reachable(trip.target, budget).await;
        Outbound {
            back,
            drawn,
            reached,
        }
    }

    /// Whether `target` can answer the caller now: it is up and the link between them works.
    fn answers(&self, target: &str) -> bool {
        self.world().status(target) == NodeStatus::Up && !self.cut_off(target)
    }

    /// The target was down, cut off or paused past the timeout: refused or lost.
    async fn unreached<R>(
        &self,
        trip: &Trip<'_, R>,
        back: Duration,
        remaining: Duration,
    ) -> Result<R, TripError> {
        let refuses = trip.when_down == WhenDown::Refused
            && self.world().status(trip.target) == NodeStatus::Down
            && !self.cut_off(trip.target);
        if refuses {
            return self.refuse(trip, back).await;
        }
        let drop = format!("request lost: {}", trip.request);
        self.lost(trip.target, drop, remaining).await
    }

    /// The target's host answered with an RST: the caller learns it one latency later.
    async fn refuse<R>(&self, trip: &Trip<'_, R>, back: Duration) -> Result<R, TripError> {
        let drop = format!("connection refused: {}", trip.request);
        self.message(trip.target, EventKind::Drop, self.node(), drop);
        self.learn(trip.target, back, "refused", TripError::Refused)
            .await
    }

    /// An answer that is no reply travels back one latency and ends the trip with `error`.
    async fn learn<R>(
        &self,
        target: &str,
        back: Duration,
        recv: &str,
        error: TripError,
    ) -> Result<R, TripError> {
        rt::sleep(back).await;
        self.receive(target, recv.to_string());
        Err(error)
    }

    /// A request or reply lost in the network: `target` records the loss (`drop`), and the
    /// caller learns it only when its timeout runs out, after `remaining`.
    async fn lost<R>(
        &self,
        target: &str,
        drop: String,
        remaining: Duration,
    ) -> Result<R, TripError> {
        self.message(target, EventKind::Drop, self.node(), drop);
        rt::sleep(remaining).await;
        self.receive(target, "timeout".to_string());
        Err(TripError::Timeout)
    }

    fn receive(&self, target: &str, text: String) {
        self.message(self.node(), EventKind::Recv, target, text);
    }

    /// Whether either end is isolated from the network.
    fn cut_off(&self, target: &str) -> bool {
        self.world().is_isolated(target) || self.world().is_isolated(self.node())
    }

    /// Waits while `node` is paused: true when it is up and reachable, false when it is
    /// down, either side is isolated, or it stayed paused past `budget`.
    async fn wait_until_reachable(&self, node: &str, budget: Duration) -> bool {
        let mut waited = Duration::ZERO;
        loop {
            let (status, cut) = self.world().link(self.node(), node);
            if cut {
                return false;
            }
            match status {
                NodeStatus::Up => return true,
                NodeStatus::Down => return false,
                NodeStatus::Paused if waited >= budget => return false,
                NodeStatus::Paused => {
                    rt::sleep(PAUSE_POLL).await;
                    waited += PAUSE_POLL;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The rule of this module, pinned on a fixed 5 ms latency and a 200 ms timeout: what the
    //! caller receives, and when.

    use super::*;
    use crate::fault::{Fault, FaultPlan};
    use crate::run::Case;
    use crate::seed::Seed;
    use crate::world::NetConfig;

    const LATENCY: Duration = Duration::from_millis(5);
    const TIMEOUT: Duration = Duration::from_millis(200);

    /// One trip from `client` to `target` at 10 ms, served by `answer`; returns the client's
    /// recv line and its time in ms.
    fn trip_of(
        when_down: WhenDown,
        deadline: Deadline,
        faults: FaultPlan,
        answer: fn() -> Served<()>,
    ) -> (String, u64) {
        serving_for(Duration::ZERO, when_down, deadline, faults, answer)
    }

    /// The same, with serving taking `serving` of virtual time.
    fn serving_for(
        serving: Duration,
        when_down: WhenDown,
        deadline: Deadline,
        faults: FaultPlan,
        answer: fn() -> Served<()>,
    ) -> (String, u64) {
        let outcome = Case::quick("test/trip", move |world| {
            world.node("target");
            world.node("client").process("trip", move |ctx| async move {
                ctx.sleep(Duration::from_millis(10)).await;
                let trip = Trip {
                    when_down,
                    deadline,
                    ..Trip::new("target", "ping")
                };
                let serve = |_: Arrival| async move {
                    // madsim's sleep of zero still waits for its next timer tick.
                    if serving > Duration::ZERO {
                        rt::sleep(serving).await;
                    }
                    answer()
                };
                let _ = ctx.round_trip(trip, serve).await;
            });
        })
        .net(NetConfig {
            latency_min: LATENCY,
            latency_max: LATENCY,
            call_timeout: TIMEOUT,
        })
        .faults(faults)
        .run(Seed(1));
        let recv = outcome
            .trace
            .events()
            .iter()
            .find(|event| event.kind == EventKind::Recv)
            .expect("the client received something");
        let millis = recv.time.0.as_millis() as u64;
        (recv.detail.clone(), millis)
    }

    fn reply() -> Served<()> {
        Served::Reply((), "pong".to_string())
    }

    fn reset() -> Served<()> {
        let (drop, recv) = ("session gone".to_string(), "connection reset".to_string());
        Served::Reset { drop, recv }
    }

    fn silent() -> Served<()> {
        Served::Silent("handler stopped".to_string())
    }

    fn down() -> FaultPlan {
        FaultPlan::new().at(Duration::ZERO, Fault::crash("target"))
    }

    fn isolated() -> FaultPlan {
        FaultPlan::new().at(Duration::ZERO, Fault::isolate("target"))
    }

    #[test]
    fn a_reply_comes_back_after_one_latency_each_way() {
        let answer = trip_of(WhenDown::Lost, Deadline::Whole, FaultPlan::new(), reply);
        assert_eq!(answer, ("pong".to_string(), 20));
    }

    #[test]
    fn a_lost_request_is_learned_at_the_timeout_and_a_refused_one_a_latency_later() {
        let lost = trip_of(WhenDown::Lost, Deadline::Whole, down(), reply);
        assert_eq!(lost, ("timeout".to_string(), 210));
        let refused = trip_of(WhenDown::Refused, Deadline::Whole, down(), reply);
        assert_eq!(refused, ("refused".to_string(), 20));
        let cut_off = trip_of(WhenDown::Refused, Deadline::Whole, isolated(), reply);
        assert_eq!(
            cut_off,
            ("timeout".to_string(), 210),
            "no RST over a cut link"
        );
    }

    #[test]
    fn a_reset_comes_back_a_latency_later_and_silence_at_the_timeout() {
        let reset_now = trip_of(WhenDown::Lost, Deadline::Outbound, FaultPlan::new(), reset);
        assert_eq!(reset_now, ("connection reset".to_string(), 20));
        let silent_whole = trip_of(WhenDown::Lost, Deadline::Whole, FaultPlan::new(), silent);
        assert_eq!(silent_whole, ("timeout".to_string(), 210));
        // Outbound: the timeout counts from the end of serving, here the arrival at 15 ms.
        let silent_after = trip_of(WhenDown::Lost, Deadline::Outbound, FaultPlan::new(), silent);
        assert_eq!(silent_after, ("timeout".to_string(), 215));
    }

    #[test]
    fn a_reset_from_a_target_cut_off_while_serving_is_silence() {
        // Arrives at 15 ms, served until 25 ms; the target is cut off at 20 ms.
        let faults = FaultPlan::new().at(Duration::from_millis(20), Fault::isolate("target"));
        let serving = Duration::from_millis(10);
        let (whole, outbound) = (Deadline::Whole, Deadline::Outbound);
        let cut = serving_for(serving, WhenDown::Lost, outbound, faults.clone(), reset);
        assert_eq!(
            cut,
            ("timeout".to_string(), 225),
            "a whole timeout after serving"
        );
        let cut = serving_for(serving, WhenDown::Lost, whole, faults, reset);
        assert_eq!(
            cut,
            ("timeout".to_string(), 210),
            "the timeout from the send"
        );
        let up = serving_for(serving, WhenDown::Lost, whole, FaultPlan::new(), reset);
        assert_eq!(up, ("connection reset".to_string(), 30));
    }
}
