//! `CrmStore`: the CRM itself (Salesforce-like), an object store keyed by object type and
//! external id, with lookups by external id and references between objects by external id.
//!
//! An upsert whose reference names an external id the CRM does not hold fails with the
//! CRM's own error text (`Foreign key external ID: <id> not found for field <Field> in entity
//! <Entity>`), and nothing is written. A create (an insert, as Heroku Connect sends a row it
//! has no `sfid` for) of an external id the CRM already holds fails with Salesforce's
//! `duplicate value found: <Field> duplicates value on record with id: <sfid>`: so a create
//! whose reply was lost fails when it is sent again
//! (https://devcenter.heroku.com/articles/heroku-connect-write-errors, May 2024: "If you have
//! an External ID set, this error is likely due to Connect reprocessing an already committed
//! record. A successful commit can fail to report the success back to Connect"). Durable: every
//! request is applied atomically on arrival, so a crash loses nothing. Rate limits and 5xx answers
//! are the request faults of the plan (`reject`). A delete removes the object for every later read
//! (the recycle bin is not readable). Not modelled: field types and validation rules, triggers and
//! flows, duplicate rules, sharing, API versions, bulk jobs, undelete, cascades to referencing
//! objects.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::text::{write_joined, List};
use syncsim_sim::service::{Caller, Service};
use syncsim_sim::time::VirtualTime;

/// A reference from one object to another, by the other's external id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// The referencing field, e.g. `Contact__c`.
    pub field: String,
    /// The referenced object type, e.g. `Contact`.
    pub entity: String,
    /// The referenced object's external id.
    pub external_id: String,
}

/// One object in the CRM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CrmObject {
    /// The CRM's own id (18 characters, Salesforce-shaped).
    pub sfid: String,
    /// The object type, e.g. `Contact`.
    pub object_type: String,
    /// The external id the object is keyed by.
    pub external_id: String,
    /// The field values.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Its references, resolved when written.
    pub references: Vec<Reference>,
    /// When it was last written (Salesforce's `SystemModstamp`).
    pub modified_at: VirtualTime,
}

/// A request to the CRM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrmRequest {
    /// Creates or updates the object of `object_type` with `external_id`.
    Upsert {
        /// The object type.
        object_type: String,
        /// The external id.
        external_id: String,
        /// Field values to set.
        fields: BTreeMap<String, serde_json::Value>,
        /// References that must resolve.
        references: Vec<Reference>,
    },
    /// Creates the object of `object_type` with `external_id`; fails with `duplicate value
    /// found` when the CRM already holds that external id.
    Create {
        /// The object type.
        object_type: String,
        /// The external-id field's name, as the duplicate error names it.
        external_id_field: String,
        /// The external id.
        external_id: String,
        /// Field values to set.
        fields: BTreeMap<String, serde_json::Value>,
        /// References that must resolve.
        references: Vec<Reference>,
    },
    /// Looks an object up by external id.
    Get {
        /// The object type.
        object_type: String,
        /// The external id.
        external_id: String,
    },
    /// Every object of a type written at or after `modified_since`, in external-id order (a
    /// poll by `SystemModstamp`; `VirtualTime::ZERO` lists them all).
    List {
        /// The object type.
        object_type: String,
        /// The earliest last-write time listed.
        modified_since: VirtualTime,
    },
    /// Deletes an object by external id (a no-op when the CRM lacks it).
    Delete {
        /// The object type.
        object_type: String,
        /// The external id.
        external_id: String,
    },
}

/// The CRM's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrmResponse {
    /// The upsert was applied; the object's CRM id.
    Upserted {
        /// The CRM id.
        sfid: String,
    },
    /// The object looked up, if any.
    Found(Option<CrmObject>),
    /// The objects listed.
    Listed(Vec<CrmObject>),
    /// The delete was applied; whether the object existed.
    Deleted(bool),
    /// The request failed; nothing was written.
    Error(String),
}

/// Field values as `{Name: "Ann", Age__c: 7}`, in field order, each value as compact JSON.
struct Fields<'a>(&'a BTreeMap<String, serde_json::Value>);

impl fmt::Display for Fields<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(
            formatter,
            ["{", "}"],
            self.0,
            |formatter, (field, value)| write!(formatter, "{field}: {value}"),
        )
    }
}

impl fmt::Display for Reference {
    /// `Contact__c -> Contact/co-1`: the referencing field, then the object it names.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} -> {}/{}",
            self.field, self.entity, self.external_id
        )
    }
}

