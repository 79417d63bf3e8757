//! A durable key-value register of integers with get, put and compare-and-set.
//!
//! The smallest service on which two clients can lose an update: each `Put` overwrites
//! whatever is stored. Every applied operation is logged with the value it found and the one
//! it left, which is the ground truth properties read. Durable: a crash loses nothing, since
//! every request is applied atomically on arrival. Not modelled: expiry, multi-key
//! transactions, storage limits.

use std::collections::BTreeMap;
use std::fmt;

use syncsim_sim::service::{Caller, Service};
use syncsim_sim::time::VirtualTime;

/// A request to the register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterRequest {
    /// Reads a key (0 when never written).
    Get {
        /// The key.
        key: String,
    },
    /// Overwrites a key.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: i64,
    },
    /// Writes `value` only if the key holds `expected`.
    CompareAndSet {
        /// The key.
        key: String,
        /// The value the caller read.
        expected: i64,
        /// The new value.
        value: i64,
    },
}

/// The register's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterResponse {
    /// The value read.
    Value(i64),
    /// The write was applied.
    Written,
    /// A compare-and-set found another value, which it returns.
    Mismatch(i64),
}

impl fmt::Display for RegisterRequest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterRequest::Get { key } => write!(formatter, "get {key}"),
            RegisterRequest::Put { key, value } => write!(formatter, "put {key} = {value}"),
            RegisterRequest::CompareAndSet {
                key,
                expected,
                value,
            } => write!(formatter, "set {key} = {value} if {expected}"),
        }
    }
}

impl fmt::Display for RegisterResponse {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterResponse::Value(value) => write!(formatter, "{value}"),
            RegisterResponse::Written => formatter.write_str("written"),
            RegisterResponse::Mismatch(found) => write!(formatter, "not written: holds {found}"),
        }
    }
}

/// One applied operation, as ground truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// When it was applied.
    pub time: VirtualTime,
    /// The calling node.
    pub node: String,
    /// The key.
    pub key: String,
    /// The value stored before the operation.
    pub before: i64,
    /// The value stored after it (equal to `before` for reads and failed compare-and-sets).
    pub after: i64,
    /// What kind of operation it was.
    pub op: Op,
}

/// The kind of an applied operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A `Get`.
    Read,
    /// A `Put`, or a compare-and-set that matched.
    Write,
    /// A compare-and-set that found another value and wrote nothing.
    Mismatch,
}

/// The register and its log.
#[derive(Clone, Debug, Default)]
pub struct Register {
    values: BTreeMap<String, i64>,
    log: Vec<Applied>,
}

impl Register {
    /// The value stored under `key` (0 when never written).
    pub fn value(&self, key: &str) -> i64 {
        self.values.get(key).copied().unwrap_or(0)
    }

    /// Every operation applied, in order.
    pub fn log(&self) -> &[Applied] {
        &self.log
    }
}

impl Service for Register {
    type Request = RegisterRequest;
    type Response = RegisterResponse;

    fn apply(&mut self, caller: Caller<'_>, request: RegisterRequest) -> RegisterResponse {
        let (key, after, op, response) = match request {
            RegisterRequest::Get { key } => {
                let value = self.value(&key);
                (key, value, Op::Read, RegisterResponse::Value(value))
            }
            RegisterRequest::Put { key, value } => {
                (key, value, Op::Write, RegisterResponse::Written)
            }
            RegisterRequest::CompareAndSet {
                key,
                expected,
                value,
            } => {
                let current = self.value(&key);
                if current == expected {
                    (key, value, Op::Write, RegisterResponse::Written)
                } else {
                    (
                        key,
                        current,
                        Op::Mismatch,
                        RegisterResponse::Mismatch(current),
                    )
                }
            }
        };
        let before = self.value(&key);
        self.log.push(Applied {
            time: caller.now,
            node: caller.node.to_string(),
            key: key.clone(),
            before,
            after,
            op,
        });
        self.values.insert(key, after);
        response
    }

    fn crash(&mut self) {
        // Durable: every applied write is already stored.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller<'static> {
        Caller {
            node: "client",
            now: VirtualTime::ZERO,
        }
    }

    fn get(key: &str) -> RegisterRequest {
        RegisterRequest::Get { key: key.into() }
    }

    #[test]
    fn put_overwrites_and_compare_and_set_checks_the_expected_value() {
        let mut register = Register::default();
        assert_eq!(
            register.apply(caller(), get("k")),
            RegisterResponse::Value(0)
        );
        let put = RegisterRequest::Put {
            key: "k".into(),
            value: 5,
        };
        assert_eq!(register.apply(caller(), put), RegisterResponse::Written);
        let stale = RegisterRequest::CompareAndSet {
            key: "k".into(),
            expected: 4,
            value: 6,
        };
        assert_eq!(
            register.apply(caller(), stale),
            RegisterResponse::Mismatch(5)
        );
        let fresh = RegisterRequest::CompareAndSet {
            key: "k".into(),
            expected: 5,
            value: 6,
        };
        assert_eq!(register.apply(caller(), fresh), RegisterResponse::Written);
        assert_eq!(register.value("k"), 6);
        let writes: Vec<(Op, i64, i64)> = register
            .log()
            .iter()
            .filter(|applied| applied.op != Op::Read)
            .map(|applied| (applied.op, applied.before, applied.after))
            .collect();
        let expected = vec![(Op::Write, 0, 5), (Op::Mismatch, 5, 5), (Op::Write, 5, 6)];
        assert_eq!(writes, expected);
    }

    #[test]
    fn a_crash_loses_nothing() {
        let mut register = Register::default();
        register.apply(
            caller(),
            RegisterRequest::Put {
                key: "k".into(),
                value: 3,
            },
        );
        register.crash();
        assert_eq!(register.value("k"), 3);
        assert_eq!(register.log().len(), 1);
    }

    #[test]
    fn requests_and_answers_read_as_people_write_them() {
        let set = RegisterRequest::CompareAndSet {
            key: "counter".into(),
            expected: 4,
            value: 5,
        };
        assert_eq!(get("counter").to_string(), "get counter");
        assert_eq!(set.to_string(), "set counter = 5 if 4");
        assert_eq!(RegisterResponse::Value(4).to_string(), "4");
        assert_eq!(
            RegisterResponse::Mismatch(7).to_string(),
            "not written: holds 7"
        );
    }
}
