//! Properties of role_sync, read from ground truth: the mirror tables and the app's roles in
//! the database, the CRM's objects and pushes, the job queue's rows and attempts. Plus the
//! coverage marks a passing run must have hit: role jobs that ran before a parent reached
//! the CRM, a worker crash mid-job, and a worker isolated mid-job.
//!
//! Not checked: the editor and contact mirror rows themselves (the mirror's own tests do).

use std::collections::BTreeMap;

use syncsim_services::jobs::{checks, JobsLog};
use syncsim_services::pg::{Row, Value};
use syncsim_sim::{Fault, History, Property, Verdict, VirtualTime};

use super::schema::{affiliation_column as aff, role_column, CONTACT, EDITOR};
use super::{CRM, DB, JOBS, ROLE_SYNC_JOB};

const AFFILIATIONS: &str = "salesforce.contact_editor_affiliation";

/// Every property of the model.
pub fn all() -> Vec<Property> {
    vec![
        Property::eventually(
            "role_sync: no permanently failed affiliation",
            no_failed_affiliation,
        ),
        Property::eventually(
            "role_sync: every staff role reaches the CRM",
            every_staff_role_synced,
        ),
        Property::eventually(
            "role_sync: a role whose contact never arrives fails visibly",
            lost_contact_fails_visibly,
        ),
        Property::sometimes(
            "role_sync: a role job ran before its school's editor reached the CRM",
            |history| role_job_ran_before(history, EDITOR, role_column::SCHOOL_ID),
        ),
        Property::sometimes(
            "role_sync: a role job ran before its contact reached the CRM",
            |history| role_job_ran_before(history, CONTACT, role_column::USER_ID),
        ),
        checks::crash_mid_job(JOBS.name()),
        Property::sometimes(
            "role_sync: a worker lost its network mid-job",
            isolated_mid_job,
        ),
    ]
}

/// Some worker was isolated while one of its job attempts ran: its Postgres session (and so
/// its job's lock) outlived the link until the server noticed the dead connection.
fn isolated_mid_job(history: &History) -> bool {
    let isolations: Vec<(VirtualTime, &str)> = history
        .faults()
        .iter()
        .filter_map(|(time, fault)| match fault {
            Fault::Isolate { node } => Some((*time, node.as_str())),
            _ => None,
        })
        .collect();
    let log = history.read(&JOBS);
    log.attempts().iter().any(|attempt| {
        let until = attempt.end.as_ref().map(|end| end.at);
        isolations.iter().any(|(time, node)| {
            *node == attempt.worker
                && *time >= attempt.started
                && until.is_none_or(|end| *time < end)
        })
    })
}

fn text(value: &Value) -> String {
    match value {
        Value::Text(text) => text.clone(),
        Value::Int8(number) => number.to_string(),
        other => format!("{other:?}"),
    }
}

/// The role id a `RoleSyncJob`'s arguments name, as text.
fn role_of(args: &serde_json::Value) -> String {
    args["role_id"]
        .as_i64()
        .map(|id| id.to_string())
        .unwrap_or_default()
}

/// Staff roles: (role id, school id, user id), as text external ids.
fn staff_roles(history: &History) -> Vec<(String, String, String)> {
    let rows = history.read(&DB).table_snapshot("roles");
    rows.iter()
        .filter(|row| text(&row[role_column::KIND]) != "student")
        .map(|row| {
            (
                text(&row[role_column::ID]),
                text(&row[role_column::SCHOOL_ID]),
                text(&row[role_column::USER_ID]),
            )
        })
        .collect()
}

fn affiliations(history: &History) -> Vec<Row> {
    history.read(&DB).table_snapshot(AFFILIATIONS)
}

fn no_failed_affiliation(history: &History) -> Verdict {
    let rows = affiliations(history);
    let failed: Vec<&Row> = rows
        .iter()
        .filter(|row| text(&row[aff::LASTOP]) == "FAILED")
        .collect();
    if failed.is_empty() {
        return Verdict::Pass;
    }
    let described: Vec<String> = failed
        .iter()
        .map(|row| {
            format!(
                "{}: {}",
                text(&row[aff::EXTERNAL_ID]),
                text(&row[aff::ERROR])
            )
        })
        .collect();
    // The CRM create of each failed row and the mirror's update that wrote its error.
    let entities = failed.iter().flat_map(|row| {
        let external_id = text(&row[aff::EXTERNAL_ID]);
        [crm_external_id(&external_id), text(&row[aff::ERROR])]
    });
    Verdict::violated(format!("FAILED affiliations: {}", described.join("; "))).about(entities)
}

