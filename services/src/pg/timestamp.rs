//! `date`, `timestamp` and `timestamptz` text input and output, in UTC, on a virtual clock,
//! and the calendar arithmetic over them.
//!
//! Values are microseconds (days for `date`) since the Unix epoch; the simulation's virtual
//! time zero is [`SIM_EPOCH_UNIX_MICROS`] (2026-01-01T00:00:00Z). Input is ISO 8601 as
//! PostgreSQL 15 reads it (datatype-datetime.html, 8.5.1): `YYYY-MM-DD[( |T)HH:MM[:SS[.f]]]`
//! with an optional zone, fields range-checked (`2026-02-30` is 22008, `24:00:00` is the next
//! midnight, fractions past microseconds rounded); a `timestamp` or `date` ignores the zone
//! and a `date` the time, as PostgreSQL does. Output is DateStyle ISO; years before 1 AD
//! print with ` BC`.
//! Not modelled (0A000 naming it): time zones other than UTC (the session `TimeZone` is always
//! UTC, so output always ends in `+00`, and a day is always 24 hours), the other input
//! styles (`1/8/1999`, `January 8, 1999`, `19990108`, AM/PM, zone names, BC input), the
//! special values (`now`, `today`, `epoch`, `infinity`, ...), timestamps past Unix microsecond
//! `i64::MAX` (year 294,247; PostgreSQL's range ends in 294,276, its epoch being 2000).
//! Invariant: `parse(render(t)) == t` for every representable AD `t`, for each of the three
//! types (BC output is not read back: BC input is refused).

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
        micros = checked_valid(
            i64::from(interval.days)
                .checked_mul(MICROS_PER_DAY)
                .and_then(|shift| micros.checked_add(shift)),
        )?;
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

/// Which of the three date/time types a text is read as or printed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateTimeType {
    Date,
    Timestamp,
    Timestamptz,
}

impl DateTimeType {
    fn name(self) -> &'static str {
        match self {
            DateTimeType::Date => "date",
            DateTimeType::Timestamp => "timestamp without time zone",
            DateTimeType::Timestamptz => "timestamp with time zone",
        }
    }
}

/// `YYYY-MM-DD`, with ` BC` for years before 1 AD (astronomical year 0 is 1 BC).
fn render_civil(days: i64) -> (String, bool) {
    let (year, month, day) = civil_from_days(days);
    let before_christ = year <= 0;
    let year = if before_christ { 1 - year } else { year };
    (format!("{year:04}-{month:02}-{day:02}"), before_christ)
}

/// `HH:MM:SS[.ffffff]` with trailing zeros of the fraction dropped.
fn render_clock(day_micros: i64) -> String {
    let day_secs = day_micros / MICROS_PER_SEC;
    let fraction_micros = day_micros % MICROS_PER_SEC;
    let mut text = format!(
        "{:02}:{:02}:{:02}",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    );
    if fraction_micros != 0 {
        text.push('.');
        text.push_str(format!("{fraction_micros:06}").trim_end_matches('0'));
    }
    text
}

fn render_instant(unix_micros: i64, zone: &str) -> String {
    let (date, before_christ) = render_civil(unix_micros.div_euclid(MICROS_PER_DAY));
    let clock = render_clock(unix_micros.rem_euclid(MICROS_PER_DAY));
    let era = if before_christ { " BC" } else { "" };
    format!("{date} {clock}{zone}{era}")
}

/// PostgreSQL's text output for a `timestamptz` in UTC, e.g. `2026-01-01 00:00:01.5+00`.
pub fn render(unix_micros: i64) -> String {
    render_instant(unix_micros, "+00")
}

/// A `timestamp` (without time zone), e.g. `2026-01-01 00:00:01.5`.
pub fn render_timestamp(unix_micros: i64) -> String {
    render_instant(unix_micros, "")
}

/// A `date`, e.g. `2026-01-31`.
pub fn render_date(unix_days: i32) -> String {
    match render_civil(i64::from(unix_days)) {
        (date, true) => format!("{date} BC"),
        (date, false) => date,
    }
}

