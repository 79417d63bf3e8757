//! The source's Events API: a pull view of its event stream, served over HTTP on the source's
//! node (`GET /events?after=<id>&limit=<n>`), and the client call a model uses to page
//! through it with a cursor.
//!
//! WorkOS offers this beside webhooks: "a consistently ordered stream" paged with an `after`
//! cursor, keeping events up to 30 days (workos.com/docs/events, read 2026-12-03). Here the
//! order is the source's emission order, and the cursor is a position in it, not an id to
//! compare. Being HTTP, a pull suffers the plan's network and node faults like any call. Not
//! modelled: `before`, `order`, `range_start`/`range_end`, event-type and organization
//! filters, API keys, rate limits, what WorkOS answers for an unknown cursor (here 400).

use serde_json::{json, Value as Json};

use super::source::{EventsError, EventsPage};
use super::WebhookHandle;
use crate::http::{HttpCall, HttpError, HttpRequest, HttpResponse, Method};
use syncsim_sim::ctx::Ctx;

/// The path the source serves its Events API on.
pub const EVENTS_PATH: &str = "/events";

/// One page as a client received it: event bodies shaped as webhook deliveries, and the
/// cursor for the next page (none: the page was empty, keep the cursor you had).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulledPage {
    /// The event bodies (`id`, `type`, `data`), oldest first.
    pub events: Vec<Json>,
    /// The last event's id.
    pub after: Option<String>,
}

/// Why a pull got no page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullError {
    /// No response (refused or timed out); nothing changed at the source.
    Http(HttpError),
    /// The source answered with an error status and message.
    Rejected(u16, String),
}

impl std::fmt::Display for PullError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PullError::Http(error) => write!(formatter, "events API: {error}"),
            PullError::Rejected(status, message) => {
                write!(formatter, "events API answered {status}: {message}")
            }
        }
    }
}

impl std::error::Error for PullError {}

impl WebhookHandle {
    /// Pulls up to `limit` events after the event `after` (from the oldest kept one without a
    /// cursor) from the source's Events API, over HTTP.
    pub async fn list_events(
        &self,
        ctx: &Ctx,
        after: Option<&str>,
        limit: usize,
    ) -> Result<PulledPage, PullError> {
        let mut path = format!("{EVENTS_PATH}?limit={limit}");
        if let Some(cursor) = after {
            path.push_str(&format!("&after={cursor}"));
        }
        let response = ctx
            .http(self.name(), HttpRequest::get(&path))
            .await
            .map_err(PullError::Http)?;
        if !response.is_success() {
            let message = response.body["message"].as_str().unwrap_or_default();
            return Err(PullError::Rejected(response.status, message.to_string()));
        }
        let events = response.body["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let after = response.body["list_metadata"]["after"]
            .as_str()
            .map(str::to_string);
        Ok(PulledPage { events, after })
    }
}

/// The HTTP handler on the source's node.
pub(crate) async fn serve(ctx: Ctx, source: WebhookHandle, request: HttpRequest) -> HttpResponse {
    let Some(query) = events_query(&request) else {
        return HttpResponse::status(404);
    };
    let limit = match query.limit.map(str::parse::<usize>) {
        None => 10,
        Some(Ok(limit)) => limit,
        Some(Err(_)) => return rejected(400, "limit is not a number"),
    };
    let now_micros = ctx.now().as_micros();
    let page = source.lock().events_after(query.after, limit, now_micros);
    match page {
        Ok(page) => HttpResponse::ok(page_body(&source, &page)),
        Err(error @ EventsError::UnknownCursor(_)) => rejected(400, &error.to_string()),
        Err(error @ EventsError::LimitOutOfRange(_)) => rejected(422, &error.to_string()),
    }
}

struct EventsQuery<'a> {
    after: Option<&'a str>,
    limit: Option<&'a str>,
}

/// The query of a `GET /events` request; none for any other request.
fn events_query(request: &HttpRequest) -> Option<EventsQuery<'_>> {
    let (path, query) = request
        .path
        .split_once('?')
        .unwrap_or((request.path.as_str(), ""));
    if request.method != Method::Get || path != EVENTS_PATH {
        return None;
    }
    let mut parsed = EventsQuery {
        after: None,
        limit: None,
    };
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("after", value)) => parsed.after = Some(value),
            Some(("limit", value)) => parsed.limit = Some(value),
            _ => {}
        }
    }
    Some(parsed)
}

fn page_body(source: &WebhookHandle, page: &EventsPage) -> Json {
    let state = source.lock();
    let data: Vec<Json> = page
        .data
        .iter()
        .map(|event| state.body(&event.id))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "list_metadata": { "after": page.after },
    })
}

fn rejected(status: u16, message: &str) -> HttpResponse {
    HttpResponse {
        status,
        body: json!({ "message": message }),
    }
}
