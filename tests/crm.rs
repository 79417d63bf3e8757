//! The CRM mirror, Heroku Connect-like: application writes are captured by triggers into the
//! trigger log and sent from there, so a child can reach the CRM before its parent and fail
//! with the CRM's error text, and stays `FAILED` until the application updates the row or
//! requeues the entry; an update made while a push is in flight is sent too; a create whose
//! reply was lost fails with `duplicate value found` when it is sent again; rejections leave
//! entries queued until a later cycle; objects created upstream in the CRM flow back into a
//! mirror table; a downed sync daemon catches up after its restart; Connect's one writer
//! sends every table's entries serially in log order, on its notification interval.

use std::time::Duration;

use serde_json::json;
use syncsim::services::crm::{
    CrmRequest, CrmStore, MirrorCadence, MirrorConfig, MirrorReference, MirrorTable, PushKind,
};
use syncsim::services::pg::{PgConfig, PgServer, Value};
use syncsim::sim::{
    Case, Fault, FaultPlan, History, Outcome, Property, RandomFault, Ratio, RequestFaults, Seed,
    Verdict, WorldBuilder,
};

use crate::support::case;
use syncsim::services::crm::CrmWorld;
use syncsim::services::pg::PostgresWorld;

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

/// The three mapped tables: the editor and affiliation tables polled every `editor_poll` and
/// `affiliation_poll`, the contact table pulled every 200 ms.
fn tables(editor_poll: Duration, affiliation_poll: Duration) -> Vec<MirrorTable> {
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
    vec![
        table("editor", "Editor", &["name"], editor_poll),
        affiliation,
        contact,
    ]
}

