//! The serving side: each node with an HTTP handler runs an endpoint daemon that registers a
//! fresh request channel at every start and runs each request's handler as its own task.
//!
//! A crash kills the daemon and every running handler; their reply channels close, so their
//! callers get no response. Not modelled: a connection backlog or worker-pool limits.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::channel::{mpsc, oneshot};
use futures::StreamExt;

use super::{HttpRequest, HttpResponse};
use syncsim_sim::ctx::Ctx;
use syncsim_sim::kit;
use syncsim_sim::world::NodeBuilder;

type HandlerFuture = Pin<Box<dyn Future<Output = HttpResponse>>>;
pub(crate) type Handler = Arc<dyn Fn(Ctx, HttpRequest) -> HandlerFuture + Send + Sync>;

/// One request delivered to a node's endpoint.
pub(crate) struct Incoming {
    pub(crate) request: HttpRequest,
    pub(crate) reply: oneshot::Sender<HttpResponse>,
}

/// The request channel of every node that serves HTTP, as registered by its current run.
#[derive(Default)]
pub(crate) struct Endpoints {
    senders: Mutex<BTreeMap<String, mpsc::UnboundedSender<Incoming>>>,
}

impl Endpoints {
    fn register(&self, node: &str, sender: mpsc::UnboundedSender<Incoming>) {
        self.lock().insert(node.to_string(), sender);
    }

    /// Hands `incoming` to `node`'s endpoint; gives it back when the node serves no HTTP or
    /// its endpoint has not (re)started yet.
    pub(crate) fn deliver(&self, node: &str, incoming: Incoming) -> Result<(), Incoming> {
        match self.lock().get(node) {
            Some(sender) => sender
                .unbounded_send(incoming)
                .map_err(|error| error.into_inner()),
            None => Err(incoming),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, mpsc::UnboundedSender<Incoming>>> {
        // A panic while held is already a reported failure; keep serving the state.
        self.senders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Serves HTTP on a node.
pub trait HttpServe {
    /// Serves HTTP on this node: every request runs `handler` as its own task on the node.
    fn http<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Ctx, HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResponse> + 'static;
}

impl HttpServe for NodeBuilder<'_> {
    fn http<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Ctx, HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResponse> + 'static,
    {
        let handler: Handler = Arc::new(move |ctx, request| Box::pin(handler(ctx, request)));
        self.daemon("http", move |ctx| serve(ctx, handler.clone()))
    }
}

/// The endpoint daemon: registers a fresh channel, then runs a task per request.
async fn serve(ctx: Ctx, handler: Handler) {
    let (sender, mut receiver) = mpsc::unbounded();
    ctx.world().slot::<Endpoints>().register(ctx.node(), sender);
    while let Some(incoming) = receiver.next().await {
        let handler = handler.clone();
        let ctx = ctx.clone();
        kit::spawn_local(async move {
            let response = handler(ctx, incoming.request).await;
            // The caller may have given up; the response is then dropped.
            let _ = incoming.reply.send(response);
        });
    }
}