fn invalid(text: &str, kind: DateTimeType) -> PgError {
    // PostgreSQL names `timestamp` by its short name in input errors only.
    let name = match kind {
        DateTimeType::Timestamp => "timestamp",
        other => other.name(),
    };
    PgError::new(
        SqlState::InvalidDatetimeFormat,
        format!("invalid input syntax for type {name}: \"{text}\""),
    )
}

fn field_out_of_range(text: &str) -> PgError {
    PgError::new(
        SqlState::DatetimeFieldOverflow,
        format!("date/time field value out of range: \"{text}\""),
    )
}

/// Words PostgreSQL's date/time parser knows besides the special values (datetktbl in
/// datetime.c and the common zone abbreviations): input with one of them may be valid there.
const DATE_WORDS: &[&str] = &[
    "jan",
    "january",
    "feb",
    "february",
    "mar",
    "march",
    "apr",
    "april",
    "may",
    "jun",
    "june",
    "jul",
    "july",
    "aug",
    "august",
    "sep",
    "sept",
    "september",
    "oct",
    "october",
    "nov",
    "november",
    "dec",
    "december",
    "mon",
    "monday",
    "tue",
    "tues",
    "tuesday",
    "wed",
    "wednesday",
    "thu",
    "thur",
    "thurs",
    "thursday",
    "fri",
    "friday",
    "sat",
    "saturday",
    "sun",
    "sunday",
    "am",
    "pm",
    "ad",
    "bc",
    "at",
    "on",
    "j",
    "z",
    "zulu",
    "ut",
    "utc",
    "gmt",
    "est",
    "edt",
    "cst",
    "cdt",
    "mst",
    "mdt",
    "pst",
    "pdt",
    "akst",
    "akdt",
    "hst",
    "cet",
    "cest",
    "eet",
    "eest",
    "wet",
    "west",
    "bst",
    "ist",
    "msk",
    "jst",
    "kst",
    "aest",
    "aedt",
    "nzst",
    "nzdt",
];

/// Input outside the ISO form: refused as unsupported when PostgreSQL may accept it (another
/// style: `1/8/1999`, `January 8, 1999`, `10:00 PM`, a zone name such as `Europe/Paris`),
/// else PostgreSQL's own 22007 (no digit means no day; a word it does not know, as in
/// `1 hour`, fails there too).
fn not_iso(text: &str, kind: DateTimeType) -> PgError {
    let words: Vec<String> = text
        .split(|character: char| !(character.is_ascii_alphabetic() || character == '/'))
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let known_words = words
        .iter()
        .all(|word| word.contains('/') || DATE_WORDS.contains(&word.as_str()));
    if text.bytes().any(|byte| byte.is_ascii_digit()) && known_words {
        return PgError::unsupported(format!(
            "{} input other than ISO 8601 YYYY-MM-DD [HH:MM[:SS[.f]]][zone] (\"{text}\")",
            kind.name()
        ));
    }
    invalid(text, kind)
}

/// Words PostgreSQL reads as special date/time values.
const SPECIAL_INPUTS: &[&str] = &[
    "now",
    "today",
    "tomorrow",
    "yesterday",
    "epoch",
    "infinity",
    "-infinity",
    "+infinity",
    "allballs",
];

/// The fields of ISO date/time input: days since 1970-01-01, microseconds into the day, and
/// the zone's offset east of UTC in seconds.
struct IsoFields {
    days: i64,
    day_micros: i64,
    offset_secs: i64,
}

