//! Running a catalog command with a timeout and capped output, without a shell.
//!
//! The timeout covers the whole command, output included: on Unix the command runs in its own
//! process group, and at the deadline the whole group is killed and its pipes are no longer
//! read, so a child that forks a grandchild holding stdout open cannot outlive it.

use std::ffi::OsString;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{CommandError, CommandOutput, CommandSpec, MAX_OUTPUT_BYTES};

/// Runs the command, killing it when it outlives its timeout. The environment is cleared except
/// for a fixed `PATH` and `LANG=C` so that output is in the format the parsers expect.
pub(crate) fn run(spec: &CommandSpec) -> Result<CommandOutput, CommandError> {
    if !spec.program.starts_with('/') && !looks_like_windows_absolute(&spec.program) {
        return Err(CommandError::NotRun(format!(
            "{} is not an absolute path; catalog commands are run by absolute path only",
            spec.program
        )));
    }
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .envs(child_env(cfg!(windows), std::env::var_os("SystemRoot")));
    #[cfg(unix)]
    {
        // Its own process group, so that the deadline can end everything it started.
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CommandError::NotFound,
        std::io::ErrorKind::PermissionDenied => CommandError::PermissionDenied,
        _ => CommandError::Other(e.to_string()),
    })?;
    let stdout = child.stdout.take().map(capture);
    let stderr = child.stderr.take().map(capture);
    let started = Instant::now();
    let deadline = started + spec.timeout;
    let timed_out =
        || CommandError::Timeout(u64::try_from(spec.timeout.as_millis()).unwrap_or(u64::MAX));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&child);
                let _ = child.kill();
                let _ = child.wait();
                return Err(timed_out());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                kill_group(&child);
                let _ = child.kill();
                let _ = child.wait();
                return Err(CommandError::Other(e.to_string()));
            }
        }
    };
    // The program has exited, but what it started may still hold its pipes open: read until
    // the deadline, no longer.
    let collect = |r: Option<mpsc::Receiver<Vec<u8>>>| -> Result<String, ()> {
        let Some(r) = r else {
            return Ok(String::new());
        };
        match r.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(String::new()),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(()),
        }
    };
    let (out, err) = (collect(stdout), collect(stderr));
    // Anything it left behind in its group goes now; the readers end when the pipes close.
    kill_group(&child);
    match (out, err) {
        (Ok(stdout), Ok(stderr)) => Ok(CommandOutput {
            status: status.code(),
            stdout,
            stderr,
        }),
        _ => Err(timed_out()),
    }
}

/// Kills every process left in the command's process group (Unix; elsewhere only the child
/// itself can be killed, which the caller does).
fn kill_group(child: &std::process::Child) {
    #[cfg(unix)]
    {
        // ESRCH (nobody left in the group) is the usual answer and not an error.
        let _ = rustix::process::kill_process_group(
            rustix::process::Pid::from_child(child),
            rustix::process::Signal::KILL,
        );
    }
    #[cfg(not(unix))]
    let _ = child;
}

/// Reads a stream to its end on a thread, keeping at most [`MAX_OUTPUT_BYTES`]; the result
/// arrives on the channel when the stream closes.
fn capture<R: Read + Send + 'static>(mut stream: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        // The runner may have stopped waiting; then nobody wants the output.
        let _ = tx.send(kept);
    });
    rx
}

/// The whole environment of a catalog command: `LANG=C` and `LC_ALL=C` so that output is in the
/// format the parsers expect, plus a fixed `PATH` on Unix, or on Windows the parent's
/// `SystemRoot`, without which Windows programs do not start at all.
fn child_env(windows: bool, system_root: Option<OsString>) -> Vec<(&'static str, OsString)> {
    let mut env = vec![
        ("LANG", OsString::from("C")),
        ("LC_ALL", OsString::from("C")),
    ];
    if windows {
        if let Some(root) = system_root {
            env.push(("SystemRoot", root));
        }
    } else {
        env.push(("PATH", OsString::from("/usr/bin:/bin:/usr/sbin:/sbin")));
    }
    env
}

