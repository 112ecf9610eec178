//! The daemon's own footprint: resident memory and CPU time, measured after every check and kept
//! in the status file, so `posture status` shows what the agent costs the laptop and a regression
//! is visible in the field, not only in benchmarks.

/// Memory and CPU used by this process so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// User plus system CPU time since the process started, milliseconds.
    pub cpu_ms: u64,
}

/// Measures this process; `None` where the operating system does not tell.
#[must_use]
pub fn measure() -> Option<Footprint> {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    // Only this one process is refreshed: cheap enough to do after every check.
    let mut system = System::new().ok()?;
    let pid = Pid::from_u32(std::process::id());
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        false,
        ProcessRefreshKind::nothing().with_memory().with_cpu(),
    );
    let process = system.process(pid)?;
    Some(Footprint {
        rss_bytes: process.memory(),
        cpu_ms: process.accumulated_cpu_time(),
    })
}

// Compared with procfs, so Linux only.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_set_and_the_figure_matches_procfs_roughly() {
        let f = measure().expect("Linux reports a process's memory");
        let status = fs_err::read_to_string("/proc/self/status").unwrap();
        let vm_rss_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        let kb = f.rss_bytes / 1024;
        // Both are snapshots a moment apart; they agree within a few MiB.
        assert!(
            kb.abs_diff(vm_rss_kb) < 8 * 1024,
            "sysinfo {kb} KiB vs VmRSS {vm_rss_kb} KiB"
        );
    }
}
