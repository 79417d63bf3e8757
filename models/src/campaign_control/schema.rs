//! The campaign tables, the legacy workflow's state table, and the column positions the
//! properties read.
//!
//! Not modelled: contacts, templates, segments; `status_changed_at_micros` (virtual time of
//! the transition) stands in for the app's `updated_at`.

/// Tables as the campaign service creates them.
pub const SCHEMA: &str = "
CREATE TABLE campaigns (
    id bigint PRIMARY KEY,
    status text NOT NULL,
    status_changed_at_micros bigint NOT NULL DEFAULT 0);
CREATE TABLE campaign_messages (
    id bigint PRIMARY KEY,
    campaign_id bigint NOT NULL REFERENCES campaigns (id),
    contact_id bigint NOT NULL,
    status text NOT NULL DEFAULT 'PENDING',
    sent_at_micros bigint);
CREATE TABLE campaign_workflows (
    campaign_id bigint PRIMARY KEY REFERENCES campaigns (id),
    state text NOT NULL);
";

/// Column positions in `campaigns`.
pub(crate) mod campaign_column {
    pub const ID: usize = 0;
    pub const STATUS: usize = 1;
    pub const CHANGED_AT: usize = 2;
}

/// Column positions in `campaign_messages`.
pub(crate) mod message_column {
    pub const ID: usize = 0;
    pub const STATUS: usize = 3;
    pub const SENT_AT: usize = 4;
}

/// Column positions in `campaign_workflows`.
pub(crate) mod workflow_column {
    pub const CAMPAIGN_ID: usize = 0;
    pub const STATE: usize = 1;
}

/// The workload's rows: every campaign `SENDING` with its messages `PENDING` and its legacy
/// workflow running.
pub fn seed_rows(campaign_count: u32, messages_per_campaign: u32) -> String {
    let mut sql = String::new();
    for campaign in 1..=i64::from(campaign_count) {
        sql.push_str(&format!(
            "INSERT INTO campaigns (id, status) VALUES ({campaign}, 'SENDING');\n\
             INSERT INTO campaign_workflows (campaign_id, state) VALUES ({campaign}, 'running');\n"
        ));
        for index in 0..i64::from(messages_per_campaign) {
            let id = campaign * 10_000 + index;
            sql.push_str(&format!(
                "INSERT INTO campaign_messages (id, campaign_id, contact_id) \
                 VALUES ({id}, {campaign}, {index});\n"
            ));
        }
    }
    sql
}

/// The legacy workflow state that matches a campaign status.
pub fn workflow_state(status: &str) -> &'static str {
    match status {
        "PAUSED" => "paused",
        "STOPPED" => "stopped",
        _ => "running",
    }
}
