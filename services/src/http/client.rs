//! The calling side: `ctx.http(node, request)`, one request/response over the simulated
//! network with the plan's request faults.
//!
//! Request faults in the chaos phase: `reject` answers 503 without running the handler;
//! `duplicate` runs the handler twice (the caller sees the first response); `reply_lost`
//! runs it and loses the response (the caller times out after the side effect); `delay` slows
//! the response so later ones can overtake it. Not modelled: retries inside the client (a
//! model writes its own), connection reuse.

use std::time::Duration;

use futures::channel::oneshot;

use super::server::{Endpoints, Incoming};
use super::{HttpError, HttpRequest, HttpResponse};
use syncsim_sim::ctx::Ctx;
use syncsim_sim::kit;
use syncsim_sim::trace::EventKind;
use syncsim_sim::world::NodeStatus;

/// Calls the HTTP endpoint of another node from a process.
pub trait HttpCall {
    /// Sends `request` to the HTTP endpoint of node `target` and waits for the response.
    /// `Err(Refused)` when the target is down (nothing ran); `Err(Timeout)` when no response
    /// came within the call timeout (the handler may have run).
    // A process lives on one node's task set: its futures need not be `Send`.
    #[allow(async_fn_in_trait)]
    async fn http(&self, target: &str, request: HttpRequest) -> Result<HttpResponse, HttpError>;
}

impl HttpCall for Ctx {
    async fn http(&self, target: &str, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let started = kit::now();
        let outbound = self.send_request(target, request.to_string(), true).await;
        let (back, drawn, timeout) = (outbound.back, outbound.drawn, outbound.timeout);
        if outbound.reached.is_err() {
            let refused = self.world().status(target) == NodeStatus::Down && !self.cut_off(target);
            return if refused {
                self.refused(target, &request, back).await
            } else {
                let detail = format!("request lost: {request}");
                self.lost(target, detail, outbound.remaining()).await
            };
        }
        if drawn.reject {
            let response = HttpResponse::status(503);
            self.message(
                target,
                EventKind::Apply,
                self.node(),
                format!("{request} -> 503"),
            );
            kit::sleep(back).await;
            self.message(self.node(), EventKind::Recv, target, response.to_string());
            return Ok(response);
        }
        let Some(receiver) = self.dispatch(target, &request) else {
            return self.refused(target, &request, back).await;
        };
        if drawn.duplicate {
            // An at-least-once network delivered it again; the caller sees the first response.
            drop(self.dispatch(target, &request));
        }
        let elapsed = kit::now().0 - started.0;
        let Some(Ok(response)) = kit::timeout(timeout.saturating_sub(elapsed), receiver).await
        else {
            let remaining = timeout.saturating_sub(kit::now().0 - started.0);
            let detail = format!("no response (handler stopped or too slow): {request}");
            return self.lost(target, detail, remaining).await;
        };
        self.message(
            target,
            EventKind::Apply,
            self.node(),
            format!("{request} -> {response}"),
        );
        let remaining = timeout.saturating_sub(kit::now().0 - started.0);
        if drawn.reply_lost {
            return self
                .lost(target, format!("response lost: {response}"), remaining)
                .await;
        }
        let back = back + drawn.extra_delay;
        if back > remaining {
            return self
                .lost(target, format!("response too late: {response}"), remaining)
                .await;
        }
        kit::sleep(back).await;
        self.message(self.node(), EventKind::Recv, target, response.to_string());
        Ok(response)
    }
}

/// The legs of one call, as steps of the caller's `Ctx`.
trait Legs {
    fn cut_off(&self, target: &str) -> bool;
    fn dispatch(
        &self,
        target: &str,
        request: &HttpRequest,
    ) -> Option<oneshot::Receiver<HttpResponse>>;
    async fn refused(
        &self,
        target: &str,
        request: &HttpRequest,
        back: Duration,
    ) -> Result<HttpResponse, HttpError>;
    async fn lost(
        &self,
        target: &str,
        detail: String,
        remaining: Duration,
    ) -> Result<HttpResponse, HttpError>;
}

impl Legs for Ctx {
    fn cut_off(&self, target: &str) -> bool {
        self.world().is_isolated(target) || self.world().is_isolated(self.node())
    }

    /// Hands the request to the target's endpoint; None when nothing listens there.
    fn dispatch(
        &self,
        target: &str,
        request: &HttpRequest,
    ) -> Option<oneshot::Receiver<HttpResponse>> {
        let (reply, receiver) = oneshot::channel();
        let incoming = Incoming {
            request: request.clone(),
            reply,
        };
        self.world()
            .slot::<Endpoints>()
            .deliver(target, incoming)
            .ok()?;
        Some(receiver)
    }

    async fn refused(
        &self,
        target: &str,
        request: &HttpRequest,
        back: Duration,
    ) -> Result<HttpResponse, HttpError> {
        let detail = format!("connection refused: {request}");
        self.message(target, EventKind::Drop, self.node(), detail);
        kit::sleep(back).await;
        self.message(self.node(), EventKind::Recv, target, "refused".to_string());
        Err(HttpError::Refused)
    }

    /// The request or its response is gone; the caller learns it when its timeout runs out.
    async fn lost(
        &self,
        target: &str,
        detail: String,
        remaining: Duration,
    ) -> Result<HttpResponse, HttpError> {
        self.lose(target, detail, remaining).await;
        Err(HttpError::Timeout)
    }
}
