//! Text for people: the small adapters the services' `Display` impls share, so every trace
//! line writes a list or a map the same way. Not here: any service's own wording.

use std::fmt;

/// Writes `items` between `open` and `close`, separated by `, `, each written by `each`.
pub(crate) fn write_joined<T>(
    formatter: &mut fmt::Formatter<'_>,
    [open, close]: [&str; 2],
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut fmt::Formatter<'_>, T) -> fmt::Result,
) -> fmt::Result {
    formatter.write_str(open)?;
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            formatter.write_str(", ")?;
        }
        each(formatter, item)?;
    }
    formatter.write_str(close)
}

/// A slice as `[a, b]`, each item by its `Display`.
pub(crate) struct List<'a, Item>(pub(crate) &'a [Item]);

impl<Item: fmt::Display> fmt::Display for List<'_, Item> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(formatter, ["[", "]"], self.0, |formatter, item| {
            write!(formatter, "{item}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_bracketed_and_comma_separated() {
        assert_eq!(List(&[1, 2, 3]).to_string(), "[1, 2, 3]");
        assert_eq!(List::<u8>(&[]).to_string(), "[]");
    }
}
