//! The shape every answer takes: a few named facts and compact tables. One model feeds all four
//! renderers, so text, markdown, csv and json can never disagree.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// One table cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(u64),
    Empty,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }
    /// The cell as plain text (empty for [`Cell::Empty`]).
    pub fn display(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Empty => String::new(),
        }
    }
    pub fn as_int(&self) -> Option<u64> {
        match self {
            Cell::Int(n) => Some(*n),
            _ => None,
        }
    }
}

impl From<u64> for Cell {
    fn from(n: u64) -> Self {
        Cell::Int(n)
    }
}
impl From<u32> for Cell {
    fn from(n: u32) -> Self {
        Cell::Int(u64::from(n))
    }
}
impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_owned())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<Option<String>> for Cell {
    fn from(s: Option<String>) -> Self {
        s.map_or(Cell::Empty, Cell::Text)
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Text(t) => s.serialize_str(t),
            Cell::Int(n) => s.serialize_u64(*n),
            Cell::Empty => s.serialize_none(),
        }
    }
}

/// A table: top-N rows, with the count of rows left off.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
    /// Rows beyond the top N that were not kept.
    pub omitted: u64,
    /// Column whose counts the text renderer draws as bars (time buckets).
    pub chart: Option<usize>,
}

impl Table {
    pub fn new(name: &'static str, columns: &[&'static str]) -> Table {
        Table {
            name,
            columns: columns.to_vec(),
            rows: Vec::new(),
            omitted: 0,
            chart: None,
        }
    }
    pub fn charted(mut self, column: usize) -> Table {
        self.chart = Some(column);
        self
    }
    pub fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(cells);
    }
    /// Keeps the first `n` rows and counts the rest as omitted.
    pub fn truncate(&mut self, n: usize) {
        if self.rows.len() > n {
            self.omitted += (self.rows.len() - n) as u64;
            self.rows.truncate(n);
        }
    }
}

/// The answer to one question. Serialises as one JSON object: each fact as a member, then each
/// table as an array of row objects keyed by column (`<table>_omitted` when rows were left off).
/// No facts and no tables is `{}`: the logs held nothing for the question.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub facts: Vec<(&'static str, Cell)>,
    pub tables: Vec<Table>,
}

impl Answer {
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty() && self.tables.iter().all(|t| t.rows.is_empty())
    }
    pub fn fact(&mut self, name: &'static str, value: impl Into<Cell>) {
        self.facts.push((name, value.into()));
    }
    /// Adds the table when it has rows; an empty table says nothing.
    pub fn table(&mut self, t: Table) {
        if !t.rows.is_empty() {
            self.tables.push(t);
        }
    }
    pub fn get_table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
    pub fn get_fact(&self, name: &str) -> Option<&Cell> {
        self.facts.iter().find(|(n, _)| *n == name).map(|(_, c)| c)
    }
}

struct Row<'a>(&'a [&'static str], &'a [Cell]);

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter().zip(self.1) {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

struct Rows<'a>(&'a Table);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.rows.iter().map(|r| Row(&self.0.columns, r)))
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if self.is_empty() {
            return m.end();
        }
        for (k, v) in &self.facts {
            m.serialize_entry(k, v)?;
        }
        for t in &self.tables {
            m.serialize_entry(t.name, &Rows(t))?;
            if t.omitted > 0 {
                m.serialize_entry(&format!("{}_omitted", t.name), &t.omitted)?;
            }
        }
        m.end()
    }
}
