//! The identity provider: its org store (`idp-api`, where the app writes `external_id`) and
//! the admin process that creates, renames and deletes orgs and emits one webhook event per
//! change, carrying the org as the provider holds it after the change. Optionally a rename
//! comes with a second one committed with it, and both events leave in one millisecond.
//!
//! Every admin request names its org, so a retry after a lost reply changes nothing twice.
//! The admin's workload ends once the webhook source owes nothing (every event acknowledged
//! or given up on), so a run's chaos phase, which ends with the workload, covers the
//! retries. Not modelled: provider-side validation of names, org memberships, API
//! pagination.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use syncsim_services::webhook::WebhookHandle;
use syncsim_sim::{Caller, Ctx, Service, ServiceRef, VirtualTime};

use super::OrgSyncConfig;

/// An org as the provider holds it, and as its events carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    /// The provider's id, `org_<n>`.
    pub id: String,
    /// The display name the slug derives from.
    pub name: String,
    /// What the app wrote back: the local row id.
    pub external_id: Option<String>,
    /// Deleted at the provider.
    pub deleted: bool,
}

/// A request to the provider's API.
#[derive(Clone, Debug)]
pub enum DirectoryRequest {
    /// Create (or, on a retry, return) org `id`.
    Create { id: String, name: String },
    /// Rename org `id`.
    Rename { id: String, name: String },
    /// Delete org `id`.
    Delete { id: String },
    /// The app writes back its local id.
    SetExternalId { id: String, external_id: String },
}

impl fmt::Display for Org {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {:?}", self.id, self.name)?;
        if let Some(external_id) = &self.external_id {
            write!(formatter, " external id {external_id}")?;
        }
        if self.deleted {
            formatter.write_str(" (deleted)")?;
        }
        Ok(())
    }
}

impl fmt::Display for DirectoryRequest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectoryRequest::Create { id, name } => write!(formatter, "create {id} {name:?}"),
            DirectoryRequest::Rename { id, name } => write!(formatter, "rename {id} to {name:?}"),
            DirectoryRequest::Delete { id } => write!(formatter, "delete {id}"),
            DirectoryRequest::SetExternalId { id, external_id } => {
                write!(formatter, "set external id of {id} to {external_id}")
            }
        }
    }
}

/// One `external_id` write the provider applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalIdWrite {
    /// When it was applied.
    pub time: VirtualTime,
    /// The org.
    pub org: String,
    /// The value written.
    pub external_id: String,
}

/// The provider's org store: durable, so a crash loses nothing.
#[derive(Debug, Default)]
pub struct Directory {
    orgs: BTreeMap<String, Org>,
    external_id_writes: Vec<ExternalIdWrite>,
}

impl Directory {
    /// Every org, by provider id.
    pub fn orgs(&self) -> &BTreeMap<String, Org> {
        &self.orgs
    }

    /// Every `external_id` write, in order.
    pub fn external_id_writes(&self) -> &[ExternalIdWrite] {
        &self.external_id_writes
    }

    fn org_mut(&mut self, id: &str) -> &mut Org {
        self.orgs.entry(id.to_string()).or_insert_with(|| Org {
            id: id.to_string(),
            name: String::new(),
            external_id: None,
            deleted: false,
        })
    }
}

impl Service for Directory {
    type Request = DirectoryRequest;
    /// The org after the request.
    type Response = Org;

    fn apply(&mut self, caller: Caller<'_>, request: DirectoryRequest) -> Org {
        match request {
            DirectoryRequest::Create { id, name } => {
                let org = self.org_mut(&id);
                if org.name.is_empty() {
                    org.name = name;
                }
                org.clone()
            }
            DirectoryRequest::Rename { id, name } => {
                let org = self.org_mut(&id);
                org.name = name;
                org.clone()
            }
            DirectoryRequest::Delete { id } => {
                let org = self.org_mut(&id);
                org.deleted = true;
                org.clone()
            }
            DirectoryRequest::SetExternalId { id, external_id } => {
                self.external_id_writes.push(ExternalIdWrite {
                    time: caller.now,
                    org: id.clone(),
                    external_id: external_id.clone(),
                });
                let org = self.org_mut(&id);
                org.external_id = Some(external_id);
                org.clone()
            }
        }
    }

    fn crash(&mut self) {}
}

/// Names the provider hands out. The first two share the base slug `acme-corp`, so two
/// creates race for it; renames reuse these so slugs collide.
const NAMES: [&str; 8] = [
    "Acme Corp",
    "ACME corp.",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Soylent",
    "Vandelay",
];

