//! Creating and registering the metric families of [`crate::spec`]: the only place this crate
//! calls the `prometheus` constructors.
//!
//! Those constructors return `Result` for rules that `spec` already enforces at compile time
//! (valid, distinct names; valid, distinct, unreserved labels; non-empty help; increasing
//! buckets), so their errors cannot occur. A registration error (it would take a `prometheus`
//! release with a new rule) is logged and the metric keeps counting, unexported: the daemon
//! runs on. A construction error, equally impossible, has its one `unreachable!` in
//! [`unreachable_rule`]; no caller's data reaches it, and the crate's tests build every family.

use prometheus::core::Collector;
use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

use crate::spec::{HistogramSpec, MetricSpec};

fn opts<const N: usize>(s: &MetricSpec<N>) -> Opts {
    Opts::new(s.name, s.help)
}

fn hopts<const N: usize, const B: usize>(s: &HistogramSpec<N, B>) -> HistogramOpts {
    HistogramOpts::new(s.metric.name, s.metric.help).buckets(s.buckets.to_vec())
}

/// Registers `c` in `r` (when exported) and returns it.
pub(crate) fn registered<C: Collector + Clone + 'static>(
    r: Option<&Registry>,
    name: &str,
    c: C,
) -> C {
    if let Some(r) = r
        && let Err(e) = r.register(Box::new(c.clone()))
    {
        tracing::error!(metric = name, error = %e, "metric not exported (please report this)");
    }
    c
}

/// The metric of a constructor whose every rule `spec` checked at compile time.
fn unreachable_rule<T>(name: &str, made: prometheus::Result<T>) -> T {
    match made {
        Ok(m) => m,
        // Every rule of `Desc::new` and `HistogramOpts` is checked by `spec`'s const fns.
        Err(e) => unreachable!("metric {name} breaks a rule spec.rs checks at compile time: {e}"),
    }
}

pub(crate) fn counter_vec<const N: usize>(
    r: Option<&Registry>,
    s: &MetricSpec<N>,
) -> IntCounterVec {
    let c = unreachable_rule(s.name, IntCounterVec::new(opts(s), &s.labels));
    registered(r, s.name, c)
}

pub(crate) fn gauge_vec<const N: usize>(r: Option<&Registry>, s: &MetricSpec<N>) -> IntGaugeVec {
    let c = unreachable_rule(s.name, IntGaugeVec::new(opts(s), &s.labels));
    registered(r, s.name, c)
}

pub(crate) fn float_gauge_vec<const N: usize>(r: Option<&Registry>, s: &MetricSpec<N>) -> GaugeVec {
    let c = unreachable_rule(s.name, GaugeVec::new(opts(s), &s.labels));
    registered(r, s.name, c)
}

pub(crate) fn histogram_vec<const N: usize, const B: usize>(
    r: Option<&Registry>,
    s: &HistogramSpec<N, B>,
) -> HistogramVec {
    let c = unreachable_rule(s.metric.name, HistogramVec::new(hopts(s), &s.metric.labels));
    registered(r, s.metric.name, c)
}

pub(crate) fn counter(r: Option<&Registry>, s: &MetricSpec<0>) -> IntCounter {
    let c = unreachable_rule(s.name, IntCounter::with_opts(opts(s)));
    registered(r, s.name, c)
}

pub(crate) fn gauge(r: Option<&Registry>, s: &MetricSpec<0>) -> IntGauge {
    let c = unreachable_rule(s.name, IntGauge::with_opts(opts(s)));
    registered(r, s.name, c)
}

pub(crate) fn histogram<const B: usize>(
    r: Option<&Registry>,
    s: &HistogramSpec<0, B>,
) -> Histogram {
    let c = unreachable_rule(s.metric.name, Histogram::with_opts(hopts(s)));
    registered(r, s.metric.name, c)
}
