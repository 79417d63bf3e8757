//! The API and its operator: `POST /campaigns/{id}/{pause|resume|stop}` writes the status
//! (with the legacy workflow's state) in one transaction, then publishes the control event
//! the variant's way; the operator pauses, resumes and sometimes stops each campaign.
//!
//! Rules: pause only from `SENDING`; resume only from `PAUSED`; stop from `SENDING` or
//! `PAUSED`; `STOPPED` is terminal. A request that fails after the status commit (the awaited
//! publish of `request_correlation`) is compensated by resuming the legacy workflow. Not
//! modelled: authentication, the legacy workflow's own retries.

use std::time::Duration;

use serde_json::json;
use syncsim_services::broker::BrokerHandle;
use syncsim_services::http::{HttpRequest, HttpResponse};
use syncsim_services::pg::{DbError, PgHandle};
use syncsim_sim::{Ctx, WorldBuilder};

use super::ids::{request_id, uuid_v4};
use super::schema::workflow_state;
use super::{CampaignControlConfig, Mutation, Variant, API, CONTROL_TOPIC};
use syncsim_services::http::HttpCall;
use syncsim_services::http::HttpServe;

/// Coverage mark: a pause's control event could not be published.
pub const MARK_BROKER_DOWN_DURING_PAUSE: &str =
    "campaign_control: the broker was down during a pause";

/// The `api` node and one operator process per campaign.
pub fn install(
    world: &mut WorldBuilder,
    db: &PgHandle,
    broker: &BrokerHandle,
    config: &CampaignControlConfig,
) {
    let (db, broker, api_config) = (db.clone(), broker.clone(), config.clone());
    world.node(API).http(move |ctx, request| {
        let (db, broker, config) = (db.clone(), broker.clone(), api_config.clone());
        async move { handle(&ctx, &db, &broker, &config, &request).await }
    });
    let mut operator = world.node("operator");
    for campaign in 1..=i64::from(config.campaign_count) {
        let config = config.clone();
        operator = operator.process(&format!("campaign-{campaign}"), move |ctx| {
            operate(ctx, campaign, config.clone())
        });
    }
}

async fn operate(ctx: Ctx, campaign: i64, config: CampaignControlConfig) {
    let pause_at_ms = ctx.random(|prng| prng.range_inclusive(0, config.pause_at_max_ms));
    ctx.sleep(Duration::from_millis(pause_at_ms)).await;
    request(&ctx, campaign, "pause", &config).await;
    let half = config.pause_length_max_ms / 2;
    let paused_ms = ctx.random(|prng| prng.range_inclusive(half, config.pause_length_max_ms));
    ctx.sleep(Duration::from_millis(paused_ms)).await;
    request(&ctx, campaign, "resume", &config).await;
    if campaign <= i64::from(config.stop_count) {
        let running_ms = ctx.random(|prng| prng.range_inclusive(200, 1_500));
        ctx.sleep(Duration::from_millis(running_ms)).await;
        request(&ctx, campaign, "stop", &config).await;
        // An operator who clicks resume on a stopped campaign: the API must refuse it.
        request(&ctx, campaign, "resume", &config).await;
    }
}