/// Splits a trailing zone (`Z`, `UTC`, `+HH`, `+HH:MM`, `-HHMM`, `+HH:MM:SS`) off a time of
/// day; the offset east of UTC in seconds is `Err` when a field is out of range (hours past
/// 15, minutes or seconds past 59: DecodeTimezone's DTERR_TZDISP_OVERFLOW, 22009).
fn split_zone(time: &str) -> Option<(&str, Result<i64, ()>)> {
    if let Some(rest) = time.strip_suffix('Z').or_else(|| time.strip_suffix("UTC")) {
        return Some((rest.trim_end(), Ok(0)));
    }
    let Some(sign_index) = time.rfind(['+', '-']) else {
        return Some((time, Ok(0)));
    };
    let sign = if time.as_bytes()[sign_index] == b'-' {
        -1
    } else {
        1
    };
    let zone = &time[sign_index + 1..];
    // Digits and colons only (so the byte slicing below stays on character boundaries).
    if !zone
        .bytes()
        .all(|byte| byte.is_ascii_digit() || byte == b':')
    {
        return None;
    }
    let (hours, minutes, secs) = if zone.contains(':') {
        let fields: Vec<&str> = zone.split(':').collect();
        if fields.len() > 3
            || fields
                .iter()
                .any(|field| field.is_empty() || field.len() > 2)
        {
            return None;
        }
        let values: Vec<i64> = fields
            .iter()
            .map(|field| digits(field))
            .collect::<Option<_>>()?;
        let field = |index: usize| values.get(index).copied().unwrap_or(0);
        (field(0), field(1), field(2))
    } else {
        // Run together: up to two digits are hours, more are hours and the last two minutes
        // (`+0530`, `+530`); no seconds, so `+053000` is hour 530 (DecodeTimezone).
        let number = digits(zone)?;
        if zone.len() <= 2 {
            (number, 0, 0)
        } else {
            (number / 100, number % 100, 0)
        }
    };
    let offset = if hours > 15 || minutes >= 60 || secs >= 60 {
        Err(())
    } else {
        Ok(sign * (hours * 3600 + minutes * 60 + secs))
    };
    Some((time[..sign_index].trim_end(), offset))
}

fn digits(part: &str) -> Option<i64> {
    if part.is_empty() || part.len() > 9 || !part.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
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

/// `HH:MM[:SS[.f]]` as microseconds into the day; `None` when not of that shape, `Some(Err)`
/// when a field is out of range (`24:00:00` exactly is allowed, a leap second `:60` too).
fn parse_clock(clock: &str, text: &str) -> Option<Result<i64, PgError>> {
    let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let parts: Vec<&str> = whole.split(':').collect();
    let (hours, minutes, secs) = match parts[..] {
        [hours, minutes] => (digits(hours)?, digits(minutes)?, 0),
        [hours, minutes, secs] => (digits(hours)?, digits(minutes)?, digits(secs)?),
        _ => return None,
    };
    let mut fraction_micros = 0;
    if !fraction.is_empty() {
        if !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let value: f64 = format!("0.{fraction}").parse().ok()?;
        fraction_micros = (value * 1_000_000.0).round_ties_even() as i64;
    }
    let day_micros = (hours * 3600 + minutes * 60 + secs) * MICROS_PER_SEC + fraction_micros;
    let in_range = minutes <= 59 && secs <= 60 && day_micros <= MICROS_PER_DAY;
    Some(if in_range {
        Ok(day_micros)
    } else {
        Err(field_out_of_range(text))
    })
}

/// Reads ISO input into its fields, range-checked; other input styles are 0A000.
fn parse_iso(text: &str, kind: DateTimeType) -> Result<IsoFields, PgError> {
    let trimmed = text.trim();
    if SPECIAL_INPUTS.contains(&trimmed.to_ascii_lowercase().as_str()) {
        return Err(PgError::unsupported(format!(
            "special {} input '{trimmed}'",
            kind.name()
        )));
    }
    let (date, time) = match trimmed.find([' ', 'T']) {
        Some(split_index) => (&trimmed[..split_index], trimmed[split_index + 1..].trim()),
        None => split_date_zone(trimmed),
    };
    let date_parts: Vec<&str> = date.split('-').collect();
    // A year of one or two digits is DateStyle MDY's month-day-year (`01-02-03`), not ISO.
    if date_parts.first().is_some_and(|year| year.len() < 3) {
        return Err(not_iso(text, kind));
    }
    let [Some(year), Some(month), Some(day)] = date_parts[..]
        .iter()
        .map(|part| digits(part))
        .collect::<Vec<_>>()[..]
    else {
        return Err(not_iso(text, kind));
    };
    let (clock, offset_secs) = split_zone(time).ok_or_else(|| not_iso(text, kind))?;
    let offset_secs = offset_secs.map_err(|()| {
        PgError::new(
            SqlState::InvalidTimeZoneDisplacementValue,
            format!("time zone displacement out of range: \"{text}\""),
        )
    })?;
    let day_micros = match clock {
        "" => 0,
        clock => parse_clock(clock, text).ok_or_else(|| not_iso(text, kind))??,
    };
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(field_out_of_range(text));
    }
    Ok(IsoFields {
        days: days_from_civil(year, month, day),
        day_micros,
        offset_secs,
    })
}