fn looks_like_windows_absolute(program: &str) -> bool {
    let b = program.as_bytes();
    b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/')
}

/// The decisions of the runner that do not start a process: tested on every platform.
#[cfg(test)]
mod pure_tests {
    use super::*;

    #[test]
    fn windows_commands_get_system_root_and_no_unix_path() {
        let env = child_env(true, Some(OsString::from(r"C:\Windows")));
        assert_eq!(
            env,
            vec![
                ("LANG", OsString::from("C")),
                ("LC_ALL", OsString::from("C")),
                ("SystemRoot", OsString::from(r"C:\Windows")),
            ]
        );
        assert!(!child_env(true, None).iter().any(|(k, _)| *k == "PATH"));
    }

    #[test]
    fn unix_commands_get_a_fixed_path_and_never_system_root() {
        let env = child_env(false, Some(OsString::from(r"C:\Windows")));
        assert_eq!(
            env,
            vec![
                ("LANG", OsString::from("C")),
                ("LC_ALL", OsString::from("C")),
                ("PATH", OsString::from("/usr/bin:/bin:/usr/sbin:/sbin")),
            ]
        );
    }

    #[test]
    fn drive_letter_paths_are_absolute_and_relative_windows_paths_are_not() {
        assert!(looks_like_windows_absolute(
            r"C:\Windows\System32\powercfg.exe"
        ));
        assert!(looks_like_windows_absolute("c:/Windows/System32/reg.exe"));
        assert!(!looks_like_windows_absolute("powercfg.exe"));
        assert!(!looks_like_windows_absolute(r"C:powercfg.exe"));
        assert!(!looks_like_windows_absolute(r"\Windows\System32\reg.exe"));
        assert!(!looks_like_windows_absolute("C:"));
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_outlives_its_timeout_is_killed_and_reported() {
        let spec = CommandSpec::new("/bin/sleep", &["5"]).with_timeout(Duration::from_millis(100));
        assert_eq!(run(&spec), Err(CommandError::Timeout(100)));
    }

    #[test]
    fn a_grandchild_holding_stdout_open_cannot_outlive_the_timeout() {
        // The shell exits at once; the background sleep keeps stdout open for a minute.
        let spec = CommandSpec::new("/bin/sh", &["-c", "echo started; /bin/sleep 60 & exit 0"])
            .with_timeout(Duration::from_millis(300));
        assert_eq!(run(&spec), Err(CommandError::Timeout(300)));
    }

    #[test]
    fn a_grandchild_of_a_command_that_times_out_is_killed_with_it() {
        use rustix::fs::{Mode, OFlags};
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("held");
        crate::make_fifo(&fifo);
        let reader =
            rustix::fs::open(&fifo, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()).unwrap();
        rustix::fs::fcntl_setfl(&reader, OFlags::RDONLY).unwrap();
        // A grandchild that never ends on its own holds the FIFO open for writing.
        let script = format!("/usr/bin/tail -f /dev/null > '{}' & wait", fifo.display());
        let spec =
            CommandSpec::new("/bin/sh", &["-c", &script]).with_timeout(Duration::from_millis(300));
        assert_eq!(run(&spec), Err(CommandError::Timeout(300)));
        // The read ends (EOF) only once every writer is gone: the grandchild was killed with
        // its group. Were it left running, this read would never return.
        let mut rest = Vec::new();
        std::fs::File::from(reader).read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn a_missing_program_is_not_found() {
        let spec = CommandSpec::new("/nonexistent/program", &[]);
        assert_eq!(run(&spec), Err(CommandError::NotFound));
    }

    #[test]
    fn relative_programs_are_refused() {
        let spec = CommandSpec::new("sh", &["-c", "true"]);
        assert!(matches!(run(&spec), Err(CommandError::NotRun(_))));
    }

    #[test]
    fn exit_status_and_both_streams_are_kept() {
        let spec = CommandSpec::new("/bin/sh", &["-c", "echo out; echo err >&2; exit 3"]);
        let out = run(&spec).unwrap();
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
    }
}
