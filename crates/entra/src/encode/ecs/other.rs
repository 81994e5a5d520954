//! Categories Elastic has no pipeline for (ones this build does not know, or that Microsoft adds):
//! the sign-in style (recursive snake_case, nulls and empties removed) under `azure.events`,
//! the data set Elastic's `events` router gives them.

use super::*;
use crate::record::Outcome;

pub(super) fn encode(record: &Record<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    let env = record.envelope();
    let mut o = ObjectWriter::new(out);
    write_head(&mut o, record, ctx, false);
    let actor = record.actor();

    o.object("event", |e| {
        e.str("kind", "event");
        e.opt_str_nonempty("action", env.operation_name);
        if record.outcome() != Outcome::Unknown {
            e.str("outcome", record.outcome().as_str());
        }
        if let Some(ms) = env.duration_ms {
            e.i64("duration", nanos(ms));
        }
        write_ingested(e, ctx.ingest_time);
        e.str("dataset", "azure.events");
    });

    write_azure(&mut o, record, |a| {
        a.object("events", |w| {
            write_snake_envelope(w, record, true);
            if let Some(p) = record.properties()
                && !p.is_empty()
            {
                let mark = w.mark();
                w.key("properties");
                if !write_clean_object(w.out, p, true) {
                    w.rollback(mark);
                }
            }
        });
    });
    write_level(&mut o, env.level);

    // The client address: the record's own IP field, else the envelope's caller address.
    let addr = actor.ip.filter(|i| !i.is_empty());
    let source_ip = addr.filter(|ip| is_ip(*ip));
    if let Some(a) = addr {
        o.object("source", |s| {
            s.opt_json_str("address", Some(a));
            s.opt_json_str("ip", source_ip);
        });
    }
    o.object("client", |c| c.opt_json_str("ip", source_ip));
    o.object("related", |r| write_set(r, "ip", &[source_ip]));
    o.finish();
}
