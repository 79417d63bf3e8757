//! The object store the endpoint uploads signature images to, outside any transaction: it
//! keeps every object put, so an upload whose signing later failed stays behind (orphaned,
//! as in the real bucket).
//!
//! Not modelled: object content, overwrite versions, deletion.

use std::collections::BTreeMap;
use std::fmt;

use syncsim_sim::{Ack, Caller, Service};

/// A signature image to store under `key`.
#[derive(Clone, Debug)]
pub struct PutObject {
    /// The object key.
    pub key: String,
}

impl fmt::Display for PutObject {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "put {}", self.key)
    }
}

/// The object store: durable.
#[derive(Debug, Default)]
pub struct ObjectStore {
    /// Object key -> how many times it was put.
    objects: BTreeMap<String, u32>,
}

impl ObjectStore {
    /// Every key put, with how many times.
    pub fn objects(&self) -> &BTreeMap<String, u32> {
        &self.objects
    }
}

impl Service for ObjectStore {
    type Request = PutObject;
    type Response = Ack;

    fn apply(&mut self, _caller: Caller<'_>, request: PutObject) -> Ack {
        *self.objects.entry(request.key).or_default() += 1;
        Ack
    }

    fn crash(&mut self) {}
}
