//! The calling side: `ctx.http(node, request)`, one request/response over the simulated
//! network with the plan's request faults.
//!
//! One kernel round trip (`syncsim_sim::trip`): the client's timeout covers the whole call,
//! and a target that is down refuses the connection (while the network to it works).
//! Request faults in the chaos phase: `reject` answers 503 without running the handler (the
//! trace reads `rejected`); `duplicate` runs the handler twice (the caller sees the first
//! response); `reply_lost` runs it and loses the response (the caller times out after the
//! side effect); `delay` slows the response so later ones can overtake it. Not modelled:
//! retries inside the client (a model writes its own), connection reuse.

use futures::channel::oneshot;

use super::server::{Endpoints, Incoming};
use super::{HttpError, HttpRequest, HttpResponse};
use syncsim_sim::ctx::Ctx;
use syncsim_sim::kit::{Arrival, Served, Trip, TripError, WhenDown};
use syncsim_sim::trace::EventKind;

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
        let text = request.to_string();
        let trip = Trip {
            // A host whose server is down answers a connect with an RST.
            when_down: WhenDown::Refused,
            ..Trip::new(target, &text)
        };
        let serve = |arrival: Arrival| self.serve(target, request, arrival);
        match self.round_trip(trip, serve).await {
            Ok(response) => Ok(response),
            // A proxy in front of the service answered for it.
            Err(TripError::Rejected) => Ok(HttpResponse::status(503)),
            Err(TripError::Refused) => Err(HttpError::Refused),
            Err(TripError::Timeout | TripError::Reset) => Err(HttpError::Timeout),
        }
    }
}

/// The serving side of one call, as steps of the caller's `Ctx`.
trait Serve {
    async fn serve(
        &self,
        target: &str,
        request: HttpRequest,
        arrival: Arrival,
    ) -> Served<HttpResponse>;
    fn dispatch(
        &self,
        target: &str,
        request: &HttpRequest,
    ) -> Option<oneshot::Receiver<HttpResponse>>;
}

impl Serve for Ctx {
    /// Hands the request to the target's handler (twice for a duplicate delivery; the caller
    /// sees the first response) and waits for its response.
    async fn serve(
        &self,
        target: &str,
        request: HttpRequest,
        arrival: Arrival,
    ) -> Served<HttpResponse> {
        let Some(receiver) = self.dispatch(target, &request) else {
            return Served::Refused;
        };
        if arrival.duplicate {
            drop(self.dispatch(target, &request));
        }
        let Ok(response) = receiver.await else {
            return Served::Silent(format!("no response (handler stopped): {request}"));
        };
        let applied = format!("{request} -> {response}");
        self.message(target, EventKind::Apply, self.node(), applied);
        let text = response.to_string();
        Served::Reply(response, text)
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
}
