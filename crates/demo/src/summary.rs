//! The demo's closing summary: the questions an Entra administrator asks, answered by the
//! `entrastream report` code (crate `entrastream-report`) from the typed records as they pass
//! through the pipeline, by a tap sink that writes nothing. One implementation, two uses: the
//! demo prints a subset of what `entrastream report` prints over the same records.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use entrastream_entra::{EncodeContext, Record};
use entrastream_report::{Report, ReportOptions, ReportOutput};
use entrastream_sink::{EncodeError, EncodedBatch, Outcome, RecordEncoder, Sink, SinkError};

/// The report questions the demo prints, in order: sign-in status and failure reasons, who and
/// what is used most, the audit changes administrators track, and provisioning outcomes.
pub const DEMO_QUESTIONS: [&str; 9] = [
    "signin_status",
    "users_signed_in",
    "app_usage",
    "passwords_changed",
    "group_membership_changes",
    "consent_grants",
    "licenses_assigned",
    "admin_actions",
    "provisioning_outcomes",
];

/// Rows per table in the demo's summary (the full report shows more).
const DEMO_TOP_N: usize = 5;

/// An encoder that feeds every record to a [`Report`] and writes nothing.
#[derive(Debug)]
pub struct ReportEncoder {
    report: Mutex<Report>,
}

impl Default for ReportEncoder {
    fn default() -> Self {
        ReportEncoder {
            report: Mutex::new(Report::new(ReportOptions {
                top_n: DEMO_TOP_N,
                ..ReportOptions::default()
            })),
        }
    }
}

impl ReportEncoder {
    /// Every answer over the records seen so far.
    pub fn finish(&self) -> Option<ReportOutput> {
        self.report.lock().ok().map(|r| r.finish())
    }

    /// The demo's part of the report as text (no trailing newline).
    pub fn render(&self) -> String {
        let Some(mut out) = self.finish() else {
            return String::new();
        };
        out.questions.retain(|q| DEMO_QUESTIONS.contains(&q.id));
        out.questions
            .sort_by_key(|q| DEMO_QUESTIONS.iter().position(|id| *id == q.id));
        entrastream_report::render::text(&out)
            .trim_end()
            .to_string()
    }
}

impl RecordEncoder for ReportEncoder {
    fn encode(
        &self,
        record: &Record<'_>,
        _ctx: &EncodeContext,
        _out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if let Ok(mut r) = self.report.lock() {
            r.observe(record);
        }
        Ok(())
    }

    fn separator(&self) -> &'static [u8] {
        b""
    }
}

/// The tap sink that carries a [`ReportEncoder`].
#[derive(Debug, Clone, Default)]
pub struct ReportTap {
    /// Shared with the caller, who renders it at the end.
    pub encoder: Arc<ReportEncoder>,
}

#[async_trait]
impl Sink for ReportTap {
    fn name(&self) -> &str {
        "demo_summary"
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    async fn send(&mut self, _batch: &EncodedBatch) -> Outcome {
        Outcome::Delivered
    }

    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entrastream_entra::{ParseOptions, parse_record, split};

    #[test]
    fn renders_the_demo_questions_from_report_answers() {
        let tap = ReportTap::default();
        let body = br#"{"records":[
          {"category":"SignInLogs","properties":{"userPrincipalName":"ada@contoso.example",
           "appDisplayName":"Teams","status":{"errorCode":50126,"failureReason":"Invalid username or password"}}},
          {"category":"AuditLogs","properties":{"activityDisplayName":"Reset user password","result":"success",
           "initiatedBy":{"user":{"userPrincipalName":"helpdesk@contoso.example"}},
           "targetResources":[{"type":"User","userPrincipalName":"bob@contoso.example"}]}}]}"#;
        let enc = tap.encoder();
        for s in split(body) {
            let r = parse_record(s.unwrap(), &ParseOptions::default()).unwrap();
            enc.encode(&r, &EncodeContext::default(), &mut Vec::new())
                .unwrap();
        }
        let text = tap.encoder.render();
        for id in DEMO_QUESTIONS {
            assert!(
                text.contains(&format!("[{id}]")),
                "{id} missing from:\n{text}"
            );
        }
        assert!(text.contains("50126"), "{text}");
        assert!(!text.contains("[signin_pattern]"));
    }
}