/// One operator request, retried (same correlation id) while the API is unreachable.
async fn request(ctx: &Ctx, campaign: i64, action: &str, config: &CampaignControlConfig) {
    let now_millis = ctx.now().as_micros() / 1_000;
    let correlation_id = ctx.random(|prng| request_id(prng, config.foreign_id_ratio, now_millis));
    let path = format!("/campaigns/{campaign}/{action}");
    for _ in 0..3 {
        let body = json!({ "correlationId": correlation_id });
        match ctx.http(API, HttpRequest::post(&path, body)).await {
            Ok(response) => {
                ctx.note(format!(
                    "operator: {action} {campaign} -> {}",
                    response.status
                ));
                return;
            }
            Err(_) => ctx.sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn handle(
    ctx: &Ctx,
    db: &PgHandle,
    broker: &BrokerHandle,
    config: &CampaignControlConfig,
    request: &HttpRequest,
) -> HttpResponse {
    let mut parts = request.path.trim_start_matches('/').split('/');
    let (Some("campaigns"), Some(id), Some(action)) = (parts.next(), parts.next(), parts.next())
    else {
        return HttpResponse::status(404);
    };
    let Ok(campaign) = id.parse::<i64>() else {
        return HttpResponse::status(404);
    };
    let correlation_id = request.body["correlationId"].as_str().unwrap_or_default();
    match transition(ctx, db, campaign, action, config.mutation).await {
        Ok(Some(_)) => {}
        Ok(None) => return HttpResponse::status(409),
        Err(_) => return HttpResponse::status(500),
    }
    publish_control(ctx, db, broker, config, campaign, action, correlation_id).await
}

/// The status write: `Some(new status)` when the rules allow the action, `None` otherwise.
async fn transition(
    ctx: &Ctx,
    db: &PgHandle,
    campaign: i64,
    action: &str,
    mutation: Option<Mutation>,
) -> Result<Option<&'static str>, DbError> {
    let mut conn = db.connect(ctx).await?;
    conn.begin().await?;
    let select = "SELECT status FROM campaigns WHERE id = $1 FOR UPDATE";
    let status: String = conn
        .query_one(select, &[campaign.into()])
        .await?
        .get("status");
    let from_stopped = mutation == Some(Mutation::ResumeFromStopped) && status == "STOPPED";
    let next = match (action, status.as_str()) {
        ("pause", "SENDING") => Some("PAUSED"),
        ("resume", "PAUSED") => Some("SENDING"),
        ("resume", _) if from_stopped => Some("SENDING"),
        ("stop", "SENDING" | "PAUSED") => Some("STOPPED"),
        _ => None,
    };
    let Some(next) = next else {
        conn.rollback().await?;
        return Ok(None);
    };
    let now_micros = i64::try_from(ctx.now().as_micros()).unwrap_or(i64::MAX);
    let update = "UPDATE campaigns SET status = $2, status_changed_at_micros = $3 WHERE id = $1";
    conn.execute(update, &[campaign.into(), next.into(), now_micros.into()])
        .await?;
    let workflow = "UPDATE campaign_workflows SET state = $2 WHERE campaign_id = $1";
    conn.execute(workflow, &[campaign.into(), workflow_state(next).into()])
        .await?;
    conn.commit().await?;
    Ok(Some(next))
}

/// After the commit: publish the control event the variant's way.
async fn publish_control(
    ctx: &Ctx,
    db: &PgHandle,
    broker: &BrokerHandle,
    config: &CampaignControlConfig,
    campaign: i64,
    action: &str,
    request_correlation_id: &str,
) -> HttpResponse {
    let variant = config.variant;
    let correlation_id = match variant {
        Variant::TtlOnly => return HttpResponse::status(200),
        Variant::RequestCorrelation => request_correlation_id.to_string(),
        Variant::Fixed | Variant::Gated => ctx.random(uuid_v4),
    };
    let event =
        json!({ "campaignId": campaign, "action": action, "correlationId": correlation_id });
    let key = config.groups.key(campaign);
    let Err(error) = broker.publish(ctx, CONTROL_TOPIC, &key, &event).await else {
        return HttpResponse::status(200);
    };
    if action == "pause" {
        ctx.mark(MARK_BROKER_DOWN_DURING_PAUSE);
    }
    if matches!(variant, Variant::Fixed | Variant::Gated) {
        ctx.note(format!("api: control publish failed, best effort: {error}"));
        return HttpResponse::status(200);
    }
    // The request fails after the status commit: the API compensates the legacy workflow.
    let compensate = "UPDATE campaign_workflows SET state = 'running' WHERE campaign_id = $1";
    if let Ok(mut conn) = db.connect(ctx).await {
        let _ = conn.execute(compensate, &[campaign.into()]).await;
    }
    HttpResponse::status(502)
}
