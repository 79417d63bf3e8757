//! The `interval` type: PostgreSQL 15's three-field representation (months, days,
//! microseconds), its text input and its output in the default `IntervalStyle = postgres`,
//! comparison, and the arithmetic applications use (`now() - interval '5 minutes'`).
//!
//! PostgreSQL keeps the three fields apart because a month and a day have no fixed length;
//! it compares two intervals by one span in which a month is 30 days and a day 24 hours
//! (`interval_cmp_value` in src/backend/utils/adt/timestamp.c, PostgreSQL 15), so
//! `'1 mon' = '30 days'`. Input follows `DecodeInterval` (datetime.c): `N unit` fields in any
//! order, each unit at most once, `[-]HH:MM[:SS[.f]]`, `@`, `ago`, fractions cascading down
//! (`1.5 days` is `1 day 12:00:00`, `1.5 months` is `1 mon 15 days`), a bare number is
//! seconds. Multiplication and division follow `interval_mul`/`interval_div`, float math
//! included, so `'1 mon' / 7` is `4 days 06:51:25.6896` as on the server.
//!
//! Not modelled (0A000 naming it): ISO 8601 input (`P1D`), the SQL-standard `Y-M` and
//! `D H:M:S` forms, field qualifiers (`INTERVAL '1' DAY`, `interval(3)`), other
//! `IntervalStyle`s, `infinity`.
//! Invariant: `parse(render(i)) == i` for every interval whose fields fit their types.

use serde::{Deserialize, Serialize};

use super::error::{PgError, SqlState};

const MICROS_PER_SEC: i64 = 1_000_000;
const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SEC;
const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
const DAYS_PER_MONTH: i64 = 30;
const MONTHS_PER_YEAR: i64 = 12;
const SECS_PER_DAY: f64 = 86_400.0;

/// An `interval` value: the three fields PostgreSQL stores, never normalised into each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

pub fn out_of_range() -> PgError {
    PgError::new(SqlState::DatetimeFieldOverflow, "interval out of range")
}

fn invalid(text: &str) -> PgError {
    PgError::new(
        SqlState::InvalidDatetimeFormat,
        format!("invalid input syntax for type interval: \"{text}\""),
    )
}

fn field_out_of_range(text: &str) -> PgError {
    PgError::new(
        SqlState::IntervalFieldOverflow,
        format!("interval field value out of range: \"{text}\""),
    )
}

impl Interval {
    /// The span PostgreSQL compares and hashes by: a month is 30 days, a day 24 hours.
    pub fn span_micros(self) -> i128 {
        (i128::from(self.months) * i128::from(DAYS_PER_MONTH) + i128::from(self.days))
            * i128::from(MICROS_PER_DAY)
            + i128::from(self.micros)
    }

    pub fn checked_add(self, other: Interval) -> Result<Interval, PgError> {
        Ok(Interval {
            months: self
                .months
                .checked_add(other.months)
                .ok_or_else(out_of_range)?,
            days: self.days.checked_add(other.days).ok_or_else(out_of_range)?,
            micros: self
                .micros
                .checked_add(other.micros)
                .ok_or_else(out_of_range)?,
        })
    }

    pub fn checked_neg(self) -> Result<Interval, PgError> {
        Ok(Interval {
            months: self.months.checked_neg().ok_or_else(out_of_range)?,
            days: self.days.checked_neg().ok_or_else(out_of_range)?,
            micros: self.micros.checked_neg().ok_or_else(out_of_range)?,
        })
    }

    /// Field by field, as `interval_mi` does: `'-1 day' - '-2147483648 days'` fits, though
    /// negating the right side alone would not.
    pub fn checked_sub(self, other: Interval) -> Result<Interval, PgError> {
        Ok(Interval {
            months: self
                .months
                .checked_sub(other.months)
                .ok_or_else(out_of_range)?,
            days: self.days.checked_sub(other.days).ok_or_else(out_of_range)?,
            micros: self
                .micros
                .checked_sub(other.micros)
                .ok_or_else(out_of_range)?,
        })
    }

