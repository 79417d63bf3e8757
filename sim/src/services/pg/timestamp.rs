//! `timestamptz` text input and output, in UTC, on a virtual clock.
//!
//! Values are microseconds since the Unix epoch; the simulation's virtual time zero is
//! [`SIM_EPOCH_UNIX_MICROS`] (2026-01-01T00:00:00Z). Not modelled: time zones other than UTC
//! (the session `TimeZone` is always UTC, so output always ends in `+00`), infinity, BC dates,
//! intervals.
//! Invariant: `parse(render(t)) == t` for every representable `t`.

use super::error::{PgError, SqlState};

/// Unix time of the simulation epoch (2026-01-01T00:00:00Z), in microseconds.
pub const SIM_EPOCH_UNIX_MICROS: i64 = 1_767_225_600_000_000;

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// PostgreSQL's text output for a `timestamptz` in UTC, e.g. `2026-01-01 00:00:01.5+00`.
pub fn render(unix_micros: i64) -> String {
    let secs = unix_micros.div_euclid(MICROS_PER_SEC);
    let fraction_micros = unix_micros.rem_euclid(MICROS_PER_SEC);
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let day_secs = secs.rem_euclid(SECS_PER_DAY);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    );
    if fraction_micros != 0 {
        let digits = format!("{fraction_micros:06}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push_str("+00");
    text
}

fn invalid(text: &str) -> PgError {
    PgError::new(
        SqlState::InvalidDatetimeFormat,
        format!("invalid input syntax for type timestamp with time zone: \"{text}\""),
    )
}

fn number(part: &str, text: &str) -> Result<i64, PgError> {
    if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid(text));
    }
    part.parse().map_err(|_| invalid(text))
}

/// Splits a trailing zone (`Z`, `+HH`, `+HH:MM`, `-HHMM`) off a time of day; returns the
/// remaining text and the zone offset in seconds east of UTC.
fn split_zone<'a>(time: &'a str, text: &str) -> Result<(&'a str, i64), PgError> {
    if let Some(rest) = time.strip_suffix('Z').or_else(|| time.strip_suffix("UTC")) {
        return Ok((rest.trim_end(), 0));
    }
    let Some(sign_index) = time.rfind(['+', '-']) else {
        return Ok((time, 0));
    };
    let sign = if time.as_bytes()[sign_index] == b'-' {
        -1
    } else {
        1
    };
    let zone = time[sign_index + 1..].replace(':', "");
    let (hours, minutes) = match zone.len() {
        1 | 2 => (number(&zone, text)?, 0),
        4 => (number(&zone[..2], text)?, number(&zone[2..], text)?),
        _ => return Err(invalid(text)),
    };
    Ok((
        time[..sign_index].trim_end(),
        sign * (hours * 3600 + minutes * 60),
    ))
}

/// Parses `YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][zone]`; a missing zone means UTC.
pub fn parse(text: &str) -> Result<i64, PgError> {
    let trimmed = text.trim();
    let (date, time) = match trimmed.find([' ', 'T']) {
        Some(split_index) => (&trimmed[..split_index], trimmed[split_index + 1..].trim()),
        None => (trimmed, ""),
    };
    let date_parts: Vec<&str> = date.split('-').collect();
    let [year, month, day] = date_parts[..] else {
        return Err(invalid(text));
    };
    let (year, month, day) = (
        number(year, text)?,
        number(month, text)?,
        number(day, text)?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(invalid(text));
    }
    let (clock, offset_secs) = split_zone(time, text)?;
    let mut day_micros = 0;
    if !clock.is_empty() {
        let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
        let clock_parts: Vec<&str> = whole.split(':').collect();
        let (hours, minutes, secs) = match clock_parts[..] {
            [hours, minutes] => (number(hours, text)?, number(minutes, text)?, 0),
            [hours, minutes, secs] => (
                number(hours, text)?,
                number(minutes, text)?,
                number(secs, text)?,
            ),
            _ => return Err(invalid(text)),
        };
        let mut fraction_micros = 0;
        if !fraction.is_empty() {
            let padded = format!("{:0<6}", &fraction[..fraction.len().min(6)]);
            fraction_micros = number(&padded, text)?;
        }
        day_micros = (hours * 3600 + minutes * 60 + secs) * MICROS_PER_SEC + fraction_micros;
    }
    let days = days_from_civil(year, month, day);
    Ok(days * SECS_PER_DAY * MICROS_PER_SEC + day_micros - offset_secs * MICROS_PER_SEC)
}
