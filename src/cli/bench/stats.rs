//! Medians and spread of repeated measurements, and the number formats the tables use.
//! Not here: confidence intervals or outlier rejection; the tables show min..max so a noisy
//! cell is visible as such.

/// The median and range of a set of measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The middle value (the mean of the two middle ones for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; all zero when there are none.
    pub fn of(values: &[f64]) -> Spread {
        let mut sorted: Vec<f64> = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let Some((&min, &max)) = sorted.first().zip(sorted.last()) else {
            return Spread {
                median: 0.0,
                min: 0.0,
                max: 0.0,
            };
        };
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 0 {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        } else {
            sorted[middle]
        };
        Spread { median, min, max }
    }

    /// `median (min..max)`, each with three significant digits.
    pub fn show(&self) -> String {
        format!(
            "{} ({}..{})",
            number(self.median),
            number(self.min),
            number(self.max)
        )
    }
}

/// A number with about three significant digits and thousands separated by commas:
/// `1,234`, `56.7`, `0.0123`.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_string();
    }
    let magnitude = value.abs();
    if magnitude >= 1_000.0 || value.fract() == 0.0 {
        return thousands(value.round() as i64);
    }
    let decimals = if magnitude >= 100.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else if magnitude >= 1.0 {
        2
    } else if magnitude >= 0.01 {
        3
    } else {
        5
    };
    format!("{value:.decimals$}")
}

fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0 {
        grouped.insert(0, '-');
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts_and_the_range() {
        assert_eq!(Spread::of(&[3.0, 1.5, 2.0]).show(), "2 (1.50..3)");
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 3.0]).show(), "2.50 (1..4)");
        assert_eq!(Spread::of(&[]).show(), "0 (0..0)");
    }

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(number(1_234_567.0), "1,234,567");
        assert_eq!(number(56.78), "56.8");
        assert_eq!(number(0.012_34), "0.012");
        assert_eq!(number(-2_500.0), "-2,500");
        assert_eq!(number(9.0), "9");
    }
}