impl fmt::Display for CrmObject {
    /// `Contact/co-1 a0X000000000000001 {Name: "Ann"} refs [] modified 0.000001s`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}/{} {} {} refs {} modified {}",
            self.object_type,
            self.external_id,
            self.sfid,
            Fields(&self.fields),
            List(&self.references),
            self.modified_at
        )
    }
}

impl fmt::Display for CrmRequest {
    /// A verb, then the object as `Type/external-id`: `get Contact/co-1`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrmRequest::Upsert {
                object_type,
                external_id,
                fields,
                references,
            } => write!(
                formatter,
                "upsert {object_type}/{external_id} {} refs {}",
                Fields(fields),
                List(references)
            ),
            CrmRequest::Create {
                object_type,
                external_id_field,
                external_id,
                fields,
                references,
            } => write!(
                formatter,
                "create {object_type}/{external_id} by {external_id_field} {} refs {}",
                Fields(fields),
                List(references)
            ),
            CrmRequest::Get {
                object_type,
                external_id,
            } => write!(formatter, "get {object_type}/{external_id}"),
            CrmRequest::List {
                object_type,
                modified_since,
            } => write!(formatter, "list {object_type} since {modified_since}"),
            CrmRequest::Delete {
                object_type,
                external_id,
            } => write!(formatter, "delete {object_type}/{external_id}"),
        }
    }
}

impl fmt::Display for CrmResponse {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrmResponse::Upserted { sfid } => write!(formatter, "written {sfid}"),
            CrmResponse::Found(Some(object)) => write!(formatter, "found {object}"),
            CrmResponse::Found(None) => formatter.write_str("not found"),
            CrmResponse::Listed(objects) => write!(formatter, "listed {}", List(objects)),
            CrmResponse::Deleted(true) => formatter.write_str("deleted"),
            CrmResponse::Deleted(false) => formatter.write_str("nothing to delete"),
            CrmResponse::Error(message) => write!(formatter, "error: {message}"),
        }
    }
}

/// How a push wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PushKind {
    /// An upsert by external id.
    Upsert,
    /// A create, which fails on an existing external id.
    Create,
}

/// One applied upsert or create, as ground truth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Push {
    /// When it arrived.
    pub time: VirtualTime,
    /// Upsert or create.
    pub kind: PushKind,
    /// The calling node.
    pub node: String,
    /// The object type.
    pub object_type: String,
    /// The external id.
    pub external_id: String,
    /// The CRM id written, or the error text.
    pub result: Result<String, String>,
}

/// One applied delete, as ground truth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deletion {
    /// When it arrived.
    pub time: VirtualTime,
    /// The calling node.
    pub node: String,
    /// The object type.
    pub object_type: String,
    /// The external id.
    pub external_id: String,
    /// Whether the CRM held the object.
    pub existed: bool,
}

/// The CRM's objects and its logs of upserts and deletes.
#[derive(Debug, Default)]
pub struct CrmStore {
    objects: BTreeMap<(String, String), CrmObject>,
    pushes: Vec<Push>,
    deletions: Vec<Deletion>,
    sfids_issued: u64,
}

impl CrmStore {
    /// The object of `object_type` with `external_id`, if the CRM holds it.
    pub fn object(&self, object_type: &str, external_id: &str) -> Option<&CrmObject> {
        self.objects
            .get(&(object_type.to_string(), external_id.to_string()))
    }

    /// Every object, by type then external id.
    pub fn objects(&self) -> impl Iterator<Item = &CrmObject> {
        self.objects.values()
    }

    /// Every upsert and create the CRM received, with its result, in arrival order.
    pub fn pushes(&self) -> &[Push] {
        &self.pushes
    }

    /// Every delete the CRM received, in arrival order.
    pub fn deletions(&self) -> &[Deletion] {
        &self.deletions
    }

    /// The CRM's error for the first reference that does not resolve.
    fn missing_reference(&self, references: &[Reference]) -> Option<String> {
        let missing = references.iter().find(|reference| {
            self.object(&reference.entity, &reference.external_id)
                .is_none()
        })?;
        Some(format!(
            "Foreign key external ID: {} not found for field {} in entity {}",
            missing.external_id, missing.field, missing.entity
        ))
    }

