//! A small Markdown table builder: a header, how many leading columns are text (left-aligned;
//! the rest are numbers, right-aligned), and rows of cells.

/// A Markdown table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    text_columns: usize,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles, the first `text_columns` of them text.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>, text_columns: usize) -> Self {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            text_columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as Markdown, a line per row, each ending in a newline.
    pub fn render(&self) -> String {
        let line = |cells: &[String]| match cells.is_empty() {
            true => "|\n".to_string(),
            false => format!("| {} |\n", cells.join(" | ")),
        };
        let numbers = self.header.len().saturating_sub(self.text_columns);
        let mut out = line(&self.header);
        out.push('|');
        out.push_str(&"---|".repeat(self.header.len() - numbers));
        out.push_str(&"---:|".repeat(numbers));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// The column titles of a table with one column per prune ratio after `first`.
pub fn ratio_columns(first: &str, ratios: &[f64]) -> Vec<String> {
    std::iter::once(first.to_string())
        .chain(ratios.iter().map(|p| format!("prune {:.0}%", p * 100.0)))
        .collect()
}
