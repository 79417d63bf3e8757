//! Markdown output of `syncsim bench`: tables, and the splicing of generated sections into
//! BENCHMARKS.md between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, so the text
//! written by hand around them survives a re-run. Not here: any other Markdown parsing.

/// A table: a header row and rows of cells.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column titles.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|title| (*title).to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (as many cells as the header).
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len(), "a row fills every column");
        self.rows.push(cells);
    }

    /// The table as GitHub Markdown, numeric-looking columns right-aligned.
    pub fn render(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut text = line(&self.header);
        let rule: Vec<String> = (0..self.header.len())
            .map(|column| {
                let numeric = self.rows.iter().all(|row| {
                    row[column]
                        .chars()
                        .next()
                        .is_some_and(|first| first.is_ascii_digit())
                });
                if numeric && !self.rows.is_empty() {
                    "---:".to_string()
                } else {
                    "---".to_string()
                }
            })
            .collect();
        text.push_str(&line(&rule));
        for row in &self.rows {
            text.push_str(&line(row));
        }
        text
    }
}

/// `document` with the block of section `name` replaced by `body` (appended at the end when
/// the document has no such block yet).
pub fn splice(document: &str, name: &str, body: &str) -> String {
    let start = format!("<!-- bench:{name} -->");
    let end = format!("<!-- /bench:{name} -->");
    let block = format!("{start}\n{}\n{end}", body.trim_end());
    if let Some(start_index) = document.find(&start) {
        if let Some(end_offset) = document[start_index..].find(&end) {
            let end_index = start_index + end_offset + end.len();
            return format!(
                "{}{block}{}",
                &document[..start_index],
                &document[end_index..]
            );
        }
    }
    let mut text = document.trim_end().to_string();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(&block);
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_its_own_block_and_keeps_the_rest() {
        let first = splice("# Benchmarks\n", "overhead", "old");
        assert_eq!(
            first,
            "# Benchmarks\n\n<!-- bench:overhead -->\nold\n<!-- /bench:overhead -->\n"
        );
        let edited = format!("{first}\nhand-written\n");
        let second = splice(&edited, "overhead", "new\n");
        assert!(second.contains("bench:overhead -->\nnew\n<!--"), "{second}");
        assert!(second.ends_with("hand-written\n"), "{second}");
        assert!(!second.contains("old"), "{second}");
    }

    #[test]
    fn numeric_columns_are_right_aligned() {
        let mut table = Table::new(&["scenario", "seeds/s"]);
        table.row(vec!["counter/unguarded".into(), "1,234".into()]);
        let text = table.render();
        assert_eq!(
            text,
            "| scenario | seeds/s |\n| --- | ---: |\n| counter/unguarded | 1,234 |\n"
        );
    }
}