    /// `interval * float8` (an integer factor is cast to float8, as PostgreSQL does).
    pub fn mul(self, factor: f64) -> Result<Interval, PgError> {
        scale(self, |field| field * factor)
    }

    /// `interval / float8`; a zero divisor is 22012.
    pub fn div(self, divisor: f64) -> Result<Interval, PgError> {
        if divisor == 0.0 {
            return Err(PgError::new(SqlState::DivisionByZero, "division by zero"));
        }
        scale(self, |field| field / divisor)
    }

    /// `justify_hours`: whole 24-hour runs of the time field become days, signs agreeing.
    pub fn justify_hours(self) -> Result<Interval, PgError> {
        let (days, micros) = carry(self.days, self.micros, MICROS_PER_DAY)?;
        Ok(Interval {
            days,
            micros,
            ..self
        })
    }

    /// `justify_days`: whole 30-day runs become months, signs agreeing.
    pub fn justify_days(self) -> Result<Interval, PgError> {
        let (months, days) = carry(self.months, i64::from(self.days), DAYS_PER_MONTH)?;
        Ok(Interval {
            months,
            days: i32::try_from(days).expect("a remainder of 30 days fits"),
            ..self
        })
    }

    /// Whole 30-day runs of days into months, truncating, with no sign fix.
    fn days_into_months(&mut self) -> Result<(), PgError> {
        let month_days = DAYS_PER_MONTH as i32;
        let whole_months = self.days / month_days;
        self.days -= whole_months * month_days;
        self.months = self
            .months
            .checked_add(whole_months)
            .ok_or_else(out_of_range)?;
        Ok(())
    }

    /// `justify_interval` (PostgreSQL 15's `interval_justify_interval`): hours into days,
    /// days into months, then the signs of the three fields made to agree.
    pub fn justify_interval(self) -> Result<Interval, PgError> {
        let month_days = DAYS_PER_MONTH as i32;
        let mut interval = self;
        let same_sign = (interval.days > 0 && interval.micros > 0)
            || (interval.days < 0 && interval.micros < 0);
        if same_sign {
            interval.days_into_months()?;
        }
        let whole_days = interval.micros / MICROS_PER_DAY;
        interval.micros -= whole_days * MICROS_PER_DAY;
        // At most ~1.07e8 whole days fit in the time field, and the days left above are
        // under a month or of the other sign, so this cannot overflow.
        interval.days += whole_days as i32;
        interval.days_into_months()?;
        let (days, micros) = (interval.days, interval.micros);
        if interval.months > 0 && (days < 0 || (days == 0 && micros < 0)) {
            interval.days += month_days;
            interval.months -= 1;
        } else if interval.months < 0 && (days > 0 || (days == 0 && micros > 0)) {
            interval.days -= month_days;
            interval.months += 1;
        }
        if interval.days > 0 && interval.micros < 0 {
            interval.micros += MICROS_PER_DAY;
            interval.days -= 1;
        } else if interval.days < 0 && interval.micros > 0 {
            interval.micros -= MICROS_PER_DAY;
            interval.days += 1;
        }
        Ok(interval)
    }

    /// The text output in `IntervalStyle = postgres` (`EncodeInterval`): `1 year 2 mons`,
    /// `-1 days +02:00:00`, `00:00:00` for zero. Each nonzero field after a negative one
    /// carries an explicit `+`.
    pub fn render(self) -> String {
        let years = self.months / MONTHS_PER_YEAR as i32;
        let months = self.months % MONTHS_PER_YEAR as i32;
        let mut text = String::new();
        let mut after_negative = false;
        for (value, unit) in [
            (i64::from(years), "year"),
            (i64::from(months), "mon"),
            (i64::from(self.days), "day"),
        ] {
            if value == 0 {
                continue;
            }
            if !text.is_empty() {
                text.push(' ');
            }
            let plus = if after_negative && value > 0 { "+" } else { "" };
            let plural = if value == 1 { "" } else { "s" };
            text.push_str(&format!("{plus}{value} {unit}{plural}"));
            after_negative = value < 0;
        }
        if text.is_empty() || self.micros != 0 {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&render_time(self.micros, after_negative));
        }
        text
    }
}

