//! `timestamptz` text input and output, in UTC, on a virtual clock.
//!
//! Values are microseconds since the Unix epoch; the simulation's virtual time zero is
//! [`SIM_EPOCH_UNIX_MICROS`] (2026-01-01T00:00:00Z). Not modelled: time zones other than UTC
//! (the session `TimeZone` is always UTC, so output always ends in `+00`, and a day is always
//! 24 hours), infinity, BC dates, timestamps past Unix microsecond `i64::MAX` (year 294,247;
//! PostgreSQL's range ends in 294,276, its epoch being 2000 rather than 1970).
//! Invariant: `parse(render(t)) == t` for every representable `t`.

use super::error::{PgError, SqlState};
use super::interval::Interval;

/// Unix time of the simulation epoch (2026-01-01T00:00:00Z), in microseconds.
pub const SIM_EPOCH_UNIX_MICROS: i64 = 1_767_225_600_000_000;

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;
const MICROS_PER_DAY: i64 = SECS_PER_DAY * MICROS_PER_SEC;

/// The lowest valid timestamp, 4714-11-24 00:00:00 BC, in Unix microseconds (PostgreSQL's
/// `MIN_TIMESTAMP`, -211813488000000000 from its 2000-01-01 epoch).
const MIN_UNIX_MICROS: i64 = -210_866_803_200_000_000;

/// 22008 `timestamp out of range`.
pub fn out_of_range() -> PgError {
    PgError::new(SqlState::DatetimeFieldOverflow, "timestamp out of range")
}

fn checked_valid(unix_micros: Option<i64>) -> Result<i64, PgError> {
    unix_micros
        .filter(|micros| *micros >= MIN_UNIX_MICROS)
        .ok_or_else(out_of_range)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `timestamptz + interval` (`timestamptz_pl_interval`): months by the calendar, the day
/// clamped to the new month's length (Jan 31 + 1 mon is Feb 28), then days, then time.
pub fn plus_interval(unix_micros: i64, interval: Interval) -> Result<i64, PgError> {
    let mut micros = unix_micros;
    if interval.months != 0 {
        let days = micros.div_euclid(MICROS_PER_DAY);
        let time_of_day = micros.rem_euclid(MICROS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let month_index = year * 12 + (month - 1) + i64::from(interval.months);
        let (year, month) = (month_index.div_euclid(12), month_index.rem_euclid(12) + 1);
        let day = day.min(days_in_month(year, month));
        micros = checked_valid(
            days_from_civil(year, month, day)
                .checked_mul(MICROS_PER_DAY)
                .and_then(|micros| micros.checked_add(time_of_day)),
        )?;
    }
    if interval.days != 0 {
        micros = checked_valid(micros.checked_add(i64::from(interval.days) * MICROS_PER_DAY))?;
    }
    checked_valid(micros.checked_add(interval.micros))
}

/// `timestamptz - timestamptz` (`timestamp_mi`): the difference in microseconds with whole
/// days split off by `justify_hours`, never months.
pub fn difference(left_unix_micros: i64, right_unix_micros: i64) -> Result<Interval, PgError> {
    let micros = left_unix_micros
        .checked_sub(right_unix_micros)
        .ok_or_else(super::interval::out_of_range)?;
    Interval {
        months: 0,
        days: 0,
        micros,
    }
    .justify_hours()
}

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

/// A date with a zone and no time (`2026-01-01+00`, `2026-01-01-05`): the zone is the rest
/// after the day, read as a time of day that has only a zone.
fn split_date_zone(text: &str) -> (&str, &str) {
    let zone_start = text
        .find('+')
        .or_else(|| text.match_indices('-').nth(2).map(|(at, _)| at));
    match zone_start {
        Some(at) if at > 0 => (&text[..at], &text[at..]),
        _ => (text, ""),
    }
}

/// Parses `YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][zone]` or `YYYY-MM-DD[zone]`; a missing zone
/// means UTC.
pub fn parse(text: &str) -> Result<i64, PgError> {
    let trimmed = text.trim();
    let (date, time) = match trimmed.find([' ', 'T']) {
        Some(split_index) => (&trimmed[..split_index], trimmed[split_index + 1..].trim()),
        None => split_date_zone(trimmed),
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
