//! The CRM mirror: each table syncs on its own cadence, so a child can reach the CRM before
//! its parent and fail with the CRM's error text, and stays `FAILED`; rejections leave rows
//! pending until a later poll; objects created upstream in the CRM flow back into a mirror
//! table; a downed sync daemon catches up after its restart.

use std::time::Duration;

use serde_json::json;
use syncsim::sim::services::crm::{CrmRequest, CrmStore, MirrorReference, MirrorTable};
use syncsim::sim::services::pg::{PgConfig, PgServer, Value};
use syncsim::sim::{
    Case, Fault, FaultPlan, History, Outcome, Property, RandomFault, Ratio, RequestFaults, Seed,
    Verdict, WorldBuilder,
};

use crate::support::case;

const SCHEMA: &str = "
    CREATE SCHEMA salesforce;
    CREATE TABLE salesforce.editor (
        id bigserial PRIMARY KEY, external_id__c text UNIQUE NOT NULL, name text,
        sfid text, _hc_lastop text NOT NULL DEFAULT 'PENDING', _hc_err text);
    CREATE TABLE salesforce.contact (
        id bigserial PRIMARY KEY, external_id__c text UNIQUE NOT NULL, email text,
        sfid text, _hc_lastop text NOT NULL DEFAULT 'PENDING', _hc_err text);
    CREATE TABLE salesforce.contact_editor_affiliation (
        id bigserial PRIMARY KEY, external_id__c text UNIQUE NOT NULL, editor__c text,
        sfid text, _hc_lastop text NOT NULL DEFAULT 'PENDING', _hc_err text)";

fn table(name: &str, object_type: &str, fields: &[&str], poll_interval: Duration) -> MirrorTable {
    MirrorTable {
        table: format!("salesforce.{name}"),
        object_type: object_type.to_string(),
        key_column: "id".to_string(),
        external_id_column: "external_id__c".to_string(),
        fields: fields.iter().map(|field| field.to_string()).collect(),
        references: Vec::new(),
        poll_interval,
        batch_size_max: 10,
        pull: false,
    }
}

/// The app writes an editor and an affiliation to it in one transaction at 10 ms (then idles
/// 2.5 s, so the chaos phase lasts that long); the editor table syncs every `editor_poll`, the
/// affiliation table every `affiliation_poll`.
fn mirror_case(editor_poll: Duration, affiliation_poll: Duration, faults: FaultPlan) -> Case {
    let install = move |world: &mut WorldBuilder| {
        let pg = world.postgres("db", PgConfig::default());
        pg.setup(SCHEMA);
        let crm = world.crm("crm");
        let mut affiliation = table(
            "contact_editor_affiliation",
            "Affiliation__c",
            &[],
            affiliation_poll,
        );
        affiliation.references.push(MirrorReference {
            column: "editor__c".to_string(),
            field: "Editor__c".to_string(),
            entity: "Editor".to_string(),
        });
        let mut contact = table("contact", "Contact", &["email"], Duration::from_millis(200));
        contact.pull = true;
        let tables = vec![
            table("editor", "Editor", &["name"], editor_poll),
            affiliation,
            contact,
        ];
        world.crm_mirror("connect", &pg, &crm, tables);
        world.node("app").process("signup", move |ctx| {
            let pg = pg.clone();
            async move {
                ctx.sleep(Duration::from_millis(10)).await;
                let mut db = pg.connect(&ctx).await.expect("db up");
                db.begin().await.expect("begin");
                let editor = "INSERT INTO salesforce.editor (external_id__c, name) VALUES ($1, $2)";
                db.execute(editor, &["ed-1".into(), "Ada".into()])
                    .await
                    .expect("editor");
                let link = "INSERT INTO salesforce.contact_editor_affiliation \
                            (external_id__c, editor__c) VALUES ($1, $2)";
                db.execute(link, &["af-1".into(), "ed-1".into()])
                    .await
                    .expect("affiliation");
                db.commit().await.expect("commit");
                // Keep the chaos phase going for the timed and request faults of the tests.
                ctx.sleep(Duration::from_millis(2500)).await;
            }
        });
        world.node("upstream").process("contacts", move |ctx| {
            let crm = crm.clone();
            async move {
                // Contacts reach the CRM from another pipeline, with its own lag.
                ctx.sleep(Duration::from_millis(300)).await;
                let request = CrmRequest::Upsert {
                    object_type: "Contact".to_string(),
                    external_id: "co-1".to_string(),
                    fields: [("email".to_string(), json!("ada@example.org"))].into(),
                    references: Vec::new(),
                };
                let _ = ctx.call(&crm, request).await;
            }
        });
    };
    let mut case = case(install, vec![], faults);
    case.phases.chaos = Duration::from_secs(3);
    case.phases.heal = Duration::from_secs(3);
    case
}

