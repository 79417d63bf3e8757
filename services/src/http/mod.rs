//! HTTP between nodes: a node serves an async handler, other processes call it with
//! `ctx.http(node, request)`, with seeded latency, timeouts, refused connections and the
//! request faults of the plan.
//!
//! ```text
//!  caller ──latency──▶ target node up?  no: refused (the RST travels back)
//!    │                 isolated either side: lost, the caller times out
//!    │                 paused: the request waits for resume (or times out)
//!    │                 yes ──▶ endpoint daemon ──spawn──▶ handler(ctx, request) on the target
//!    ◀──latency── response (or lost after the side effect: the caller times out)
//! ```
//!
//! The handler runs on the target node, so a crash of that node mid-handler stops it halfway
//! and the caller gets no reply. Not modelled: HTTP/1.1 keep-alive, headers, streaming
//! bodies, load balancers, TLS; bodies are small JSON values.

mod client;
mod server;

pub use client::HttpCall;
pub use server::HttpServe;

use std::fmt;

use serde::{Deserialize, Serialize};

/// The HTTP methods the models use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

/// A request: method, path and a JSON body (`null` for none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The path, e.g. `/webhooks`.
    pub path: String,
    /// The body.
    pub body: serde_json::Value,
}

impl HttpRequest {
    /// A GET of `path`.
    pub fn get(path: &str) -> Self {
        HttpRequest {
            method: Method::Get,
            path: path.to_string(),
            body: serde_json::Value::Null,
        }
    }

    /// A POST of `body` to `path`.
    pub fn post(path: &str, body: serde_json::Value) -> Self {
        HttpRequest {
            method: Method::Post,
            path: path.to_string(),
            body,
        }
    }
}

impl fmt::Display for HttpRequest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = format!("{:?}", self.method).to_uppercase();
        write!(formatter, "{method} {}", self.path)?;
        if !self.body.is_null() {
            write!(formatter, " {}", self.body)?;
        }
        Ok(())
    }
}

/// A response: status code and JSON body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: serde_json::Value,
}

impl HttpResponse {
    /// A response with `status` and no body.
    pub fn status(status: u16) -> Self {
        HttpResponse {
            status,
            body: serde_json::Value::Null,
        }
    }

    /// 200 with `body`.
    pub fn ok(body: serde_json::Value) -> Self {
        HttpResponse { status: 200, body }
    }

    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl fmt::Display for HttpResponse {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.status)?;
        if !self.body.is_null() {
            write!(formatter, " {}", self.body)?;
        }
        Ok(())
    }
}

/// Why an HTTP call got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The target node is down: the connection was refused. Nothing ran.
    Refused,
    /// No response within the call timeout: the request or the response was lost, or the
    /// target was unreachable, paused too long or crashed mid-handler. It may have run.
    Timeout,
}

impl fmt::Display for HttpError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Refused => formatter.write_str("connection refused"),
            HttpError::Timeout => formatter.write_str("no response within the call timeout"),
        }
    }
}

impl std::error::Error for HttpError {}
