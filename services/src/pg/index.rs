//! Key indexes over a heap: for each indexed column set, every key any row version ever had,
//! mapped to its chains. Unique checks and `WHERE key = constant` scans use them to visit a
//! few chains instead of the whole table.
//!
//! An index here is a superset, like a PostgreSQL B-tree before VACUUM: entries for dead or
//! rolled-back versions stay, and every reader re-checks the versions it finds, so a stale
//! entry costs a lookup and never changes a result.
//! Not modelled: index-only scans, range scans, ordering by index.
//! Invariant: every version written since an index was built is in it (writers call
//! `record`), and an index is built over all existing versions before its first use.

use std::collections::{BTreeMap, BTreeSet};

use super::storage::{Chain, RowId};
use super::timestamp::date_to_micros;
use super::value::{render_jsonb, Value};

/// An ordered form of a column value whose equality is SQL equality (stored values already
/// have the column's type); the order among numeric keys is textual, not numeric, so it serves
/// lookups, not sorting.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndexKey {
    /// NULL (never equal to anything in SQL; lookups skip it).
    Null,
    /// boolean.
    Bool(bool),
    /// int4 and int8.
    Int(i64),
    /// text and varchar (and untyped text).
    Text(String),
    /// uuid.
    Uuid(u128),
    /// jsonb, by its canonical text.
    Json(String),
    /// timestamptz.
    Timestamp(i64),
    /// A date past the timestamp range (others key as the `Timestamp` of their midnight).
    Date(i32),
    /// interval, by its span: '1 mon' and '30 days' are one key, as in a PostgreSQL btree.
    Interval(i128),
    /// A non-integral (or past-bigint) numeric, by its value printed without trailing
    /// fractional zeros ('1.5' = '1.50'); an integral one keys as `Int`.
    Numeric(String),
}

impl IndexKey {
    /// The key of one value.
    pub fn of(value: &Value) -> IndexKey {
        match value {
            // A void value is cast before it reaches a column; it keys like NULL if ever.
            Value::Null | Value::Void => IndexKey::Null,
            Value::Bool(flag) => IndexKey::Bool(*flag),
            Value::Int4(number) => IndexKey::Int(i64::from(*number)),
            Value::Int8(number) => IndexKey::Int(*number),
            Value::Text(text) => IndexKey::Text(text.clone()),
            // bpchar keys ignore trailing blanks, as its comparison does.
            Value::Char(text) => IndexKey::Text(text.trim_end_matches(' ').to_string()),
            Value::Uuid(uuid) => IndexKey::Uuid(*uuid),
            Value::Jsonb(json) => IndexKey::Json(render_jsonb(json)),
            Value::Timestamptz(micros) => IndexKey::Timestamp(*micros),
            Value::Interval(interval) => IndexKey::Interval(interval.span_micros()),
            // A timestamp without time zone is the same instant in the session's zone, UTC.
            Value::Timestamp(micros) => IndexKey::Timestamp(*micros),
            // A date equals the timestamp of its midnight (date_eq_timestamptz, UTC), so a
            // date foreign key finds its timestamptz parent; a date past the timestamp range
            // equals no timestamp and keys by its day.
            Value::Date(days) => match date_to_micros(*days) {
                Ok(micros) => IndexKey::Timestamp(micros),
                Err(_) => IndexKey::Date(*days),
            },
            // An integral numeric keys as the integer it equals, so an int4 foreign key finds
            // its numeric parent (and back) as the implicit cast makes them equal.
            Value::Numeric(number) => match number.as_exact_i64() {
                Some(integer) => IndexKey::Int(integer),
                None => IndexKey::Numeric(number.key()),
            },
        }
    }
}

fn key_of(columns: &[usize], values: &[Value]) -> Vec<IndexKey> {
    columns
        .iter()
        .map(|column_index| IndexKey::of(&values[*column_index]))
        .collect()
}

/// The key indexes of one heap.
#[derive(Clone, Debug, Default)]
pub struct HeapIndexes {
    by_columns: BTreeMap<Vec<usize>, BTreeMap<Vec<IndexKey>, BTreeSet<RowId>>>,
}

impl HeapIndexes {
    /// No indexes built yet.
    pub const fn new() -> Self {
        HeapIndexes {
            by_columns: BTreeMap::new(),
        }
    }

    /// Builds the index on `columns` from every version, if it does not exist yet.
    pub fn ensure(&mut self, columns: &[usize], chains: &BTreeMap<RowId, Chain>) {
        if self.by_columns.contains_key(columns) {
            return;
        }
        let mut index: BTreeMap<Vec<IndexKey>, BTreeSet<RowId>> = BTreeMap::new();
        for (row_id, chain) in chains {
            for version in &chain.versions {
                index
                    .entry(key_of(columns, &version.values))
                    .or_default()
                    .insert(*row_id);
            }
        }
        self.by_columns.insert(columns.to_vec(), index);
    }

    /// Adds a newly written version to every built index.
    pub fn record(&mut self, row_id: RowId, values: &[Value]) {
        for (columns, index) in &mut self.by_columns {
            index
                .entry(key_of(columns, values))
                .or_default()
                .insert(row_id);
        }
    }

    /// Chains that may hold `key` in `columns` (call `ensure` first), in row order.
    pub fn candidates(&self, columns: &[usize], key: &[Value]) -> Vec<RowId> {
        let wanted: Vec<IndexKey> = key.iter().map(IndexKey::of).collect();
        self.by_columns
            .get(columns)
            .and_then(|index| index.get(&wanted))
            .map(|rows| rows.iter().copied().collect())
            .unwrap_or_default()
    }
}
