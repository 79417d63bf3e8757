//! The `numeric` type: an exact decimal with PostgreSQL 15's display scale, arithmetic
//! scales, rounding and typmod (`numeric(p,s)`) rules (`src/backend/utils/adt/numeric.c`,
//! REL_15_STABLE; https://www.postgresql.org/docs/15/datatype-numeric.html).
//!
//! A value is an integer of unscaled digits and a display scale (`dscale`): `1.50` keeps its
//! two digits after the point and prints them, and `1.5 = 1.50` all the same. PostgreSQL
//! chooses a result's scale per operator: `+`/`-` the larger input scale, `*` the sum of the
//! scales, `/` at least 16 significant digits (`select_div_scale`), `%` the larger scale; a
//! division rounds its last digit half away from zero, as `div_var(..., round = true)` does.
//! A cast or an assignment to `numeric(p,s)` rounds to s digits (half away from zero) and
//! is 22003 "numeric field overflow" when the result reaches 10^(p-s).
//! Not modelled: `NaN` and `±Infinity` (0A000 naming them), transcendental functions (`sqrt`,
//! `exp`, `ln`, `power`), and the float8 type numeric meets in mixed arithmetic.
//! Invariant: a value's scale is at most `SCALE_MAX` and its integer part has at most
//! `INTEGER_DIGITS_MAX` digits (PostgreSQL's storage limits): every constructor checks both.

use std::cmp::Ordering;

use num_bigint::BigInt;
use num_traits::{Signed, ToPrimitive, Zero};
use serde::{Deserialize, Serialize};

use super::error::{PgError, SqlState};

/// `NUMERIC_DSCALE_MAX`: the largest display scale a stored value may have.
const SCALE_MAX: u32 = 0x3FFF;
/// `NUMERIC_WEIGHT_MAX` (32767) base-10000 digits before the point: below 10^131072.
const INTEGER_DIGITS_MAX: u64 = 131_072;
/// `NUMERIC_MAX_PRECISION`: the largest p of `numeric(p,s)`.
const PRECISION_MAX: i64 = 1000;
/// `NUMERIC_MIN_SCALE` / `NUMERIC_MAX_SCALE` of `numeric(p,s)` (PostgreSQL 15 allows a
/// negative scale, and a scale above the precision).
const TYPMOD_SCALE_RANGE: std::ops::RangeInclusive<i64> = -1000..=1000;
/// `NUMERIC_MIN_SIG_DIGITS`: a quotient has at least this many significant digits.
const QUOTIENT_SIGNIFICANT_DIGITS: i64 = 16;
/// `NUMERIC_MAX_DISPLAY_SCALE`: a quotient's scale is at most this.
const QUOTIENT_SCALE_MAX: i64 = 1000;
/// `DEC_DIGITS`: decimal digits per base-10000 digit of PostgreSQL's representation.
const DECIMAL_DIGITS_PER_WORD: i64 = 4;

/// An exact decimal: `unscaled / 10^scale`, printed with exactly `scale` digits after the
/// point. Equality of the struct is equality of representation (`1.5` and `1.50` differ);
/// [`Numeric::cmp_value`] compares values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Numeric {
    unscaled: BigInt,
    scale: u32,
}

/// `numeric(p,s)`: the precision and scale a column or cast holds its values to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Typmod {
    /// Total significant digits, 1..=1000.
    pub precision: u16,
    /// Digits after the point, -1000..=1000 (negative rounds to tens, hundreds, ...).
    pub scale: i16,
}

impl Typmod {
    /// Checks `numeric(precision, scale)` as `numerictypmodin` does (22023 outside the ranges).
    pub fn new(precision: u64, scale: i64) -> Result<Typmod, PgError> {
        let invalid = |message: String| PgError::new(SqlState::InvalidParameterValue, message);
        let precision_checked = i64::try_from(precision)
            .ok()
            .filter(|precision| (1..=PRECISION_MAX).contains(precision))
            .ok_or_else(|| {
                invalid(format!(
                    "NUMERIC precision {precision} must be between 1 and {PRECISION_MAX}"
                ))
            })?;
        if !TYPMOD_SCALE_RANGE.contains(&scale) {
            return Err(invalid(format!(
                "NUMERIC scale {scale} must be between {} and {}",
                TYPMOD_SCALE_RANGE.start(),
                TYPMOD_SCALE_RANGE.end()
            )));
        }
        Ok(Typmod {
            precision: u16::try_from(precision_checked).expect("at most 1000"),
            scale: i16::try_from(scale).expect("within -1000..=1000"),
        })
    }
}