/// Moves whole `unit`s of `low` into `high` (truncating, as `TMODULO`), then borrows one so
/// both have one sign. The overflow check comes before the borrow, as in PostgreSQL.
fn carry(high: i32, low: i64, unit: i64) -> Result<(i32, i64), PgError> {
    let whole = low / unit;
    let mut high = i32::try_from(whole)
        .ok()
        .and_then(|whole| high.checked_add(whole))
        .ok_or_else(out_of_range)?;
    let mut low = low - whole * unit;
    if high > 0 && low < 0 {
        low += unit;
        high -= 1;
    } else if high < 0 && low > 0 {
        low -= unit;
        high += 1;
    }
    Ok((high, low))
}

/// `[-|+]HH:MM:SS[.ffffff]`; hours are not bounded by 24.
fn render_time(micros: i64, after_negative: bool) -> String {
    let sign = if micros < 0 {
        "-"
    } else if after_negative {
        "+"
    } else {
        ""
    };
    let magnitude = micros.unsigned_abs();
    let unit = MICROS_PER_SEC as u64;
    let secs = magnitude / unit;
    let mut text = format!(
        "{sign}{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    let fraction = magnitude % unit;
    if fraction != 0 {
        text.push('.');
        text.push_str(format!("{fraction:06}").trim_end_matches('0'));
    }
    text
}

/// `TSROUND`: rounds a float to microsecond precision, as `interval_mul` does.
fn ts_round(value: f64) -> f64 {
    (value * 1_000_000.0).round_ties_even() / 1_000_000.0
}

fn fits_i32(value: f64) -> Option<i32> {
    (value.is_finite() && value >= f64::from(i32::MIN) && value <= f64::from(i32::MAX))
        .then_some(value as i32)
}

/// `interval_mul`/`interval_div`: each field scaled, the fractional part of months cascading
/// into days and of days into time (never upward).
fn scale(interval: Interval, apply: impl Fn(f64) -> f64) -> Result<Interval, PgError> {
    let months_scaled = apply(f64::from(interval.months));
    let days_scaled = apply(f64::from(interval.days));
    let months = fits_i32(months_scaled).ok_or_else(out_of_range)?;
    let mut days = fits_i32(days_scaled).ok_or_else(out_of_range)?;
    let month_remainder_days = ts_round((months_scaled - f64::from(months)) * 30.0);
    let mut sec_remainder = ts_round(
        (days_scaled - f64::from(days) + month_remainder_days
            - f64::from(month_remainder_days as i32))
            * SECS_PER_DAY,
    );
    if sec_remainder.abs() >= SECS_PER_DAY {
        let whole_days = (sec_remainder / SECS_PER_DAY) as i32;
        days = days.checked_add(whole_days).ok_or_else(out_of_range)?;
        sec_remainder -= f64::from(whole_days) * SECS_PER_DAY;
    }
    days = days
        .checked_add(month_remainder_days as i32)
        .ok_or_else(out_of_range)?;
    let micros = (apply(interval.micros as f64) + sec_remainder * 1_000_000.0).round_ties_even();
    // i64::MAX is not representable as f64; the bound below is the first float beyond it.
    if !micros.is_finite() || micros < i64::MIN as f64 || micros >= 9_223_372_036_854_775_808.0 {
        return Err(out_of_range());
    }
    Ok(Interval {
        months,
        days,
        micros: micros as i64,
    })
}

/// The units `DecodeInterval` knows, by their `deltatktbl` spellings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Decade,
    Century,
    Millennium,
}