/// One statement the app runs at a time (autocommit): (at, SQL, parameters).
type Step = (Duration, &'static str, Vec<Value>);

/// A mirror with `cadence` over `tables`, and an app that runs `steps` (the chaos phase lasts
/// 3 s, the heal phase `heal`).
fn scripted_case(
    cadence: MirrorCadence,
    tables: Vec<MirrorTable>,
    steps: Vec<Step>,
    faults: FaultPlan,
    heal: Duration,
) -> Case {
    let install = move |world: &mut WorldBuilder| {
        let pg = world.postgres("db", PgConfig::default());
        pg.setup(SCHEMA);
        let crm = world.crm("crm");
        let config = MirrorConfig {
            schema: "salesforce".to_string(),
            cadence: cadence.clone(),
            tables: tables.clone(),
        };
        world.crm_mirror("connect", &pg, &crm, config);
        let steps = steps.clone();
        world.node("app").process("script", move |ctx| {
            let (pg, steps) = (pg.clone(), steps.clone());
            async move {
                let mut db = pg.connect(&ctx).await.expect("db up");
                for (at, sql, params) in steps {
                    ctx.sleep(at.saturating_sub(ctx.now().0)).await;
                    db.execute(sql, &params).await.expect("app statement");
                }
                ctx.sleep(Duration::from_secs(3).saturating_sub(ctx.now().0))
                    .await;
            }
        });
    };
    let mut case = case(install, vec![], faults);
    case.phases.chaos = Duration::from_secs(3);
    case.phases.heal = heal;
    case.bounds.time_max = Duration::from_secs(600);
    case.bounds.events_max = 100_000;
    case
}

fn editor_insert(at_ms: u64) -> Step {
    let sql = "INSERT INTO salesforce.editor (external_id__c, name) VALUES ('ed-1', 'Ada')";
    (Duration::from_millis(at_ms), sql, vec![])
}

fn affiliation_insert(at_ms: u64) -> Step {
    let sql = "INSERT INTO salesforce.contact_editor_affiliation (external_id__c, editor__c) \
               VALUES ('af-1', 'ed-1')";
    (Duration::from_millis(at_ms), sql, vec![])
}

/// The CRM's pushes of `external_id`, as (kind, succeeded).
fn pushes_of(history: &History, external_id: &str) -> Vec<(PushKind, bool)> {
    let crm = history.service::<CrmStore>("crm");
    crm.pushes()
        .iter()
        .filter(|push| push.external_id == external_id)
        .map(|push| (push.kind, push.result.is_ok()))
        .collect()
}

/// The app writes an editor and an affiliation to it in one transaction at 10 ms (then idles
/// 2.5 s, so the chaos phase lasts that long); the editor table syncs every `editor_poll`, the
/// affiliation table every `affiliation_poll`.
fn mirror_case(editor_poll: Duration, affiliation_poll: Duration, faults: FaultPlan) -> Case {
    let install = move |world: &mut WorldBuilder| {
        let pg = world.postgres("db", PgConfig::default());
        pg.setup(SCHEMA);
        let crm = world.crm("crm");
        let config = MirrorConfig {
            schema: "salesforce".to_string(),
            cadence: MirrorCadence::PerTable,
            tables: tables(editor_poll, affiliation_poll),
        };
        world.crm_mirror("connect", &pg, &crm, config);
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

const FOREIGN_KEY_ERROR: &str =
    "Foreign key external ID: ed-1 not found for field Editor__c in entity Editor";

/// Goal: Heroku Connect never retries a FAILED row on its own, but an application UPDATE of it
/// (any column: the trigger makes it PENDING with a new log entry) sends it again. Method: the
/// affiliation is pushed before its editor and fails; at 1.5 s, after the editor synced, the
/// app touches the row. Without the capture trigger the row stays FAILED (shown by running
/// this test with the status trigger's application branch switched off).
#[test]
fn an_application_update_of_a_failed_row_sends_it_again() {
    let touch = "UPDATE salesforce.contact_editor_affiliation SET editor__c = editor__c";
    let steps = vec![
        affiliation_insert(10),
        editor_insert(20),
        (Duration::from_millis(1_500), touch, vec![]),
    ];
    let polls = tables(Duration::from_secs(1), Duration::from_millis(100));
    let case = scripted_case(
        MirrorCadence::PerTable,
        polls,
        steps,
        FaultPlan::new(),
        Duration::from_secs(2),
    );
    let outcome = run_expecting(case, Seed(1), "test: repaired by an update", |history| {
        let synced = Some((Value::from("SYNCED"), Value::Null, true));
        mirror_row(history, "contact_editor_affiliation", "af-1") == synced
            && pushes_of(history, "af-1") == [(PushKind::Create, false), (PushKind::Create, true)]
    });
    assert_eq!(outcome.failure, None);
}

/// Goal: setting a FAILED entry back to REQUEUE in `_trigger_log` (Connect's documented repair)
/// sends it again; until then the row stays FAILED with the CRM's text.
#[test]
fn a_requeued_entry_is_sent_again() {
    let requeue = "UPDATE salesforce._trigger_log SET state = 'REQUEUE' WHERE state = 'FAILED'";
    let steps = vec![
        affiliation_insert(10),
        editor_insert(20),
        (Duration::from_millis(1_500), requeue, vec![]),
    ];
    let polls = tables(Duration::from_secs(1), Duration::from_millis(100));
    let case = scripted_case(
        MirrorCadence::PerTable,
        polls.clone(),
        steps.clone(),
        FaultPlan::new(),
        Duration::from_secs(2),
    );
    let outcome = run_expecting(case, Seed(1), "test: repaired by requeue", |history| {
        mirror_row(history, "contact_editor_affiliation", "af-1")
            == Some((Value::from("SYNCED"), Value::Null, true))
    });
    assert_eq!(outcome.failure, None);
    // Without the requeue the row stays FAILED: the sync itself never retries it.
    let case = scripted_case(
        MirrorCadence::PerTable,
        polls,
        steps[..2].to_vec(),
        FaultPlan::new(),
        Duration::from_secs(2),
    );
    let outcome = run_expecting(case, Seed(1), "test: still failed", |history| {
        let failed = (Value::from("FAILED"), Value::from(FOREIGN_KEY_ERROR), false);
        mirror_row(history, "contact_editor_affiliation", "af-1") == Some(failed)
    });
    assert_eq!(outcome.failure, None);
}

/// Goal: an update made while the row's push is in flight is sent too, and the push's
/// write-back leaves the row PENDING for it instead of SYNCED. Method: the CRM is paused
/// from 50 ms to 150 ms, so the editor's create (sent at 100 ms) waits there; the app
/// renames the editor at 120 ms. The CRM ends with the new name, after a create and an
/// upsert, and the first write-back committed the row as PENDING with its sfid.
#[test]
fn an_update_made_while_a_push_is_in_flight_is_sent_too() {
    let rename = "UPDATE salesforce.editor SET name = 'Ada L.'";
    let steps = vec![
        editor_insert(10),
        (Duration::from_millis(120), rename, vec![]),
    ];
    let faults = FaultPlan::new()
        .at(Duration::from_millis(50), Fault::pause("crm"))
        .at(Duration::from_millis(150), Fault::resume("crm"));
    let polls = tables(Duration::from_millis(100), Duration::from_secs(1));
    let case = scripted_case(
        MirrorCadence::PerTable,
        polls,
        steps,
        faults,
        Duration::from_secs(1),
    );
    let outcome = run_expecting(
        case,
        Seed(1),
        "test: the rename reached the CRM",
        |history| {
            let name = history
                .service::<CrmStore>("crm")
                .object("Editor", "ed-1")
                .map(|object| object.fields["name"].clone());
            let server = history.service::<PgServer>("db");
            let held_pending = server.commit_log().iter().any(|txn| {
                txn.changes.get("salesforce.editor").is_some_and(|changes| {
                    changes.iter().any(|change| {
                        let width = change.values.len();
                        !change.values[width - 3].is_null()
                            && change.values[width - 2] == Value::from("PENDING")
                    })
                })
            });
            drop(server);
            name == Some(json!("Ada L."))
                && held_pending
                && pushes_of(history, "ed-1")
                    == [(PushKind::Create, true), (PushKind::Upsert, true)]
                && mirror_row(history, "editor", "ed-1")
                    == Some((Value::from("SYNCED"), Value::Null, true))
        },
    );
    assert_eq!(outcome.failure, None);
}

/// Goal: a create that reached the CRM but whose reply was lost is sent again and fails with
/// `duplicate value found` (Heroku Connect's documented behaviour with an external id), and
/// the row ends FAILED although the CRM holds the object. The lost replies are the plan's
/// request faults, targeted at the CRM only: the app's Postgres statements are untouched.
#[test]
fn a_create_whose_reply_was_lost_fails_with_duplicate_value_found() {
    let lossy = FaultPlan::new().random(RandomFault::Requests(RequestFaults {
        reply_lost_probability: Ratio::new(1, 1),
        targets: vec!["crm".to_string()],
        ..RequestFaults::default()
    }));
    let polls = tables(Duration::from_millis(500), Duration::from_secs(1));
    let case = scripted_case(
        MirrorCadence::PerTable,
        polls,
        vec![editor_insert(10)],
        lossy,
        Duration::from_secs(2),
    );
    let outcome = run_expecting(
        case,
        Seed(3),
        "test: duplicate after a lost reply",
        |history| {
            let row = mirror_row(history, "editor", "ed-1");
            let duplicate = row.as_ref().is_some_and(|(lastop, error, _)| {
                *lastop == Value::from("FAILED")
                    && error
                        .to_pg_text()
                        .starts_with("duplicate value found: external_id__c")
            });
            let in_crm = history
                .service::<CrmStore>("crm")
                .object("Editor", "ed-1")
                .is_some();
            let lost_sql = history
                .trace()
                .events()
                .iter()
                .any(|event| event.detail.contains("connection dropped"));
            duplicate && in_crm && !lost_sql
        },
    );
    assert_eq!(outcome.failure, None);
}

/// Goal: Heroku Connect's cadence: one writer process sends every table's entries serially in
/// log order (here the affiliation, written first, before its editor: it fails) in the cycle
/// it runs on start (10 s, its first tick); a later change (a rename at 32 s) is sent on the
/// next 10 s notification tick (40 s), not at the 2-minute cycle, and not on the tables' own
/// 100 ms intervals (those are pull intervals here).
#[test]
fn the_connect_writer_sends_all_tables_serially_in_log_order_on_its_notify_tick() {
    let polls = tables(Duration::from_millis(100), Duration::from_millis(100));
    let rename = "UPDATE salesforce.editor SET name = 'Ada L.'";
    let steps = vec![
        affiliation_insert(10),
        editor_insert(20),
        (Duration::from_secs(32), rename, vec![]),
    ];
    let case = scripted_case(
        MirrorCadence::heroku_connect(),
        polls,
        steps,
        FaultPlan::new(),
        Duration::from_secs(60),
    );
    let outcome = run_expecting(
        case,
        Seed(1),
        "test: serial, in log order, notified",
        |history| {
            let crm = history.service::<CrmStore>("crm");
            let sent: Vec<(String, u64, String)> = crm
                .pushes()
                .iter()
                .map(|push| {
                    (
                        push.external_id.clone(),
                        push.time.0.as_secs(),
                        push.node.clone(),
                    )
                })
                .collect();
            drop(crm);
            let failed = (Value::from("FAILED"), Value::from(FOREIGN_KEY_ERROR), false);
            let expected = [("af-1", 10), ("ed-1", 10), ("ed-1", 40)]
                .map(|(id, at)| (id.to_string(), at, "connect".to_string()));
            sent == expected
                && mirror_row(history, "contact_editor_affiliation", "af-1") == Some(failed)
        },
    );
    assert_eq!(outcome.failure, None);
}