fn ten_to(exponent: u64) -> BigInt {
    BigInt::from(10u32).pow(u32::try_from(exponent).expect("exponents stay below 2^32"))
}

fn overflow() -> PgError {
    PgError::new(
        SqlState::NumericValueOutOfRange,
        "value overflows numeric format",
    )
}

fn invalid_input(text: &str) -> PgError {
    PgError::new(
        SqlState::InvalidTextRepresentation,
        format!("invalid input syntax for type numeric: \"{text}\""),
    )
}

/// `unscaled / divisor` rounded half away from zero (both signs allowed, divisor non-zero).
fn divide_rounded(unscaled: &BigInt, divisor: &BigInt) -> BigInt {
    let quotient = unscaled / divisor;
    let remainder = unscaled % divisor;
    if remainder.abs() * 2u32 >= divisor.abs() {
        let away = if unscaled.sign() == divisor.sign() {
            1
        } else {
            -1
        };
        quotient + away
    } else {
        quotient
    }
}

impl Numeric {
    /// Decimal digits of the unscaled value (1 for zero).
    fn digit_count(&self) -> u64 {
        self.unscaled.magnitude().to_string().len() as u64
    }

    /// A checked value: a scale above `SCALE_MAX` is rounded to it (as `numeric_mul` does),
    /// an integer part of more than `INTEGER_DIGITS_MAX` digits is 22003.
    fn checked(unscaled: BigInt, scale: u32) -> Result<Numeric, PgError> {
        let value = if scale > SCALE_MAX {
            Numeric { unscaled, scale }.round(i64::from(SCALE_MAX))
        } else {
            Numeric { unscaled, scale }
        };
        let digits_max = u64::from(value.scale) + INTEGER_DIGITS_MAX;
        // A number of b bits has at most b * log10(2) + 1 digits: count them (a base
        // conversion) only near the limit.
        let digits_bound = value.unscaled.bits() * 30_103 / 100_000 + 1;
        if digits_bound > digits_max && value.digit_count() > digits_max {
            return Err(overflow());
        }
        Ok(value)
    }

    /// An integer, with scale 0 (`int4_numeric`, `int8_numeric`).
    pub fn from_i64(number: i64) -> Numeric {
        Numeric {
            unscaled: BigInt::from(number),
            scale: 0,
        }
    }