impl Unit {
    fn of(word: &str) -> Option<Unit> {
        Some(match word {
            "us" | "usec" | "usecs" | "usecond" | "useconds" | "microsecon" | "microsecond"
            | "microseconds" => Unit::Microsecond,
            "ms" | "msec" | "msecs" | "msecond" | "mseconds" | "millisecon" | "millisecond"
            | "milliseconds" => Unit::Millisecond,
            "s" | "sec" | "secs" | "second" | "seconds" => Unit::Second,
            "m" | "min" | "mins" | "minute" | "minutes" => Unit::Minute,
            "h" | "hr" | "hrs" | "hour" | "hours" => Unit::Hour,
            "d" | "day" | "days" => Unit::Day,
            "w" | "week" | "weeks" => Unit::Week,
            "mon" | "mons" | "month" | "months" => Unit::Month,
            "y" | "yr" | "yrs" | "year" | "years" => Unit::Year,
            "dec" | "decs" | "decade" | "decades" => Unit::Decade,
            "c" | "cent" | "century" | "centuries" => Unit::Century,
            "mil" | "mils" | "millennium" | "millennia" => Unit::Millennium,
            _ => return None,
        })
    }

    /// The field bits a unit claims; a field given twice is a syntax error in PostgreSQL.
    fn mask(self, fraction: f64) -> u32 {
        match self {
            Unit::Microsecond => MASK_MICROSECOND,
            Unit::Millisecond => MASK_MILLISECOND,
            // Fractional seconds claim the sub-second units too.
            Unit::Second if fraction != 0.0 => MASK_ALL_SECONDS,
            Unit::Second => MASK_SECOND,
            Unit::Minute => MASK_MINUTE,
            Unit::Hour => MASK_HOUR,
            Unit::Day => 1 << 6,
            Unit::Week => 1 << 7,
            Unit::Month => 1 << 8,
            Unit::Year => 1 << 9,
            Unit::Decade => 1 << 10,
            Unit::Century => 1 << 11,
            Unit::Millennium => 1 << 12,
        }
    }
}

const MASK_MICROSECOND: u32 = 1;
const MASK_MILLISECOND: u32 = 1 << 1;
const MASK_SECOND: u32 = 1 << 2;
const MASK_MINUTE: u32 = 1 << 3;
const MASK_HOUR: u32 = 1 << 4;
const MASK_ALL_SECONDS: u32 = MASK_MICROSECOND | MASK_MILLISECOND | MASK_SECOND;
const MASK_TIME: u32 = MASK_ALL_SECONDS | MASK_MINUTE | MASK_HOUR;

/// One field of interval input, as `ParseDateTime` splits it.
#[derive(Debug)]
enum Token {
    /// A signed number, possibly with a fraction: `-1`, `1.5`, `.5`.
    Number(String),
    /// `[-]H:M[:S[.f]]`.
    Time(String),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, PgError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        // ParseDateTime: punctuation that starts no field ('@', ',', ';', ...) delimits.
        if byte.is_ascii_whitespace()
            || (byte.is_ascii_punctuation() && !matches!(byte, b'.' | b'+' | b'-'))
        {
            at += 1;
            continue;
        }
        let start = at;
        if byte.is_ascii_alphabetic() {
            while at < bytes.len() && bytes[at].is_ascii_alphabetic() {
                at += 1;
            }
            // A word running into '-', '/' or '.' is a date field to ParseDateTime, which
            // no interval unit is ('1 day/2 hours' is 22007).
            if at < bytes.len() && matches!(bytes[at], b'-' | b'/' | b'.') {
                return Err(invalid(text));
            }
            tokens.push(Token::Word(text[start..at].to_ascii_lowercase()));
            continue;
        }
        if !(byte.is_ascii_digit() || matches!(byte, b'.' | b'+' | b'-')) {
            return Err(invalid(text));
        }
        at += 1;
        let mut field = text[start..at].to_string();
        // A sign soaks up the blanks after it ('- 1 day' is '-1 day').
        if matches!(byte, b'+' | b'-') {
            while at < bytes.len() && bytes[at].is_ascii_whitespace() {
                at += 1;
            }
        }
        let digits_start = at;
        while at < bytes.len() && (bytes[at].is_ascii_digit() || matches!(bytes[at], b'.' | b':')) {
            at += 1;
        }
        if at < bytes.len() && matches!(bytes[at], b'-' | b'/') {
            return Err(PgError::unsupported(
                "interval input in the SQL-standard year-month form ('1-2')",
            ));
        }
        field.push_str(&text[digits_start..at]);
        tokens.push(if field.contains(':') {
            Token::Time(field)
        } else {
            Token::Number(field)
        });
    }
    // interval_in parses into a 256-byte buffer, each field followed by a NUL: longer
    // input is 22007 there (300 leading zeros on a number, say).
    let buffer_bytes: usize = tokens.iter().map(|token| token.text().len() + 1).sum();
    if buffer_bytes > PARSE_BUFFER_BYTES {
        return Err(invalid(text));
    }
    Ok(tokens)
}