fn instant_out_of_range(text: &str, kind: DateTimeType) -> PgError {
    let name = if kind == DateTimeType::Date {
        "date"
    } else {
        "timestamp"
    };
    PgError::new(
        SqlState::DatetimeFieldOverflow,
        format!("{name} out of range: \"{text}\""),
    )
}

/// Parses a `timestamptz`: a missing zone means the session's, UTC.
pub fn parse(text: &str) -> Result<i64, PgError> {
    parse_instant(text, DateTimeType::Timestamptz)
}

/// Parses a `timestamp` (without time zone): a zone in the text is ignored, as in PostgreSQL.
pub fn parse_timestamp(text: &str) -> Result<i64, PgError> {
    parse_instant(text, DateTimeType::Timestamp)
}

fn parse_instant(text: &str, kind: DateTimeType) -> Result<i64, PgError> {
    let fields = parse_iso(text, kind)?;
    let offset_secs = match kind {
        DateTimeType::Timestamptz => fields.offset_secs,
        _ => 0,
    };
    fields
        .days
        .checked_mul(MICROS_PER_DAY)
        .and_then(|micros| micros.checked_add(fields.day_micros))
        .and_then(|micros| micros.checked_sub(offset_secs * MICROS_PER_SEC))
        .ok_or_else(|| instant_out_of_range(text, kind))
}

/// Parses a `date`: a time and a zone in the text are ignored, as in PostgreSQL.
pub fn parse_date(text: &str) -> Result<i32, PgError> {
    let kind = DateTimeType::Date;
    let fields = parse_iso(text, kind)?;
    checked_date(fields.days).ok_or_else(|| instant_out_of_range(text, kind))
}

/// The last valid date, 5874897-12-31, as days since 1970-01-01 (PostgreSQL's
/// `DATE_END_JULIAN` 2147483494 less the Unix epoch's Julian day 2440588, exclusive).
const DATE_END_UNIX_DAYS: i64 = 2_147_483_494 - 2_440_588;
/// The first valid date, 4714-11-24 BC (Julian day 0).
const DATE_START_UNIX_DAYS: i64 = -2_440_588;

fn checked_date(unix_days: i64) -> Option<i32> {
    (DATE_START_UNIX_DAYS..DATE_END_UNIX_DAYS)
        .contains(&unix_days)
        .then(|| i32::try_from(unix_days).ok())
        .flatten()
}

/// 22008 `date out of range`.
pub fn date_out_of_range() -> PgError {
    PgError::new(SqlState::DatetimeFieldOverflow, "date out of range")
}

/// `date + integer` (and `- integer`).
pub fn date_plus_days(unix_days: i32, days: i64) -> Result<i32, PgError> {
    i64::from(unix_days)
        .checked_add(days)
        .and_then(checked_date)
        .ok_or_else(date_out_of_range)
}

/// A date as the instant of its midnight (`date::timestamp`, `date::timestamptz` in UTC).
pub fn date_to_micros(unix_days: i32) -> Result<i64, PgError> {
    i64::from(unix_days)
        .checked_mul(MICROS_PER_DAY)
        .filter(|micros| *micros >= MIN_UNIX_MICROS)
        .ok_or_else(|| {
            PgError::new(
                SqlState::DatetimeFieldOverflow,
                "date out of range for timestamp",
            )
        })
}

/// The date an instant falls on (`timestamptz::date` in UTC, `timestamp::date`).
pub fn micros_to_date(unix_micros: i64) -> Result<i32, PgError> {
    checked_date(unix_micros.div_euclid(MICROS_PER_DAY)).ok_or_else(date_out_of_range)
}
