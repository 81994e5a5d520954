//! What runs: `entrastream_build_info{version,commit,features}` (always 1) and the standard
//! `process_*` metrics (resident memory, CPU seconds, open file descriptors, threads, start
//! time) from the `prometheus` crate's process collector, which reads `/proc/self` on Linux.
//!
//! Design decision: these are registered next to [`crate::Metrics`] by the daemon
//! ([`register_process_metrics`]), not inside `Metrics::new`, because they describe the process
//! and not one pipeline: tests that build several `Metrics` in one process would otherwise
//! export the same process twice. The commit and the features are the binary's (its build
//! script and `cfg!(feature)`), handed over once at start-up through [`set_build_info`];
//! a process that never sets them (a test harness) exports `unknown`.

use std::sync::OnceLock;

use prometheus::{IntGaugeVec, Opts, Registry};

/// The name of the build-info gauge.
pub const BUILD_INFO: &str = "entrastream_build_info";

/// The build, as the binary knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The crate version.
    pub version: String,
    /// The git commit the binary was built from, or `unknown`.
    pub commit: String,
    /// The cargo features it was built with, comma-separated (`demo,isal`), or `none`.
    pub features: String,
}

static BUILD: OnceLock<BuildInfo> = OnceLock::new();

/// Records the binary's build (the first call wins).
pub fn set_build_info(commit: &str, features: &[&str]) {
    let commit = commit.trim();
    let _ = BUILD.set(BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit: if commit.is_empty() {
            "unknown".into()
        } else {
            commit.into()
        },
        features: if features.is_empty() {
            "none".into()
        } else {
            features.join(",")
        },
    });
}

/// The recorded build, or `unknown` commit and features.
pub fn build_info() -> BuildInfo {
    BUILD.get().cloned().unwrap_or_else(|| BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit: "unknown".into(),
        features: "unknown".into(),
    })
}

/// Registers the build-info gauge and the process collector in `registry`. A second call on
/// the same registry changes nothing (the registry refuses the duplicates; logged at debug).
pub fn register_process_metrics(registry: &Registry) {
    let b = build_info();
    match IntGaugeVec::new(
        Opts::new(
            BUILD_INFO,
            "Always 1; the labels say which build of entrastream runs",
        ),
        &["version", "commit", "features"],
    ) {
        Ok(g) => {
            g.with_label_values(&[b.version.as_str(), b.commit.as_str(), b.features.as_str()])
                .set(1);
            if let Err(e) = registry.register(Box::new(g)) {
                tracing::debug!(error = %e, "build info already registered");
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "build info metric not exported (please report this)")
        }
    }
    #[cfg(target_os = "linux")]
    {
        let pc = prometheus::process_collector::ProcessCollector::for_self();
        if let Err(e) = registry.register(Box::new(pc)) {
            tracing::debug!(error = %e, "process collector already registered");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scrape of a registry with the process metrics passes promtool and carries the
    /// build labels and the process's memory, CPU and file descriptors.
    #[test]
    fn build_info_and_process_metrics_are_exported() {
        set_build_info("abc123", &["demo", "isal"]);
        let m = crate::Metrics::new();
        register_process_metrics(m.registry());
        register_process_metrics(m.registry());
        let text = m.render();
        let line = format!(
            "entrastream_build_info{{commit=\"abc123\",features=\"demo,isal\",version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&line), "{text}");
        for name in [
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                text.contains(&format!("\n{name} ")),
                "{name} missing:\n{text}"
            );
        }
        assert_eq!(
            text.matches("# TYPE entrastream_build_info gauge").count(),
            1
        );
        if let Some(check) = entrastream_testkit::promtool::check_metrics(&text) {
            assert!(check.success, "promtool: {}\n{text}", check.output);
        }
    }
}
