//! Renders a [`ReportOutput`] as text (terminal), markdown, csv or json.

use std::fmt::Write as _;
use std::str::FromStr;

use crate::ReportOutput;
use crate::answer::{Answer, Cell, Table};

/// Output format of `entrastream report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Csv,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}; valid formats are text, json, csv, markdown")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(Format::Text),
            "markdown" | "md" => Ok(Format::Markdown),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

pub fn render(out: &ReportOutput, format: Format) -> String {
    match format {
        Format::Text => text(out),
        Format::Markdown => markdown(out),
        Format::Csv => csv(out),
        Format::Json => json(out),
    }
}

pub fn json(out: &ReportOutput) -> String {
    let mut s =
        serde_json::to_string_pretty(out).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

fn window_lines(out: &ReportOutput) -> Vec<String> {
    let w = &out.window;
    let mut v = vec![format!(
        "records: {} in scope, {} read, {} unparsed, {} outside the window, {} not matching the filters",
        out.records,
        w.records_read,
        w.records_unparsed,
        w.records_outside_window,
        w.records_not_matching
    )];
    if w.records_unparsed > 0 {
        let reasons: Vec<String> = w
            .unparsed_by_reason
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        v.push(format!(
            "unparsed records by reason: {}",
            reasons.join(", ")
        ));
    }
    let time = |t: &Option<String>| t.clone().unwrap_or_else(|| "-".into());
    v.push(format!(
        "events: {} .. {} (window: {} .. {})",
        time(&w.first_event),
        time(&w.last_event),
        time(&w.since),
        time(&w.until)
    ));
    if let Some(u) = &w.user {
        v.push(format!("user: {u}"));
    }
    if let Some(a) = &w.app {
        v.push(format!("app: {a}"));
    }
    v
}

const BAR_WIDTH: u64 = 30;

fn bar(n: u64, max: u64) -> String {
    if max == 0 {
        return String::new();
    }
    let len = (n * BAR_WIDTH).div_ceil(max);
    "█".repeat(len as usize)
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Text tables, aligned, with bars after the charted column.
fn text_table(s: &mut String, t: &Table) {
    let _ = writeln!(s, "  {}:", t.name.replace('_', " "));
    let cells: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(Cell::display).collect())
        .collect();
    let mut widths: Vec<usize> = t.columns.iter().map(|c| width(c)).collect();
    for r in &cells {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(width(c).min(60));
        }
    }
    let max = t
        .chart
        .map(|c| {
            t.rows
                .iter()
                .filter_map(|r| r[c].as_int())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    let line = |s: &mut String, r: &[String], bar_text: Option<String>| {
        let mut l = String::from("    ");
        for (i, c) in r.iter().enumerate() {
            let c: String = if width(c) > 60 {
                c.chars().take(59).chain(['…']).collect()
            } else {
                c.clone()
            };
            let pad = widths[i].saturating_sub(width(&c));
            let numeric = t
                .rows
                .first()
                .is_some_and(|row| matches!(row[i], Cell::Int(_)));
            if numeric {
                l.push_str(&" ".repeat(pad));
                l.push_str(&c);
            } else {
                l.push_str(&c);
                l.push_str(&" ".repeat(pad));
            }
            l.push_str("  ");
        }
        if let Some(b) = bar_text {
            l.push_str(&b);
        }
        let _ = writeln!(s, "{}", l.trim_end());
    };
    let header: Vec<String> = t.columns.iter().map(|c| c.to_string()).collect();
    line(s, &header, None);
    for (r, raw) in cells.iter().zip(&t.rows) {
        let b = t.chart.and_then(|c| raw[c].as_int()).map(|n| bar(n, max));
        line(s, r, b);
    }
    if t.omitted > 0 {
        let _ = writeln!(s, "    … {} more", t.omitted);
    }
}

pub fn text(out: &ReportOutput) -> String {
    let mut s = String::from("entrastream report\n");
    for l in window_lines(out) {
        let _ = writeln!(s, "  {l}");
    }
    for q in &out.questions {
        let _ = writeln!(s, "\n== {} [{}]", q.question, q.id);
        text_answer(&mut s, &q.answer);
    }
    s
}

fn text_answer(s: &mut String, a: &Answer) {
    if a.is_empty() {
        let _ = writeln!(s, "  (nothing in these logs)");
        return;
    }
    if !a.facts.is_empty() {
        let facts: Vec<String> = a
            .facts
            .iter()
            .map(|(k, v)| format!("{}: {}", k.replace('_', " "), v.display()))
            .collect();
        let _ = writeln!(s, "  {}", facts.join(" · "));
    }
    for t in &a.tables {
        text_table(s, t);
    }
}

fn md_escape(c: &str) -> String {
    c.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(out: &ReportOutput) -> String {
    let mut s = String::from("# entrastream report\n\n");
    for l in window_lines(out) {
        let _ = writeln!(s, "- {}", md_escape(&l));
    }
    for q in &out.questions {
        let _ = writeln!(s, "\n## {}\n\n`{}`\n", md_escape(q.question), q.id);
        let a = &q.answer;
        if a.is_empty() {
            let _ = writeln!(s, "_Nothing in these logs._");
            continue;
        }
        if !a.facts.is_empty() {
            let _ = writeln!(s, "| fact | value |\n|---|---:|");
            for (k, v) in &a.facts {
                let _ = writeln!(s, "| {k} | {} |", md_escape(&v.display()));
            }
            s.push('\n');
        }
        for t in &a.tables {
            let _ = writeln!(s, "**{}**\n", t.name);
            let _ = writeln!(s, "| {} |", t.columns.join(" | "));
            let aligns: Vec<&str> = (0..t.columns.len())
                .map(|i| {
                    if t.rows.first().is_some_and(|r| matches!(r[i], Cell::Int(_))) {
                        "---:"
                    } else {
                        "---"
                    }
                })
                .collect();
            let _ = writeln!(s, "|{}|", aligns.join("|"));
            for r in &t.rows {
                let cells: Vec<String> = r.iter().map(|c| md_escape(&c.display())).collect();
                let _ = writeln!(s, "| {} |", cells.join(" | "));
            }
            if t.omitted > 0 {
                let _ = writeln!(s, "\n_{} more rows not shown._", t.omitted);
            }
            s.push('\n');
        }
    }
    s
}

fn csv_field(c: &str) -> String {
    if c.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c.to_owned()
    }
}

/// One table per question: a `# question_id` line, the header and the rows, then a blank
/// line. Facts form a `fact,value` table; a question with several tables repeats the
/// `# question_id` line with the table name (`# signin_status.top_error_codes`).
pub fn csv(out: &ReportOutput) -> String {
    let mut s = String::new();
    for q in &out.questions {
        let a = &q.answer;
        let _ = writeln!(s, "# {}", q.id);
        if a.is_empty() {
            s.push('\n');
            continue;
        }
        let mut first = true;
        if !a.facts.is_empty() {
            let _ = writeln!(s, "fact,value");
            for (k, v) in &a.facts {
                let _ = writeln!(s, "{},{}", k, csv_field(&v.display()));
            }
            first = false;
        }
        for t in &a.tables {
            if !first {
                let _ = writeln!(s, "\n# {}.{}", q.id, t.name);
            }
            first = false;
            let _ = writeln!(s, "{}", t.columns.join(","));
            for r in &t.rows {
                let cells: Vec<String> = r.iter().map(|c| csv_field(&c.display())).collect();
                let _ = writeln!(s, "{}", cells.join(","));
            }
        }
        s.push('\n');
    }
    s
}
