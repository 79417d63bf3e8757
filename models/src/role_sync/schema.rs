//! The school app's tables, the CRM mirror tables (Heroku Connect-shaped) and their mapping,
//! and the ids the workload uses.
//!
//! Not modelled: the rest of the school app's schema; mirror columns beyond what the sync
//! reads (`_hc_lastop`, `_hc_err`, `sfid` and the mapped fields).

use std::time::Duration;

use syncsim_services::crm::{MirrorReference, MirrorTable};

use super::RoleSyncConfig;

/// The app's own tables and the mirror schema `salesforce`.
pub const SCHEMA: &str = "
CREATE TABLE schools (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
CREATE TABLE roles (
    id bigint PRIMARY KEY,
    school_id bigint NOT NULL REFERENCES schools (id),
    user_id bigint NOT NULL REFERENCES users (id),
    kind text NOT NULL);
CREATE SCHEMA salesforce;
CREATE TABLE salesforce.editor (
    id bigserial PRIMARY KEY, external_id__c text UNIQUE NOT NULL, name text,
    sfid text, _hc_lastop text NOT NULL DEFAULT 'PENDING', _hc_err text);
CREATE TABLE salesforce.contact (
    id bigserial PRIMARY KEY, external_id__c text UNIQUE NOT NULL, email text,
    sfid text, _hc_lastop text NOT NULL DEFAULT 'PENDING', _hc_err text);
CREATE TABLE salesforce.contact_editor_affiliation (
    id bigserial PRIMARY KEY, external_id__c text UNIQUE NOT NULL,
    editor__c text NOT NULL, contact__c text NOT NULL, role__c text NOT NULL,
    sfid text, _hc_lastop text NOT NULL DEFAULT 'PENDING', _hc_err text);
";

/// CRM object types.
pub const EDITOR: &str = "Editor__c";
/// The contact object type.
pub const CONTACT: &str = "Contact";
/// The affiliation object type.
pub const AFFILIATION: &str = "ContactEditorAffiliation__c";

/// Column positions in `salesforce.contact_editor_affiliation`.
pub(crate) mod affiliation_column {
    pub const EXTERNAL_ID: usize = 1;
    pub const LASTOP: usize = 6;
    pub const ERROR: usize = 7;
}

/// Column positions in `roles`.
pub(crate) mod role_column {
    pub const ID: usize = 0;
    pub const SCHOOL_ID: usize = 1;
    pub const USER_ID: usize = 2;
    pub const KIND: usize = 3;
}

fn table(name: &str, object_type: &str, fields: &[&str], poll_interval_ms: u64) -> MirrorTable {
    MirrorTable {
        table: format!("salesforce.{name}"),
        object_type: object_type.to_string(),
        key_column: "id".to_string(),
        external_id_column: "external_id__c".to_string(),
        fields: fields.iter().map(|field| field.to_string()).collect(),
        references: Vec::new(),
        poll_interval: Duration::from_millis(poll_interval_ms),
        batch_size_max: 200,
        pull: false,
    }
}

/// The mapping: each table on its own cadence; contacts flow back from the CRM.
pub fn mirror_tables(config: &RoleSyncConfig) -> Vec<MirrorTable> {
    let editor = table("editor", EDITOR, &["name"], config.editor_poll_interval_ms);
    let mut contact = table(
        "contact",
        CONTACT,
        &["email"],
        config.contact_poll_interval_ms,
    );
    contact.pull = true;
    let mut affiliation = table(
        "contact_editor_affiliation",
        AFFILIATION,
        &["role__c"],
        config.affiliation_poll_interval_ms,
    );
    let reference = |column: &str, field: &str, entity: &str| MirrorReference {
        column: column.to_string(),
        field: field.to_string(),
        entity: entity.to_string(),
    };
    affiliation.references = vec![
        reference("editor__c", "EditorUUID__c", EDITOR),
        reference("contact__c", "ContactUUID__c", CONTACT),
    ];
    vec![editor, contact, affiliation]
}

/// One role of the workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRow {
    /// Role id; its user has the same id.
    pub id: i64,
    /// The school.
    pub school_id: i64,
    /// `owner`, `teacher` or `student`.
    pub kind: &'static str,
}

/// The roles the workload creates, in creation order: each school's owner (created with the
/// school), then its teachers and students. Roles and users share ids.
pub fn roles(config: &RoleSyncConfig) -> Vec<RoleRow> {
    let mut roles = Vec::new();
    let mut next_id = 1;
    for school in 1..=i64::from(config.school_count) {
        let kinds = std::iter::once("owner")
            .chain(std::iter::repeat_n(
                "teacher",
                config.teachers_per_school as usize,
            ))
            .chain(std::iter::repeat_n(
                "student",
                config.students_per_school as usize,
            ));
        for kind in kinds {
            roles.push(RoleRow {
                id: next_id,
                school_id: school,
                kind,
            });
            next_id += 1;
        }
    }
    roles
}

/// Users whose contact never reaches the CRM: the last `lost_contact_count` staff users.
pub fn lost_users(config: &RoleSyncConfig) -> Vec<i64> {
    let staff = roles(config)
        .into_iter()
        .filter(|role| role.kind != "student");
    let mut ids: Vec<i64> = staff.map(|role| role.id).collect();
    let keep = ids.len().saturating_sub(config.lost_contact_count as usize);
    ids.split_off(keep)
}