/// The mirror row `(lastop, err, sfid present)` of `external_id` in `table`.
fn mirror_row(history: &History, table: &str, external_id: &str) -> Option<(Value, Value, bool)> {
    let server = history.service::<PgServer>("db");
    server
        .table_snapshot(&format!("salesforce.{table}"))
        .into_iter()
        .find(|row| row[1] == Value::from(external_id))
        .map(|row| {
            let width = row.len();
            let sfid_present = !row[width - 3].is_null();
            (row[width - 2].clone(), row[width - 1].clone(), sfid_present)
        })
}

fn run_expecting(
    case: Case,
    seed: Seed,
    name: &'static str,
    check: fn(&History) -> bool,
) -> Outcome {
    let mut case = case;
    let property = Property::eventually(name, move |history| {
        let crm = history.service::<CrmStore>("crm");
        let pushes = format!("{:?}", crm.pushes());
        drop(crm);
        Verdict::check(check(history), || pushes)
    });
    case = crate::support::with_properties(case, vec![property]);
    case.run(seed)
}

#[test]
fn a_child_pushed_before_its_parent_fails_with_the_crm_error_and_stays_failed() {
    let case = mirror_case(
        Duration::from_secs(1),
        Duration::from_millis(100),
        FaultPlan::new(),
    );
    let outcome = run_expecting(
        case,
        Seed(1),
        "test: affiliation failed, editor synced",
        |history| {
            let error =
                "Foreign key external ID: ed-1 not found for field Editor__c in entity Editor";
            let affiliation = mirror_row(history, "contact_editor_affiliation", "af-1");
            let editor = mirror_row(history, "editor", "ed-1");
            affiliation == Some((Value::from("FAILED"), Value::from(error), false))
                && editor == Some((Value::from("SYNCED"), Value::Null, true))
        },
    );
    assert_eq!(outcome.failure, None);
}

#[test]
fn a_parent_pushed_first_lets_the_child_sync() {
    let case = mirror_case(
        Duration::from_millis(100),
        Duration::from_secs(1),
        FaultPlan::new(),
    );
    let outcome = run_expecting(case, Seed(1), "test: both synced", |history| {
        let synced = Some((Value::from("SYNCED"), Value::Null, true));
        mirror_row(history, "contact_editor_affiliation", "af-1") == synced
            && mirror_row(history, "editor", "ed-1") == synced
    });
    assert_eq!(outcome.failure, None);
}

#[test]
fn rejections_leave_rows_pending_until_a_later_poll() {
    let rejecting = FaultPlan::new().random(RandomFault::Requests(RequestFaults {
        reject_probability: Ratio::new(1, 1),
        ..RequestFaults::default()
    }));
    let case = mirror_case(
        Duration::from_millis(100),
        Duration::from_secs(1),
        rejecting,
    );
    let outcome = run_expecting(case, Seed(2), "test: synced after the chaos", |history| {
        let crm = history.service::<CrmStore>("crm");
        // During chaos every push was rejected before reaching the store; after it, they land.
        let first_push = crm.pushes().first().map(|push| push.time.0);
        drop(crm);
        let synced = Some((Value::from("SYNCED"), Value::Null, true));
        first_push.is_some_and(|time| time >= Duration::from_millis(2500))
            && mirror_row(history, "editor", "ed-1") == synced
    });
    assert_eq!(outcome.failure, None);
}

#[test]
fn upstream_objects_flow_back_into_the_mirror_table() {
    let case = mirror_case(
        Duration::from_millis(100),
        Duration::from_millis(100),
        FaultPlan::new(),
    );
    let outcome = run_expecting(case, Seed(3), "test: the contact arrived", |history| {
        mirror_row(history, "contact", "co-1") == Some((Value::from("SYNCED"), Value::Null, true))
    });
    assert_eq!(outcome.failure, None);
}

#[test]
fn a_downed_sync_daemon_catches_up_after_restart_and_runs_replay() {
    let faults = FaultPlan::new()
        .at(Duration::from_millis(5), Fault::crash("connect"))
        .at(Duration::from_secs(2), Fault::restart("connect"));
    let case = mirror_case(Duration::from_millis(100), Duration::from_secs(1), faults);
    let outcome = run_expecting(
        case.clone(),
        Seed(4),
        "test: synced after restart",
        |history| {
            let crm = history.service::<CrmStore>("crm");
            let first_push = crm
                .pushes()
                .iter()
                .find(|push| push.node == "connect")
                .map(|push| push.time.0);
            drop(crm);
            first_push.is_some_and(|time| time >= Duration::from_secs(2))
                && mirror_row(history, "editor", "ed-1").is_some_and(|row| row.2)
        },
    );
    assert_eq!(outcome.failure, None);
    assert!(case.check_determinism(Seed(4)).is_ok());
}
