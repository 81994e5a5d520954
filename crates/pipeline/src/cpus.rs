//! How many CPUs this process may use: the size of the parse pool when `parse_threads` is auto.
//!
//! What std already does: [`std::thread::available_parallelism`] (Rust ≥ 1.64 on Linux) counts
//! the sched affinity mask (`taskset`, cpusets) and caps it by the cgroup v2 `cpu.max` or
//! cgroup v1 `cpu.cfs_quota_us / cpu.cfs_period_us` quota of the process's cgroup and its
//! ancestors, found through `/proc/self/cgroup` and the mount table.
//!
//! What it misses, and this module adds: std rounds the quota *down* (a Kubernetes limit of
//! `1500m` gives 1), so a pod would pay for a core and a half and parse on one. The parse pool
//! is the only CPU-heavy part of the daemon, so here the quota is rounded *up* (1.5 → 2
//! threads): the kernel's CFS throttling keeps the process within its quota either way, and
//! the half core is used instead of wasted. The affinity mask still bounds the result (two
//! threads never share one allowed CPU for nothing). When the quota files cannot be read
//! here (a cgroup v1 hierarchy mounted somewhere other than `/sys/fs/cgroup`), std's answer,
//! which searches the mount table, is the bound.

use std::path::{Component, Path, PathBuf};

/// What was found about the CPUs this process may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuBudget {
    /// CPUs in the affinity mask (`Cpus_allowed_list` of `/proc/self/status`).
    pub affinity: Option<usize>,
    /// The cgroup CPU quota in CPUs (the smallest along the cgroup path), None when unlimited
    /// or unreadable.
    pub quota: Option<f64>,
    /// [`std::thread::available_parallelism`].
    pub std_parallelism: Option<usize>,
}

impl CpuBudget {
    /// Reads the affinity mask, the cgroup quota and std's estimate of this process.
    pub fn detect() -> CpuBudget {
        let affinity = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| affinity_from_status(&s));
        let quota = std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|c| cgroup_quota(Path::new("/sys/fs/cgroup"), &c));
        let std_parallelism = std::thread::available_parallelism().ok().map(|n| n.get());
        CpuBudget {
            affinity,
            quota,
            std_parallelism,
        }
    }

    /// Threads to use: the affinity mask capped by the quota rounded up (see the module doc).
    pub fn threads(&self) -> usize {
        let quota = self.quota.map(quota_threads);
        let n = match (self.affinity, quota) {
            (Some(a), Some(q)) => a.min(q),
            // std may have found a quota this module could not read.
            (Some(a), None) => self.std_parallelism.map_or(a, |s| a.min(s)),
            (None, Some(q)) => self.std_parallelism.map_or(q, |s| s.min(q)),
            (None, None) => self.std_parallelism.unwrap_or(1),
        };
        n.max(1)
    }
}

/// A quota in CPUs as a thread count: rounded up, at least 1.
fn quota_threads(q: f64) -> usize {
    let up = q.ceil();
    if up.is_finite() && up >= 1.0 {
        // Saturating float-to-int conversion: a huge quota is simply no bound.
        up as usize
    } else {
        1
    }
}

/// The CPU count of `Cpus_allowed_list:` (e.g. `0-3,6`) in a `/proc/<pid>/status` text.
pub(crate) fn affinity_from_status(status: &str) -> Option<usize> {
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim();
    let mut n = 0usize;
    for range in list.split(',').filter(|r| !r.is_empty()) {
        n += match range.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                b.checked_sub(a)? + 1
            }
            None => {
                range.trim().parse::<usize>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

/// The smallest CPU quota (in CPUs) along this process's cgroup path, under a cgroup file
/// system mounted at `root`, from the text of `/proc/self/cgroup`: cgroup v2 (`0::/path`,
/// `cpu.max` at `root/path` and each ancestor) and cgroup v1 (the `cpu` controller,
/// `cpu.cfs_quota_us` and `cpu.cfs_period_us` under `root/cpu` or `root/cpu,cpuacct`).
/// Walking up to the mount root also covers a container without a cgroup namespace, whose
/// own cgroup is the mount root while `/proc/self/cgroup` names the host's path.
pub(crate) fn cgroup_quota(root: &Path, proc_self_cgroup: &str) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut keep = |q: Option<f64>| {
        if let Some(q) = q {
            best = Some(best.map_or(q, |b: f64| b.min(q)));
        }
    };
    for line in proc_self_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            for dir in ancestors(root, path) {
                keep(read_cpu_max(&dir));
            }
        } else if controllers.split(',').any(|c| c == "cpu") {
            for mount in [root.join("cpu"), root.join(controllers)] {
                for dir in ancestors(&mount, path) {
                    keep(read_cfs(&dir));
                }
            }
        }
    }
    best
}