    /// `numeric_in`: blanks around, a sign, digits with at most one point, an exponent; the
    /// scale is the number of digits after the point less the exponent (never below 0).
    pub fn parse(text: &str) -> Result<Numeric, PgError> {
        let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
        let lowered = trimmed.to_ascii_lowercase();
        let unsigned = lowered.trim_start_matches(['+', '-']);
        // NaN takes no sign (a signed one is 22P02 below); the infinities may have one.
        let signed = lowered.len() != unsigned.len();
        let special = matches!(unsigned, "infinity" | "inf") || (unsigned == "nan" && !signed);
        if special && lowered.len() - unsigned.len() <= 1 {
            return Err(PgError::unsupported(format!(
                "numeric special value {trimmed} (NaN and infinities)"
            )));
        }
        let (negative, rest) = match trimmed.as_bytes().first() {
            Some(b'-') => (true, &trimmed[1..]),
            Some(b'+') => (false, &trimmed[1..]),
            _ => (false, trimmed),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if integer.len() + fraction.len() == 0 || !all_digits(integer) || !all_digits(fraction) {
            return Err(invalid_input(text));
        }
        let exponent = match exponent {
            None => 0,
            Some(exponent) => parse_exponent(exponent).ok_or_else(|| invalid_input(text))?,
        };
        // `exponent >= INT_MAX / 2` is refused before anything is built (as numeric_in does).
        if exponent.abs() >= i64::from(i32::MAX / 2) {
            return Err(overflow());
        }
        let fraction_digits = fraction.len() as i64;
        // Digits before the point once the exponent applies, counted from the first non-zero
        // digit (`0.0001e131075` has 131,072; a zero has none).
        let mantissa_digits = format!("{integer}{fraction}");
        let integer_digits = match mantissa_digits.find(|c: char| c != '0') {
            Some(first) => mantissa_digits.len() as i64 - first as i64 - fraction_digits + exponent,
            None => 0,
        };
        if integer_digits > INTEGER_DIGITS_MAX as i64 {
            return Err(overflow());
        }
        let scale = (fraction_digits - exponent).max(0);
        if scale > i64::from(SCALE_MAX) {
            return Err(overflow());
        }
        let scale = u32::try_from(scale).expect("checked above");
        if integer_digits == 0 && !mantissa_digits.contains(|c: char| c != '0') {
            // Zero, whatever its exponent (never building 10^exponent).
            return Ok(Numeric {
                unscaled: BigInt::zero(),
                scale,
            });
        }
        let digits: BigInt = format!("0{integer}{fraction}")
            .parse()
            .expect("checked to be digits");
        // digits / 10^fraction_digits * 10^exponent, expressed at `scale`.
        let shift = i64::from(scale) + exponent - fraction_digits;
        let unscaled = digits * ten_to(u64::try_from(shift).expect("scale >= fraction - exp"));
        let unscaled = if negative { -unscaled } else { unscaled };
        Numeric::checked(unscaled, scale)
    }

    /// `numeric_out`: plain digits, exactly `scale` of them after the point, no exponent.
    pub fn render(&self) -> String {
        let digits = self.unscaled.magnitude().to_string();
        let scale = self.scale as usize;
        let padded = if digits.len() <= scale {
            format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
        } else {
            digits
        };
        let (integer, fraction) = padded.split_at(padded.len() - scale);
        let sign = if self.unscaled.is_negative() { "-" } else { "" };
        if fraction.is_empty() {
            format!("{sign}{integer}")
        } else {
            format!("{sign}{integer}.{fraction}")
        }
    }

    /// Both values' digits at their larger scale.
    fn aligned(&self, other: &Numeric) -> (BigInt, BigInt, u32) {
        let scale = self.scale.max(other.scale);
        (
            &self.unscaled * ten_to(u64::from(scale - self.scale)),
            &other.unscaled * ten_to(u64::from(scale - other.scale)),
            scale,
        )
    }

    /// Comparison by value (`cmp_numerics`): `1.5 = 1.50`.
    pub fn cmp_value(&self, other: &Numeric) -> Ordering {
        let (left, right, _) = self.aligned(other);
        left.cmp(&right)
    }

    /// The value without trailing fractional zeros, printed: one key per value, for unique
    /// indexes and grouping (`1.5` and `1.50` are one key, as in a btree or hash index).
    pub fn key(&self) -> String {
        let mut value = self.clone();
        while value.scale > 0 && (&value.unscaled % 10u32).is_zero() {
            value.unscaled /= 10u32;
            value.scale -= 1;
        }
        value.render()
    }

    /// `+`, scale the larger of the two.
    pub fn checked_add(&self, other: &Numeric) -> Result<Numeric, PgError> {
        let (left, right, scale) = self.aligned(other);
        Numeric::checked(left + right, scale)
    }

    /// `-`, scale the larger of the two.
    pub fn checked_sub(&self, other: &Numeric) -> Result<Numeric, PgError> {
        let (left, right, scale) = self.aligned(other);
        Numeric::checked(left - right, scale)
    }

    /// `*`, exact: scale the sum of the two (rounded to `SCALE_MAX` past it).
    pub fn checked_mul(&self, other: &Numeric) -> Result<Numeric, PgError> {
        Numeric::checked(&self.unscaled * &other.unscaled, self.scale + other.scale)
    }

    /// `/` (`numeric_div`): the quotient at `select_div_scale`'s scale, its last digit
    /// rounded half away from zero; 22012 dividing by zero.
    pub fn checked_div(&self, other: &Numeric) -> Result<Numeric, PgError> {
        if other.unscaled.is_zero() {
            return Err(division_by_zero());
        }
        let scale = self.quotient_scale(other);
        // (a / 10^sa) / (b / 10^sb) * 10^scale = a * 10^(scale - sa + sb) / b; the exponent
        // is negative only when the scale was capped at 1000 below the dividend's.
        let exponent = i64::from(scale) - i64::from(self.scale) + i64::from(other.scale);
        let quotient = if exponent >= 0 {
            let dividend = &self.unscaled * ten_to(exponent.unsigned_abs());
            divide_rounded(&dividend, &other.unscaled)
        } else {
            let divisor = &other.unscaled * ten_to(exponent.unsigned_abs());
            divide_rounded(&self.unscaled, &divisor)
        };
        Numeric::checked(quotient, scale)
    }

    /// `%` (`mod_var`): the remainder of the truncated quotient, with the dividend's sign
    /// and the larger scale; 22012 dividing by zero.
    pub fn checked_rem(&self, other: &Numeric) -> Result<Numeric, PgError> {
        if other.unscaled.is_zero() {
            return Err(division_by_zero());
        }
        let (left, right, scale) = self.aligned(other);
        Numeric::checked(left % right, scale)
    }

    /// Unary minus (there is no negative zero).
    pub fn neg(&self) -> Numeric {
        Numeric {
            unscaled: -&self.unscaled,
            scale: self.scale,
        }
    }

    /// `abs(numeric)`.
    pub fn abs(&self) -> Numeric {
        Numeric {
            unscaled: self.unscaled.abs(),
            scale: self.scale,
        }
    }

    /// `round_var`: rounded half away from zero to `scale` digits after the point (a
    /// negative scale rounds to tens, hundreds, ...); the display scale becomes `scale`,
    /// never below 0.
    pub fn round(&self, scale: i64) -> Numeric {
        self.rescale(scale, divide_rounded)
    }

    /// `trunc_var`: the digits past `scale` dropped (towards zero).
    pub fn trunc(&self, scale: i64) -> Numeric {
        self.rescale(scale, |unscaled, divisor| unscaled / divisor)
    }

    fn rescale(&self, scale: i64, divide: impl Fn(&BigInt, &BigInt) -> BigInt) -> Numeric {
        let own = i64::from(self.scale);
        let display = u32::try_from(scale.clamp(0, i64::from(SCALE_MAX))).expect("clamped");
        if scale >= own {
            let widen = u64::from(display) - u64::from(self.scale);
            return Numeric {
                unscaled: &self.unscaled * ten_to(widen),
                scale: display,
            };
        }
        // Drop (own - scale) digits, then pad back to the display scale (scale < 0 leaves
        // zeros in the units).
        let dropped = u64::try_from(own - scale).expect("scale < own");
        let digits = self.digit_count();
        if dropped > digits {
            // Below half a unit of the last kept digit: zero either way (PostgreSQL's
            // round_var with no digit left), without building 10^dropped.
            return Numeric {
                unscaled: BigInt::zero(),
                scale: display,
            };
        }
        let kept = divide(&self.unscaled, &ten_to(dropped));
        let pad = u64::try_from(i64::from(display) - scale).expect("display >= scale");
        Numeric {
            unscaled: kept * ten_to(pad),
            scale: display,
        }
    }

    /// `apply_typmod`: rounded to the typmod's scale, then 22003 unless the result is below
    /// 10^(precision - scale) in absolute value.
    pub fn apply_typmod(&self, typmod: Typmod) -> Result<Numeric, PgError> {
        let rounded = self.round(i64::from(typmod.scale));
        let digits_max = i64::from(typmod.precision) - i64::from(typmod.scale);
        if rounded.unscaled.is_zero() {
            return Ok(rounded);
        }
        // |value| < 10^digits_max  <=>  |unscaled| < 10^(digits_max + scale)
        let digits = i64::try_from(rounded.digit_count()).expect("digits fit");
        if digits - i64::from(rounded.scale) > digits_max {
            let limit = if digits_max == 0 {
                "1".to_string()
            } else {
                format!("10^{digits_max}")
            };
            return Err(
                PgError::new(SqlState::NumericValueOutOfRange, "numeric field overflow")
                    .with_detail(format!(
                        "A field with precision {}, scale {} must round to an absolute value less \
                 than {limit}.",
                        typmod.precision, typmod.scale
                    )),
            );
        }
        Ok(rounded)
    }

    /// The value itself, or 22003 when its integer part reached the storage limit.
    pub fn within_limits(self) -> Result<Numeric, PgError> {
        Numeric::checked(self.unscaled, self.scale)
    }

    /// The value as an i64 when it is a whole number that fits (`2.00` is 2, `2.5` none).
    pub fn as_exact_i64(&self) -> Option<i64> {
        let divisor = ten_to(u64::from(self.scale));
        if !(&self.unscaled % &divisor).is_zero() {
            return None;
        }
        (&self.unscaled / divisor).to_i64()
    }

    /// The value rounded half away from zero to an integer (`numeric_int8`), if it fits.
    pub fn to_i64_rounded(&self) -> Option<i64> {
        self.round(0).unscaled.to_i64()
    }

    /// The nearest float8 (`numeric_float8` reads the printed value with `float8in`, which
    /// refuses an overflow to infinity and an underflow to zero: 22003).
    pub fn to_f64(&self) -> Result<f64, PgError> {
        let text = self.render();
        let float: f64 = text.parse().expect("a rendered numeric is a float literal");
        if float.is_infinite() || (float == 0.0 && !self.unscaled.is_zero()) {
            return Err(PgError::new(
                SqlState::NumericValueOutOfRange,
                format!("\"{text}\" is out of range for type double precision"),
            ));
        }
        Ok(float)
    }

    /// The scale of `self / other`: at least 16 significant digits, at least either input's
    /// scale, at most 1000 (`select_div_scale`, which estimates the quotient's weight from
    /// the leading base-10000 digits of the two operands).
    fn quotient_scale(&self, other: &Numeric) -> u32 {
        let (weight_left, first_left) = self.leading_word();
        let (weight_right, first_right) = other.leading_word();
        let mut quotient_weight = weight_left - weight_right;
        if first_left <= first_right {
            quotient_weight -= 1;
        }
        let scale = (QUOTIENT_SIGNIFICANT_DIGITS - quotient_weight * DECIMAL_DIGITS_PER_WORD)
            .max(i64::from(self.scale))
            .max(i64::from(other.scale))
            .clamp(0, QUOTIENT_SCALE_MAX);
        u32::try_from(scale).expect("clamped to 0..=1000")
    }

    /// The weight (power of 10000) and value of the first non-zero base-10000 digit of the
    /// absolute value, as PostgreSQL stores it; `(0, 0)` for zero.
    fn leading_word(&self) -> (i64, u32) {
        if self.unscaled.is_zero() {
            return (0, 0);
        }
        let digits = self.unscaled.magnitude().to_string();
        // The decimal exponent of the leading digit, and the base-10000 word it falls in.
        let exponent = digits.len() as i64 - 1 - i64::from(self.scale);
        let weight = exponent.div_euclid(DECIMAL_DIGITS_PER_WORD);
        let leading =
            usize::try_from(exponent - weight * DECIMAL_DIGITS_PER_WORD + 1).expect("1..=4 digits");
        // A value shorter than the word is padded on the right: 0.5 is the word 5000.
        let taken = leading.min(digits.len());
        let first: u32 = digits[..taken].parse().expect("1..=4 decimal digits");
        let padding = u32::try_from(leading - taken).expect("at most 3");
        (weight, first * 10u32.pow(padding))
    }
}

/// An exponent after `e`: a sign and digits; `None` when malformed. A huge exponent
/// saturates (the caller refuses it as an overflow).
fn parse_exponent(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if text.starts_with('-') {
        -magnitude
    } else {
        magnitude
    })
}

