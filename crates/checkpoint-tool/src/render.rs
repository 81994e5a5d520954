//! The text forms of a report and a plan: aligned tables for a terminal. The JSON forms are
//! the types' serde output.

use std::fmt::Write;

use crate::amqp::AmqpReport;
use crate::kafka::KafkaReport;
use crate::time::format_age;
use crate::{Plan, Report};

/// `checkpoints show --format text`.
pub fn report_text(report: &Report) -> String {
    match report {
        Report::Kafka(k) => kafka_text(k),
        Report::Amqp(a) => amqp_text(a),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn age(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), format_age)
}

/// Rows padded to each column's widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<&str> = cells.collect();
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let _ = write!(s, "{c:<w$}  ");
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut out, &mut header.iter().copied());
    for r in rows {
        line(&mut out, &mut r.iter().map(String::as_str));
    }
    out
}

fn kafka_text(k: &KafkaReport) -> String {
    let mut out = format!(
        "source kafka: brokers {}, topic {}, group {}\n",
        k.brokers, k.topic, k.group
    );
    let _ = writeln!(
        out,
        "group state {}, {} member(s)",
        k.group_state.as_deref().unwrap_or("unknown"),
        k.members.len()
    );
    for m in &k.members {
        let parts: Vec<String> = m.partitions.iter().map(i32::to_string).collect();
        let _ = writeln!(
            out,
            "  {}: partitions {}",
            m.describe(),
            if parts.is_empty() {
                "none".into()
            } else {
                parts.join(",")
            }
        );
    }
    let rows: Vec<Vec<String>> = k
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.partition.to_string(),
                opt(p.committed),
                p.log_start.to_string(),
                p.log_end.to_string(),
                p.lag.to_string(),
                age(p.lag_seconds),
                age(p.retention_headroom_seconds),
                opt(p.owner.as_deref()),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "PARTITION",
            "COMMITTED",
            "LOG-START",
            "LOG-END",
            "LAG",
            "LAG-TIME",
            "HEADROOM",
            "OWNER",
        ],
        &rows,
    ));
    let total: i64 = k.partitions.iter().map(|p| p.lag).sum();
    let _ = writeln!(out, "total lag {total} record(s)");
    notes(&mut out, &k.notes);
    out
}

fn amqp_text(a: &AmqpReport) -> String {
    let mut out = format!(
        "source amqp: namespace {}, event hub {}, consumer group {}\n",
        a.namespace, a.event_hub, a.consumer_group
    );
    let _ = writeln!(
        out,
        "store {}, ownership expiry {}, hub {}",
        a.store,
        format_age(a.ownership_expiry_seconds),
        if a.hub_reachable {
            "reachable"
        } else {
            "NOT reachable"
        }
    );
    let rows: Vec<Vec<String>> = a
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.partition.clone(),
                opt(p.checkpoint_sequence_number),
                opt(p.checkpoint_offset.as_deref()),
                match (&p.owner, p.owner_live) {
                    (Some(o), true) => o.clone(),
                    (Some(o), false) => format!("{o} (expired)"),
                    (None, _) => "-".into(),
                },
                age(p.ownership_age_seconds),
                age(p.ownership_expires_in_seconds),
                opt(p.last_enqueued_sequence_number),
                opt(p.lag),
                age(p.lag_seconds),
                age(p.retention_headroom_seconds),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "PARTITION",
            "CHECKPOINT-SEQ",
            "CHECKPOINT-OFFSET",
            "OWNER",
            "RENEWED-AGO",
            "EXPIRES-IN",
            "LAST-ENQUEUED-SEQ",
            "LAG",
            "LAG-TIME",
            "HEADROOM",
        ],
        &rows,
    ));
    if a.hub_reachable {
        let total: i64 = a.partitions.iter().filter_map(|p| p.lag).sum();
        let _ = writeln!(out, "total lag {total} event(s)");
    }
    notes(&mut out, &a.notes);
    out
}

fn notes(out: &mut String, notes: &[String]) {
    for n in notes {
        let _ = writeln!(out, "note: {n}");
    }
}

/// `checkpoints set` without `--format json`: the plan, one line per partition.
pub fn plan_text(plan: &Plan) -> String {
    let (unit, read) = match plan.source {
        "kafka" => ("committed offset", "offset"),
        _ => ("checkpoint sequence number", "sequence number"),
    };
    let mut out = format!(
        "plan: {} {} group {} to {}: {unit}, old -> new\n",
        plan.source, plan.topic, plan.group, plan.target
    );
    for m in &plan.moves {
        let _ = writeln!(
            out,
            "  partition {}: {} -> {} (next {read} read: {})",
            m.partition,
            opt(m.old),
            m.new,
            m.next_read
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Move;

    #[test]
    fn tables_align_and_plans_show_old_and_new() {
        let t = table(&["A", "BB"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(t, "A     BB\nlong  x\n");
        let plan = Plan {
            source: "kafka",
            topic: "t".into(),
            group: "g".into(),
            target: "earliest".into(),
            moves: vec![Move {
                partition: "0".into(),
                old: None,
                new: 5,
                next_read: 5,
            }],
            blockers: vec![],
        };
        assert_eq!(
            plan_text(&plan),
            "plan: kafka t group g to earliest: committed offset, old -> new\n  partition 0: - -> 5 (next offset read: 5)\n"
        );
    }
}