/// `mount/path`, then each parent up to `mount` itself. Only plain path components are
/// followed (nothing climbs above the mount).
fn ancestors(mount: &Path, path: &str) -> Vec<PathBuf> {
    let parts: Vec<&std::ffi::OsStr> = Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p),
            _ => None,
        })
        .collect();
    (0..=parts.len())
        .rev()
        .map(|n| {
            parts[..n]
                .iter()
                .fold(mount.to_path_buf(), |d, p| d.join(p))
        })
        .collect()
}

/// cgroup v2 `cpu.max`: `$MAX $PERIOD`, `max` meaning unlimited.
fn read_cpu_max(dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("cpu.max")).ok()?;
    let mut it = text.split_whitespace();
    let max = it.next()?;
    let period: f64 = it.next().map_or(Some(100_000.0), |p| p.parse().ok())?;
    if max == "max" {
        return None;
    }
    ratio(max.parse().ok()?, period)
}

/// cgroup v1 `cpu.cfs_quota_us` (-1 meaning unlimited) over `cpu.cfs_period_us`.
fn read_cfs(dir: &Path) -> Option<f64> {
    let quota: f64 = std::fs::read_to_string(dir.join("cpu.cfs_quota_us"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let period: f64 = std::fs::read_to_string(dir.join("cpu.cfs_period_us"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    ratio(quota, period)
}

fn ratio(quota: f64, period: f64) -> Option<f64> {
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn affinity_counts_ranges_and_single_cpus() {
        assert_eq!(
            affinity_from_status("Name:\tx\nCpus_allowed_list:\t0-3,6,8-9\n"),
            Some(7)
        );
        assert_eq!(affinity_from_status("Cpus_allowed_list:\t0\n"), Some(1));
        assert_eq!(affinity_from_status("Cpus_allowed_list:\t3-1\n"), None);
        assert_eq!(affinity_from_status("Name:\tx\n"), None);
    }

    #[test]
    fn cgroup_v2_quota_is_the_smallest_along_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "kubepods/pod1/cpu.max", "max 100000\n");
        write(root, "kubepods/pod1/c1/cpu.max", "150000 100000\n");
        assert_eq!(cgroup_quota(root, "0::/kubepods/pod1/c1\n"), Some(1.5));
        write(root, "kubepods/cpu.max", "50000 100000\n");
        assert_eq!(cgroup_quota(root, "0::/kubepods/pod1/c1\n"), Some(0.5));
        // Unlimited everywhere.
        let empty = tempfile::tempdir().unwrap();
        write(empty.path(), "cpu.max", "max 100000\n");
        assert_eq!(cgroup_quota(empty.path(), "0::/\n"), None);
    }

    #[test]
    fn cgroup_v1_quota_and_a_container_without_a_cgroup_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // The container's own cgroup is the mount root; /proc/self/cgroup names the host path.
        write(root, "cpu,cpuacct/cpu.cfs_quota_us", "200000\n");
        write(root, "cpu,cpuacct/cpu.cfs_period_us", "100000\n");
        let text = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n";
        assert_eq!(cgroup_quota(root, text), Some(2.0));
        // -1: no quota.
        write(root, "cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
        assert_eq!(cgroup_quota(root, text), None);
    }

    #[test]
    fn threads_round_the_quota_up_and_stay_within_the_affinity_mask() {
        let b = |affinity, quota, std_parallelism| CpuBudget {
            affinity,
            quota,
            std_parallelism,
        };
        assert_eq!(
            b(Some(8), Some(1.5), Some(1)).threads(),
            2,
            "1500m: 2 threads"
        );
        assert_eq!(b(Some(1), Some(4.0), Some(1)).threads(), 1, "taskset -c 0");
        assert_eq!(b(Some(8), Some(0.25), Some(1)).threads(), 1);
        assert_eq!(b(Some(8), None, Some(8)).threads(), 8);
        assert_eq!(
            b(Some(8), None, Some(3)).threads(),
            3,
            "a quota only std could read still bounds it"
        );
        assert_eq!(b(None, None, None).threads(), 1);
        assert_eq!(b(None, Some(2.5), Some(2)).threads(), 2);
    }

    #[test]
    fn this_process_has_a_budget() {
        let b = CpuBudget::detect();
        assert!(b.threads() >= 1);
        if let (Some(a), Some(s)) = (b.affinity, b.std_parallelism) {
            assert!(b.threads() <= a.max(s), "{b:?}");
        }
    }
}
