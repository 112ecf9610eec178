//! The daemon's malloc arenas on glibc.
//!
//! glibc gives a thread that allocates while another holds the main arena an arena of its own
//! (up to eight per core), a 64 MiB reservation whose first pages stay resident for the life of
//! the process even when the thread has ended. The daemon does its work on one thread; a check
//! runs on at most two blocking threads and a few short-lived helper threads (deadlines, command
//! output), and the watcher waits on one more. Each time such threads happened to overlap, an
//! arena was left behind, so the idle daemon's memory depended on thread timing (two to four
//! arenas between runs of the same build, 50 to 200 KiB resident), not on what it keeps. One
//! arena is enough for a process that is idle almost all the time: its threads seldom allocate
//! at the same moment.
//!
//! Other C libraries (musl) have no per-thread arenas, and macOS and Windows have their own
//! allocators: there the function does nothing.

/// Limits glibc's malloc to its main arena; to be called before the daemon starts threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(super) fn use_one_arena() {
    // SAFETY: `mallopt` only sets an allocator parameter (under the allocator's own lock); it
    // takes two integers and touches no memory of ours. `M_ARENA_MAX` is a glibc parameter
    // since 2.10; were it refused (0), the default would stay, which is only more memory.
    let _accepted = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
}

/// Nothing to do: this C library or platform has no per-thread arenas to limit.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn use_one_arena() {}