/// The size of `interval_in`'s `workbuf` for ParseDateTime.
const PARSE_BUFFER_BYTES: usize = 256;

impl Token {
    /// The field as ParseDateTime copies it (sign and digits, or the lowercased word).
    fn text(&self) -> &str {
        match self {
            Token::Number(field) | Token::Time(field) | Token::Word(field) => field,
        }
    }
}

/// The fields being built, before they become an [`Interval`] (`pg_itm_in`).
#[derive(Default)]
struct Fields {
    /// Years apart from months, as `pg_itm_in` keeps them: `years * 12 + months` is only
    /// formed at the end, where its overflow is 22008 rather than a field's 22015.
    years: i32,
    months: i32,
    days: i32,
    micros: i64,
}

impl Fields {
    fn add_micros(&mut self, whole: i64, fraction: f64, scale_micros: i64) -> Option<()> {
        self.micros = self.micros.checked_add(whole.checked_mul(scale_micros)?)?;
        self.add_fraction_micros(fraction, scale_micros)
    }

    /// `AdjustFractMicroseconds`: the fraction's whole microseconds, the rest rounded.
    fn add_fraction_micros(&mut self, fraction: f64, scale_micros: i64) -> Option<()> {
        if fraction == 0.0 {
            return Some(());
        }
        let scaled = fraction * scale_micros as f64;
        let whole = scaled as i64;
        let micros = whole + (scaled - whole as f64).round_ties_even() as i64;
        self.micros = self.micros.checked_add(micros)?;
        Some(())
    }

    fn add_days(&mut self, whole: i64, scale_days: i64) -> Option<()> {
        let days = i32::try_from(whole.checked_mul(scale_days)?).ok()?;
        self.days = self.days.checked_add(days)?;
        Some(())
    }

    /// `AdjustFractDays`: whole days of the fraction to days, the rest to microseconds.
    fn add_fraction_days(&mut self, fraction: f64, scale_days: i64) -> Option<()> {
        if fraction == 0.0 {
            return Some(());
        }
        let scaled = fraction * scale_days as f64;
        let whole = scaled as i32;
        self.days = self.days.checked_add(whole)?;
        self.add_fraction_micros(scaled - f64::from(whole), MICROS_PER_DAY)
    }

    fn add_months(&mut self, whole: i64, scale_months: i64) -> Option<()> {
        let months = i32::try_from(whole.checked_mul(scale_months)?).ok()?;
        self.months = self.months.checked_add(months)?;
        Some(())
    }

    /// `AdjustFractYears`: a fraction of years is rounded to whole months.
    fn add_fraction_years(&mut self, fraction: f64, scale_years: i64) -> Option<()> {
        let months = (fraction * (scale_years * MONTHS_PER_YEAR) as f64).round_ties_even();
        self.months = self.months.checked_add(months as i32)?;
        Some(())
    }

