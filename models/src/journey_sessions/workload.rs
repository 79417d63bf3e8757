//! The world around the service: the CRM's HTTP face, the upstream pipeline that brings
//! contacts into the CRM after a seeded lag, and the CRM-side automation that starts each
//! journey once its contact is in the CRM and, for the last contacts, deletes the contact
//! mid-journey and calls the service's deletion webhook.
//!
//! The automation retries a start that got no answer or a 503 (a second start signals the
//! same workflow again) and gives up on any other failure, as a trigger that logs a 500
//! would. Not modelled: contact updates, the CRM's own rate limits on its API.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use syncsim_services::crm::{CrmRequest, CrmResponse, CrmStore};
use syncsim_services::http::{HttpRequest, HttpResponse};
use syncsim_sim::{Ctx, ServiceRef, WorldBuilder};

use super::app::{DELETED_PATH, START_PATH};
use super::schema::{contact_id, is_doomed};
use super::{JourneySessionsConfig, APP, CONTACT, CRM_API};
use syncsim_services::http::HttpCall;
use syncsim_services::http::HttpServe;

/// The CRM's HTTP API: `GET /contacts/<id>` answers 200 with the fields, or 404.
pub fn install_crm_api(world: &mut WorldBuilder, crm: &ServiceRef<CrmStore>) {
    let crm = crm.clone();
    world.node(CRM_API).http(move |ctx, request| {
        let crm = crm.clone();
        async move {
            let Some(id) = request.path.strip_prefix("/contacts/") else {
                return HttpResponse::status(404);
            };
            match ctx.call(&crm, get(id)).await {
                Ok(CrmResponse::Found(Some(object))) => HttpResponse::ok(json!(object.fields)),
                Ok(CrmResponse::Found(None)) => HttpResponse::status(404),
                _ => HttpResponse::status(503),
            }
        }
    });
}

fn get(external_id: &str) -> CrmRequest {
    CrmRequest::Get {
        object_type: CONTACT.to_string(),
        external_id: external_id.to_string(),
    }
}

/// The `upstream` and `automation` nodes.
pub fn install(
    world: &mut WorldBuilder,
    crm: &ServiceRef<CrmStore>,
    config: &JourneySessionsConfig,
) {
    let (upstream_crm, upstream_config) = (crm.clone(), config.clone());
    world.node("upstream").process("contacts", move |ctx| {
        upstream(ctx, upstream_crm.clone(), upstream_config.clone())
    });
    let mut automation = world.node("automation");
    for journey in 0..config.journey_count {
        let (crm, config) = (crm.clone(), config.clone());
        automation = automation.process(&format!("journey-{journey}"), move |ctx| {
            automate(ctx, crm.clone(), config.clone(), journey)
        });
    }
}

/// Upserts every contact into the CRM at its drawn arrival time.
async fn upstream(ctx: Ctx, crm: ServiceRef<CrmStore>, config: JourneySessionsConfig) {
    let mut arrivals: BTreeSet<(u64, u32)> = BTreeSet::new();
    for journey in 0..config.journey_count {
        let lag_ms = ctx.random(|prng| prng.range_inclusive(0, config.contact_lag_max_ms));
        arrivals.insert((lag_ms, journey));
    }
    let arrivals = arrivals.into_iter().map(|(arrival_ms, journey)| {
        let email = format!("contact{journey}@example.org");
        (arrival_ms, contact_id(journey).to_string(), email)
    });
    crate::upstream::deliver(&ctx, &crm, CONTACT, arrivals).await;
}

/// Starts journey `journey` once its contact is in the CRM; deletes a doomed contact later.
async fn automate(
    ctx: Ctx,
    crm: ServiceRef<CrmStore>,
    config: JourneySessionsConfig,
    journey: u32,
) {
    let contact = contact_id(journey).to_string();
    while !matches!(
        ctx.call(&crm, get(&contact)).await,
        Ok(CrmResponse::Found(Some(_)))
    ) {
        ctx.sleep(Duration::from_millis(500)).await;
    }
    sleep_up_to(&ctx, config.start_gap_max_ms).await;
    let start = HttpRequest::post(START_PATH, json!({ "journey": journey }));
    let status = call_app(&ctx, start, |status| status != 503).await;
    if status != 201 {
        ctx.note(format!(
            "automation: journey {journey} not started ({status})"
        ));
    }
    if !is_doomed(&config, journey) {
        return;
    }
    sleep_up_to(&ctx, config.delete_after_max_ms).await;
    let delete = CrmRequest::Delete {
        object_type: CONTACT.to_string(),
        external_id: contact.clone(),
    };
    while !matches!(
        ctx.call(&crm, delete.clone()).await,
        Ok(CrmResponse::Deleted(_))
    ) {
        ctx.sleep(Duration::from_secs(1)).await;
    }
    let webhook = HttpRequest::post(DELETED_PATH, json!({ "contact_id": contact }));
    // The CRM redelivers its webhook until the service takes it.
    call_app(&ctx, webhook, |status| (200..300).contains(&status)).await;
}

async fn sleep_up_to(ctx: &Ctx, max_ms: u64) {
    let ms = ctx.random(|prng| prng.range_inclusive(0, max_ms));
    ctx.sleep(Duration::from_millis(ms)).await;
}

/// Sends `request` to the app until an answer's status is `final_status`; that status.
async fn call_app(ctx: &Ctx, request: HttpRequest, final_status: fn(u16) -> bool) -> u16 {
    loop {
        match ctx.http(APP, request.clone()).await {
            Ok(response) if final_status(response.status) => return response.status,
            _ => ctx.sleep(Duration::from_millis(200)).await,
        }
    }
}