fn division_by_zero() -> PgError {
    PgError::new(SqlState::DivisionByZero, "division by zero")
}

impl From<Numeric> for String {
    fn from(value: Numeric) -> String {
        value.render()
    }
}

impl TryFrom<String> for Numeric {
    type Error = String;
    fn try_from(text: String) -> Result<Numeric, String> {
        Numeric::parse(&text).map_err(|error| error.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Numeric {
        Numeric::parse(text).unwrap()
    }

    #[test]
    fn input_keeps_the_written_scale() {
        assert_eq!(n("1.50").render(), "1.50");
        assert_eq!(n(" -0.00 ").render(), "0.00");
        assert_eq!(n("1.5e1").render(), "15");
        assert_eq!(n("15e-1").render(), "1.5");
        assert_eq!(n(".5").render(), "0.5");
        assert_eq!(n("5.").render(), "5");
        assert_eq!(n("+007").render(), "7");
        for bad in ["", "-", ".", "1.2.3", "1e", "e5", "1 2", "0x1"] {
            let error = Numeric::parse(bad).unwrap_err();
            assert_eq!(error.sqlstate, SqlState::InvalidTextRepresentation, "{bad}");
        }
        assert_eq!(
            Numeric::parse("1e999999999").unwrap_err().sqlstate,
            SqlState::NumericValueOutOfRange
        );
        assert_eq!(
            Numeric::parse("NaN").unwrap_err().sqlstate,
            SqlState::FeatureNotSupported
        );
        assert_eq!(
            Numeric::parse("-NaN").unwrap_err().sqlstate,
            SqlState::InvalidTextRepresentation
        );
        assert_eq!(n("0e900000000").render(), "0");
        assert_eq!(n("0.0001e131075").key().len(), 131_072);
        assert_eq!(n("2.00").as_exact_i64(), Some(2));
        assert_eq!(n("2.50").as_exact_i64(), None);
    }

    #[test]
    fn operators_choose_postgres_scales() {
        assert_eq!(n("1.5").checked_add(&n("2.25")).unwrap().render(), "3.75");
        assert_eq!(n("1.50").checked_sub(&n("1.5")).unwrap().render(), "0.00");
        assert_eq!(n("1.5").checked_mul(&n("2.25")).unwrap().render(), "3.375");
        assert_eq!(
            n("3").checked_div(&n("2")).unwrap().render(),
            "1.5000000000000000"
        );
        assert_eq!(
            n("1").checked_div(&n("3")).unwrap().render(),
            "0.33333333333333333333"
        );
        assert_eq!(
            n("2").checked_div(&n("3")).unwrap().render(),
            "0.66666666666666666667"
        );
        assert_eq!(
            n("10000").checked_div(&n("3")).unwrap().render(),
            "3333.3333333333333333"
        );
        assert_eq!(
            n("0.5").checked_div(&n("3")).unwrap().render(),
            "0.16666666666666666667"
        );
        assert_eq!(
            n("1").checked_div(&n("0.3")).unwrap().render(),
            "3.3333333333333333"
        );
        // The scale is capped at 1000 even below the dividend's own.
        let tiny = n("1e-1001").checked_div(&n("1")).unwrap();
        assert_eq!(tiny.render(), format!("0.{}", "0".repeat(1000)));
        assert_eq!(n("-7.5").checked_rem(&n("2")).unwrap().render(), "-1.5");
        assert_eq!(
            n("1").checked_div(&n("0")).unwrap_err().sqlstate,
            SqlState::DivisionByZero
        );
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(n("2.5").round(0).render(), "3");
        assert_eq!(n("-2.5").round(0).render(), "-3");
        assert_eq!(n("1234.5").round(-2).render(), "1200");
        assert_eq!(n("1.005").round(2).render(), "1.01");
        assert_eq!(n("1.5").round(3).render(), "1.500");
        assert_eq!(n("-2.59").trunc(1).render(), "-2.5");
        assert_eq!(n("-2.5").to_i64_rounded(), Some(-3));
    }

    #[test]
    fn typmod_rounds_then_checks_the_integer_digits() {
        let typmod = Typmod::new(5, 2).unwrap();
        assert_eq!(
            n("999.994").apply_typmod(typmod).unwrap().render(),
            "999.99"
        );
        let error = n("999.995").apply_typmod(typmod).unwrap_err();
        assert_eq!(error.sqlstate, SqlState::NumericValueOutOfRange);
        let tiny = Typmod::new(2, 5).unwrap();
        assert_eq!(
            n("0.000123").apply_typmod(tiny).unwrap().render(),
            "0.00012"
        );
        assert!(n("0.001").apply_typmod(tiny).is_err());
        assert!(Typmod::new(0, 0).is_err());
        assert!(Typmod::new(5, 1001).is_err());
    }

    #[test]
    fn key_ignores_trailing_zeros() {
        assert_eq!(n("1.500").key(), n("1.5").key());
        assert_eq!(n("0.00").key(), n("0").key());
        assert_eq!(n("1.50").cmp_value(&n("1.5")), Ordering::Equal);
        assert_eq!(n("-1").cmp_value(&n("0.5")), Ordering::Less);
    }
}