/// Each staff role whose school and user are in the CRM has its affiliation `SYNCED`.
fn every_staff_role_synced(history: &History) -> Verdict {
    let rows = affiliations(history);
    let crm = history.read(&CRM);
    for (role, school, user) in staff_roles(history) {
        let parents_in_crm =
            crm.object(EDITOR, &school).is_some() && crm.object(CONTACT, &user).is_some();
        if !parents_in_crm {
            continue;
        }
        let mine: Vec<&Row> = rows
            .iter()
            .filter(|row| text(&row[aff::EXTERNAL_ID]) == role)
            .collect();
        let synced = mine.len() == 1 && text(&mine[0][aff::LASTOP]) == "SYNCED";
        if !synced {
            let states: Vec<String> = mine.iter().map(|row| text(&row[aff::LASTOP])).collect();
            return Verdict::violated(format!(
                "role {role} (school {school}, user {user} both in the CRM): affiliation \
                 rows {states:?}"
            ))
            .about([&role, &school, &user].map(|id| crm_external_id(id)));
        }
    }
    Verdict::Pass
}

/// Each staff role whose contact never reached the CRM ended as a failed job with
/// `NotFound`, and left no affiliation row behind.
fn lost_contact_fails_visibly(history: &History) -> Verdict {
    let rows = affiliations(history);
    let jobs = JobsLog::jobs(&history.read(&DB));
    let crm = history.read(&CRM);
    for (role, _, user) in staff_roles(history) {
        if crm.object(CONTACT, &user).is_some() {
            continue;
        }
        let job = jobs
            .iter()
            .find(|job| job.kind == ROLE_SYNC_JOB && role_of(&job.args) == role);
        let outcome = job.map(|job| (job.outcome.clone(), job.error.clone()));
        let failed_visibly = matches!(&outcome, Some((Some(state), Some(error)))
            if state == "failed" && error.starts_with("NotFound"));
        let silent_row = rows.iter().any(|row| text(&row[aff::EXTERNAL_ID]) == role);
        if !failed_visibly || silent_row {
            return Verdict::violated(format!(
                "role {role} (user {user} never in the CRM): job ended {outcome:?}, \
                 affiliation row left: {silent_row}"
            ))
            .about([&role, &user].map(|id| crm_external_id(id)));
        }
    }
    Verdict::Pass
}

/// Some staff role's job started before the CRM held its parent of `object_type` (the parent
/// id in roles column `parent_column`).
fn role_job_ran_before(history: &History, object_type: &str, parent_column: usize) -> bool {
    let arrived: BTreeMap<String, VirtualTime> = {
        let crm = history.read(&CRM);
        let mut arrived = BTreeMap::new();
        for push in crm.pushes().iter().filter(|push| push.result.is_ok()) {
            if push.object_type == object_type {
                arrived.entry(push.external_id.clone()).or_insert(push.time);
            }
        }
        arrived
    };
    let parents: BTreeMap<String, String> = history
        .read(&DB)
        .table_snapshot("roles")
        .iter()
        .filter(|row| text(&row[role_column::KIND]) != "student")
        .map(|row| (text(&row[role_column::ID]), text(&row[parent_column])))
        .collect();
    let job_roles: BTreeMap<i64, String> = JobsLog::jobs(&history.read(&DB))
        .into_iter()
        .filter(|job| job.kind == ROLE_SYNC_JOB)
        .map(|job| (job.id, role_of(&job.args)))
        .collect();
    let log = history.read(&JOBS);
    log.attempts().iter().any(|attempt| {
        let parent = job_roles
            .get(&attempt.job)
            .and_then(|role| parents.get(role));
        parent.is_some_and(|parent| {
            arrived
                .get(parent)
                .is_none_or(|time| attempt.started < *time)
        })
    })
}

/// How the CRM's trace lines name an object by its external id, of any type: they write
/// `Type/id` (`upsert Contact/1 ..`, a reference `Contact__c -> Contact/1`), and a role's
/// affiliation, a school's editor and a user's contact share the id's number, so `/1` names
/// all three: bare numbers would match every line.
fn crm_external_id(id: &str) -> String {
    format!("/{id}")
}