    /// `AdjustYears`.
    fn add_years(&mut self, whole: i64, scale_years: i64) -> Option<()> {
        let years = i32::try_from(whole.checked_mul(scale_years)?).ok()?;
        self.years = self.years.checked_add(years)?;
        Some(())
    }

    /// The interval, or `None` when `years * 12 + months` overflows (`itm2interval`).
    fn interval(&self) -> Option<Interval> {
        // In 64 bits, as itmin2interval: '178956971 years -5 months' fits.
        let months = i64::from(self.years) * 12 + i64::from(self.months);
        let months = i32::try_from(months).ok()?;
        Some(Interval {
            months,
            days: self.days,
            micros: self.micros,
        })
    }

    /// `ago`: every field negated, each overflow a field overflow.
    fn negated(&self) -> Option<Fields> {
        Some(Fields {
            years: self.years.checked_neg()?,
            months: self.months.checked_neg()?,
            days: self.days.checked_neg()?,
            micros: self.micros.checked_neg()?,
        })
    }

    fn add(&mut self, unit: Unit, whole: i64, fraction: f64) -> Option<()> {
        match unit {
            Unit::Microsecond => self.add_micros(whole, fraction, 1),
            Unit::Millisecond => self.add_micros(whole, fraction, 1_000),
            Unit::Second => self.add_micros(whole, fraction, MICROS_PER_SEC),
            Unit::Minute => self.add_micros(whole, fraction, MICROS_PER_MINUTE),
            Unit::Hour => self.add_micros(whole, fraction, MICROS_PER_HOUR),
            Unit::Day => {
                self.add_days(whole, 1)?;
                self.add_fraction_micros(fraction, MICROS_PER_DAY)
            }
            Unit::Week => {
                self.add_days(whole, 7)?;
                self.add_fraction_days(fraction, 7)
            }
            Unit::Month => {
                self.add_months(whole, 1)?;
                self.add_fraction_days(fraction, DAYS_PER_MONTH)
            }
            Unit::Year | Unit::Decade | Unit::Century | Unit::Millennium => {
                let years = match unit {
                    Unit::Year => 1,
                    Unit::Decade => 10,
                    Unit::Century => 100,
                    _ => 1_000,
                };
                self.add_years(whole, years)?;
                self.add_fraction_years(fraction, years)
            }
        }
    }
}

/// Splits `-1.5` into its integer part and its signed fraction, as `strtoi64` then `strtod`.
fn split_number(field: &str, text: &str) -> Result<(i64, f64), PgError> {
    let negative = field.starts_with('-');
    let unsigned = field.trim_start_matches(['-', '+']);
    if unsigned.len() + 1 < field.len() {
        return Err(invalid(text));
    }
    let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits_ok = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if (integer.is_empty() && fraction.is_empty()) || !digits_ok(integer) || !digits_ok(fraction) {
        return Err(invalid(text));
    }
    // strtoint: a field must fit an int4 (`2147483648 days` is 22015).
    let magnitude: i64 = if integer.is_empty() {
        0
    } else {
        integer.parse::<i32>().map(i64::from).or_else(|_| {
            match (negative, integer.trim_start_matches('0')) {
                (true, "2147483648") => Ok(2_147_483_648),
                _ => Err(field_out_of_range(text)),
            }
        })?
    };
    let fraction: f64 = if fraction.is_empty() {
        0.0
    } else {
        format!("0.{fraction}").parse().map_err(|_| invalid(text))?
    };
    Ok(if negative {
        (-magnitude, -fraction)
    } else {
        (magnitude, fraction)
    })
}