    fn upsert(
        &mut self,
        now: VirtualTime,
        object_type: String,
        external_id: String,
        fields: BTreeMap<String, serde_json::Value>,
        references: Vec<Reference>,
    ) -> Result<String, String> {
        if let Some(error) = self.missing_reference(&references) {
            return Err(error);
        }
        let key = (object_type.clone(), external_id.clone());
        if let Some(existing) = self.objects.get_mut(&key) {
            existing.fields.extend(fields);
            existing.references = references;
            existing.modified_at = now;
            return Ok(existing.sfid.clone());
        }
        self.sfids_issued += 1;
        let sfid = format!("a0X{:015}", self.sfids_issued);
        self.objects.insert(
            key,
            CrmObject {
                sfid: sfid.clone(),
                object_type,
                external_id,
                fields,
                references,
                modified_at: now,
            },
        );
        Ok(sfid)
    }
}

impl CrmStore {
    /// A create: Salesforce's duplicate error when the external id is taken, else an insert.
    fn create(
        &mut self,
        now: VirtualTime,
        external_id_field: &str,
        object_type: String,
        external_id: String,
        fields: BTreeMap<String, serde_json::Value>,
        references: Vec<Reference>,
    ) -> Result<String, String> {
        if let Some(existing) = self.object(&object_type, &external_id) {
            return Err(format!(
                "duplicate value found: {external_id_field} duplicates value on record with id: \
                 {}",
                existing.sfid
            ));
        }
        self.upsert(now, object_type, external_id, fields, references)
    }

    /// Objects of `object_type` written at or after `modified_since`.
    fn list(&self, object_type: &str, modified_since: VirtualTime) -> Vec<CrmObject> {
        self.objects
            .values()
            .filter(|object| {
                object.object_type == object_type && object.modified_at >= modified_since
            })
            .cloned()
            .collect()
    }

    fn record_push(
        &mut self,
        caller: Caller<'_>,
        kind: PushKind,
        object_type: String,
        external_id: String,
        result: Result<String, String>,
    ) -> CrmResponse {
        self.pushes.push(Push {
            time: caller.now,
            kind,
            node: caller.node.to_string(),
            object_type,
            external_id,
            result: result.clone(),
        });
        match result {
            Ok(sfid) => CrmResponse::Upserted { sfid },
            Err(message) => CrmResponse::Error(message),
        }
    }
}

impl Service for CrmStore {
    type Request = CrmRequest;
    type Response = CrmResponse;

    fn apply(&mut self, caller: Caller<'_>, request: CrmRequest) -> CrmResponse {
        match request {
            CrmRequest::Upsert {
                object_type,
                external_id,
                fields,
                references,
            } => {
                let result = self.upsert(
                    caller.now,
                    object_type.clone(),
                    external_id.clone(),
                    fields,
                    references,
                );
                self.record_push(caller, PushKind::Upsert, object_type, external_id, result)
            }
            CrmRequest::Create {
                object_type,
                external_id_field,
                external_id,
                fields,
                references,
            } => {
                let result = self.create(
                    caller.now,
                    &external_id_field,
                    object_type.clone(),
                    external_id.clone(),
                    fields,
                    references,
                );
                self.record_push(caller, PushKind::Create, object_type, external_id, result)
            }
            CrmRequest::Get {
                object_type,
                external_id,
            } => CrmResponse::Found(self.object(&object_type, &external_id).cloned()),
            CrmRequest::List {
                object_type,
                modified_since,
            } => CrmResponse::Listed(self.list(&object_type, modified_since)),
            CrmRequest::Delete {
                object_type,
                external_id,
            } => {
                let key = (object_type.clone(), external_id.clone());
                let existed = self.objects.remove(&key).is_some();
                self.deletions.push(Deletion {
                    time: caller.now,
                    node: caller.node.to_string(),
                    object_type,
                    external_id,
                    existed,
                });
                CrmResponse::Deleted(existed)
            }
        }
    }

    fn crash(&mut self) {
        // Everything was applied atomically and durably on arrival.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(micros: u64) -> Caller<'static> {
        Caller {
            node: "admin",
            now: VirtualTime(std::time::Duration::from_micros(micros)),
        }
    }

    fn get(store: &mut CrmStore, external_id: &str) -> CrmResponse {
        let request = CrmRequest::Get {
            object_type: "Contact".to_string(),
            external_id: external_id.to_string(),
        };
        store.apply(caller(3), request)
    }

    fn create(external_id: &str) -> CrmRequest {
        CrmRequest::Create {
            object_type: "Contact".to_string(),
            external_id_field: "External_ID__c".to_string(),
            external_id: external_id.to_string(),
            fields: BTreeMap::new(),
            references: Vec::new(),
        }
    }