/// The provider's workload: creates, renames (half onto a sibling's name), deletes; then it
/// waits until its webhook source owes nothing.
pub async fn admin(
    ctx: Ctx,
    idp: WebhookHandle,
    directory: ServiceRef<Directory>,
    config: OrgSyncConfig,
) {
    let org_count = config.org_count as usize;
    let mut names: Vec<String> = (0..org_count)
        .map(|index| NAMES[index % NAMES.len()].to_string())
        .collect();
    for (index, name) in names.iter().enumerate() {
        let create = DirectoryRequest::Create {
            id: format!("org_{index}"),
            name: name.clone(),
        };
        change(&ctx, &idp, &directory, "organization.created", create).await;
        // The first two creates go out together: they race for one base slug.
        if index >= 1 {
            gap(&ctx, &config).await;
        }
    }
    for rename_index in 0..config.rename_count as usize {
        rename(&ctx, &idp, &directory, &config, &mut names, rename_index).await;
        gap(&ctx, &config).await;
    }
    for delete_index in 0..(config.delete_count as usize).min(org_count) {
        let id = format!("org_{}", org_count - 1 - delete_index);
        change(
            &ctx,
            &idp,
            &directory,
            "organization.deleted",
            DirectoryRequest::Delete { id },
        )
        .await;
        gap(&ctx, &config).await;
    }
    // Retries after a receiver outage come minutes later; the run's chaos phase ends with
    // this workload, so it waits for them (bounded by the scenario's virtual-time bound),
    // then gives the app time to apply what it acknowledged last: the end-of-run checks may
    // follow at once when the chaos phase ran out before.
    while !idp.owes_nothing() {
        ctx.sleep(Duration::from_secs(1)).await;
    }
    ctx.sleep(SETTLE).await;
}

/// How long the workload outlasts the last acknowledgement: many times one apply (tens of
/// milliseconds) and a worker's lease (2 s).
const SETTLE: Duration = Duration::from_secs(10);

/// One rename of a random org, half the time onto a sibling's current name. With
/// `same_millisecond_probability` a second rename of the same org is committed with it and
/// both events are emitted in one millisecond, the second carrying the final name.
async fn rename(
    ctx: &Ctx,
    idp: &WebhookHandle,
    directory: &ServiceRef<Directory>,
    config: &OrgSyncConfig,
    names: &mut [String],
    rename_index: usize,
) {
    let org_count = names.len();
    let target = ctx.random(|prng| prng.index(org_count));
    let name = if ctx.random(|prng| prng.chance(syncsim_sim::Ratio::new(1, 2))) {
        names[ctx.random(|prng| prng.index(org_count))].clone()
    } else {
        NAMES[(org_count + rename_index) % NAMES.len()].to_string() + " Labs"
    };
    let id = format!("org_{target}");
    let first = DirectoryRequest::Rename {
        id: id.clone(),
        name: name.clone(),
    };
    let together = config.same_millisecond_probability.numerator > 0
        && ctx.random(|prng| prng.chance(config.same_millisecond_probability));
    if !together {
        names[target] = name;
        change(ctx, idp, directory, "organization.updated", first).await;
        return;
    }
    let second_name = name + " Inc";
    let second = DirectoryRequest::Rename {
        id,
        name: second_name.clone(),
    };
    let first_org = apply(ctx, directory, first).await;
    let second_org = apply(ctx, directory, second).await;
    names[target] = second_name;
    // No await between the two: one virtual instant, so one millisecond of ULID time.
    for org in [first_org, second_org] {
        let payload = serde_json::to_value(&org).expect("an org serializes");
        idp.emit(ctx, "organization.updated", payload);
    }
}

/// Applies `request` at the provider (retrying until it answers) and emits its event.
async fn change(
    ctx: &Ctx,
    idp: &WebhookHandle,
    directory: &ServiceRef<Directory>,
    kind: &str,
    request: DirectoryRequest,
) {
    let org = apply(ctx, directory, request).await;
    let payload = serde_json::to_value(&org).expect("an org serializes");
    idp.emit(ctx, kind, payload);
}

/// Applies `request` at the provider, retrying until it answers; the org after it.
async fn apply(ctx: &Ctx, directory: &ServiceRef<Directory>, request: DirectoryRequest) -> Org {
    loop {
        match ctx.call(directory, request.clone()).await {
            Ok(org) => return org,
            Err(_) => ctx.sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn gap(ctx: &Ctx, config: &OrgSyncConfig) {
    let gap_ms = ctx.random(|prng| prng.range_inclusive(0, config.action_gap_max_ms));
    ctx.sleep(Duration::from_millis(gap_ms)).await;
}