/// `[-]H:M[:S[.f]]`, or `M:S.f` when the second part has the fraction (`DecodeTime`);
/// minutes and seconds are range-checked, hours are not.
fn parse_time(field: &str, text: &str) -> Result<i64, PgError> {
    let negative = field.starts_with('-');
    let unsigned = field.trim_start_matches(['-', '+']);
    let parts: Vec<&str> = unsigned.split(':').collect();
    let number = |part: &str| -> Result<i64, PgError> {
        if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(invalid(text));
        }
        part.parse().map_err(|_| field_out_of_range(text))
    };
    let fraction_micros = |part: &str| -> Result<(i64, i64), PgError> {
        let (whole, fraction) = part.split_once('.').unwrap_or((part, ""));
        let mut micros = 0;
        if !fraction.is_empty() {
            if !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(invalid(text));
            }
            let value: f64 = format!("0.{fraction}").parse().map_err(|_| invalid(text))?;
            micros = (value * 1_000_000.0).round_ties_even() as i64;
        }
        Ok((number(whole)?, micros))
    };
    let (hours, minutes, secs, fraction) = match parts[..] {
        [minutes, secs] if secs.contains('.') => {
            let (secs, fraction) = fraction_micros(secs)?;
            (0, number(minutes)?, secs, fraction)
        }
        [hours, minutes] => (number(hours)?, number(minutes)?, 0, 0),
        [hours, minutes, secs] => {
            let (secs, fraction) = fraction_micros(secs)?;
            (number(hours)?, number(minutes)?, secs, fraction)
        }
        _ => return Err(invalid(text)),
    };
    if minutes > 59 || secs > 60 || fraction > MICROS_PER_SEC {
        return Err(field_out_of_range(text));
    }
    let micros = hours
        .checked_mul(MICROS_PER_HOUR)
        .and_then(|micros| micros.checked_add(minutes * MICROS_PER_MINUTE))
        .and_then(|micros| micros.checked_add(secs * MICROS_PER_SEC + fraction))
        .ok_or_else(|| field_out_of_range(text))?;
    Ok(if negative { -micros } else { micros })
}

/// Parses interval input as `DecodeInterval` does, fields read from the right: a unit names
/// the number before it, a time of day makes it days; a number with nothing after it is
/// seconds.
pub fn parse(text: &str) -> Result<Interval, PgError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with(['P', 'p']) {
        return Err(PgError::unsupported(
            "interval input in ISO 8601 form ('P1D')",
        ));
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err(invalid(text));
    }
    let mut fields = Fields::default();
    let mut seen_mask = 0u32;
    let mut unit: Option<Unit> = None;
    let mut ago = false;
    let mut unit_missing = false;
    for token in tokens.iter().rev() {
        let (mask, added) = match token {
            // `ago` leaves no unit for a bare number before it ('1 ago' is 22007), as
            // DecodeInterval sets the field type to AGO's table value, which is no unit.
            Token::Word(word) if word == "ago" => {
                ago = true;
                unit_missing = true;
                continue;
            }
            Token::Word(word) => {
                unit = Some(Unit::of(word).ok_or_else(|| invalid(text))?);
                unit_missing = false;
                continue;
            }
            Token::Time(field) => {
                // A number before a time of day is days: '1 2:03:04' (DecodeInterval).
                unit = Some(Unit::Day);
                unit_missing = false;
                let micros = parse_time(field, text)?;
                let added = fields.micros.checked_add(micros).map(|sum| {
                    fields.micros = sum;
                });
                (MASK_TIME, added)
            }
            Token::Number(_) if unit_missing => return Err(invalid(text)),
            Token::Number(field) => {
                let (whole, fraction) = split_number(field, text)?;
                let current = unit.unwrap_or(Unit::Second);
                // A bare number before an hours field is days ('2 1 hour').
                if current == Unit::Hour {
                    unit = Some(Unit::Day);
                }
                (current.mask(fraction), fields.add(current, whole, fraction))
            }
        };
        if seen_mask & mask != 0 {
            return Err(invalid(text));
        }
        seen_mask |= mask;
        added.ok_or_else(|| field_out_of_range(text))?;
    }
    if seen_mask == 0 {
        return Err(invalid(text));
    }
    if ago {
        fields = fields.negated().ok_or_else(|| field_out_of_range(text))?;
    }
    fields.interval().ok_or_else(out_of_range)
}