    /// Goal: a create applied once answers its sfid; the same create sent again (a retry after
    /// a lost reply) fails with Salesforce's duplicate error naming the field and the record,
    /// and changes nothing.
    #[test]
    fn a_create_sent_twice_fails_the_second_time_with_duplicate_value_found() {
        let mut store = CrmStore::default();
        let CrmResponse::Upserted { sfid } = store.apply(caller(1), create("co-1")) else {
            panic!("the first create succeeds");
        };
        let expected = format!(
            "duplicate value found: External_ID__c duplicates value on record with id: {sfid}"
        );
        assert_eq!(
            store.apply(caller(2), create("co-1")),
            CrmResponse::Error(expected)
        );
        assert_eq!(store.objects().count(), 1);
        let kinds: Vec<(PushKind, bool)> = store
            .pushes()
            .iter()
            .map(|push| (push.kind, push.result.is_ok()))
            .collect();
        assert_eq!(kinds, [(PushKind::Create, true), (PushKind::Create, false)]);
    }

    /// Goal: a list by last-write time returns only objects written at or after it (a pull
    /// that polls by `SystemModstamp` sees an object again only after it changes).
    #[test]
    fn a_list_by_modstamp_returns_objects_written_since() {
        let mut store = CrmStore::default();
        store.apply(caller(1), create("co-1"));
        store.apply(caller(5), create("co-2"));
        let list = |store: &mut CrmStore, since: u64| match store.apply(
            caller(9),
            CrmRequest::List {
                object_type: "Contact".to_string(),
                modified_since: caller(since).now,
            },
        ) {
            CrmResponse::Listed(objects) => objects
                .into_iter()
                .map(|object| object.external_id)
                .collect::<Vec<_>>(),
            other => panic!("a list answers Listed, got {other:?}"),
        };
        assert_eq!(list(&mut store, 0), ["co-1", "co-2"]);
        assert_eq!(list(&mut store, 5), ["co-2"]);
        assert!(list(&mut store, 6).is_empty());
    }

    #[test]
    fn a_deleted_object_is_gone_for_reads_and_logged() {
        let mut store = CrmStore::default();
        let upsert = CrmRequest::Upsert {
            object_type: "Contact".to_string(),
            external_id: "co-1".to_string(),
            fields: BTreeMap::new(),
            references: Vec::new(),
        };
        assert!(matches!(
            store.apply(caller(1), upsert),
            CrmResponse::Upserted { .. }
        ));
        let delete = CrmRequest::Delete {
            object_type: "Contact".to_string(),
            external_id: "co-1".to_string(),
        };
        assert_eq!(
            store.apply(caller(2), delete.clone()),
            CrmResponse::Deleted(true)
        );
        assert_eq!(get(&mut store, "co-1"), CrmResponse::Found(None));
        assert_eq!(store.apply(caller(4), delete), CrmResponse::Deleted(false));
        let logged: Vec<(u64, bool)> = store
            .deletions()
            .iter()
            .map(|deletion| (deletion.time.as_micros(), deletion.existed))
            .collect();
        assert_eq!(logged, vec![(2, true), (4, false)]);
    }

    #[test]
    fn requests_and_responses_render_for_people() {
        let reference = Reference {
            field: "Contact__c".to_string(),
            entity: "Contact".to_string(),
            external_id: "co-1".to_string(),
        };
        let upsert = CrmRequest::Upsert {
            object_type: "Affiliation__c".to_string(),
            external_id: "1".to_string(),
            fields: BTreeMap::from([
                ("Role__c".to_string(), serde_json::json!("staff")),
                ("Active__c".to_string(), serde_json::json!(true)),
            ]),
            references: vec![reference.clone()],
        };
        assert_eq!(
            upsert.to_string(),
            r#"upsert Affiliation__c/1 {Active__c: true, Role__c: "staff"} refs "#.to_string()
                + "[Contact__c -> Contact/co-1]"
        );
        assert_eq!(
            create("co-2").to_string(),
            "create Contact/co-2 by External_ID__c {} refs []"
        );
        let mut store = CrmStore::default();
        store.apply(caller(1), create("co-1"));
        assert_eq!(
            get(&mut store, "co-1").to_string(),
            "found Contact/co-1 a0X000000000000001 {} refs [] modified 0.000001s"
        );
        assert_eq!(get(&mut store, "co-9").to_string(), "not found");
        assert_eq!(
            store.apply(caller(4), create("co-1")).to_string(),
            "error: duplicate value found: External_ID__c duplicates value on record with id: \
             a0X000000000000001"
        );
    }
}
