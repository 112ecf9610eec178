//! What the Windows service says to the service control manager, decided in code that every
//! platform compiles and tests. `windows.rs` only translates between these types and the
//! Windows service API.

use std::process::ExitCode;

/// A control request from the service control manager, as far as the agent tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Control {
    Stop,
    Shutdown,
    Interrogate,
    Other,
}

/// The service's answer to a control request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// Ask the daemon to stop (the path SIGTERM takes on Unix) and acknowledge.
    StopDaemon,
    /// Acknowledge; nothing to do.
    Acknowledge,
    /// Not a request the service accepts.
    NotImplemented,
}

/// The answer to `control`. Stop and system shutdown stop the daemon, which finishes writing the
/// spool before it exits; an interrogation only asks for the current status.
pub(super) fn answer(control: Control) -> Answer {
    match control {
        Control::Stop | Control::Shutdown => Answer::StopDaemon,
        Control::Interrogate => Answer::Acknowledge,
        Control::Other => Answer::NotImplemented,
    }
}

/// Service-specific exit code reported when the daemon ended with an error or panicked, so that
/// the service control manager shows a failure and applies the service's recovery actions.
pub(super) const FAILED: u32 = 1;

/// How the service reports its end to the service control manager.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum End {
    /// The daemon stopped as asked: Win32 exit code 0.
    Stopped,
    /// The daemon failed: a service-specific exit code and why.
    Failed { code: u32, reason: String },
}

/// The end to report for the daemon thread's outcome (`JoinHandle::join` of `run_daemon`).
pub(super) fn end_of(outcome: std::thread::Result<anyhow::Result<ExitCode>>) -> End {
    match outcome {
        Ok(Ok(code)) if code == ExitCode::SUCCESS => End::Stopped,
        Ok(Ok(_)) => End::Failed {
            code: FAILED,
            reason: "the daemon exited with a failure status".to_owned(),
        },
        Ok(Err(e)) => End::Failed {
            code: FAILED,
            reason: format!("{e:#}"),
        },
        Err(_) => End::Failed {
            code: FAILED,
            reason: "the daemon thread panicked".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_shutdown_stop_the_daemon_and_nothing_else_does() {
        assert_eq!(answer(Control::Stop), Answer::StopDaemon);
        assert_eq!(answer(Control::Shutdown), Answer::StopDaemon);
        assert_eq!(answer(Control::Interrogate), Answer::Acknowledge);
        assert_eq!(answer(Control::Other), Answer::NotImplemented);
    }

    #[test]
    fn a_daemon_that_stopped_as_asked_ends_the_service_cleanly() {
        assert_eq!(end_of(Ok(Ok(ExitCode::SUCCESS))), End::Stopped);
    }

    #[test]
    fn a_daemon_error_is_a_service_failure_with_its_reason() {
        let err = anyhow::anyhow!("no such file").context("config file C:\\ProgramData\\x");
        assert_eq!(
            end_of(Ok(Err(err))),
            End::Failed {
                code: FAILED,
                reason: "config file C:\\ProgramData\\x: no such file".to_owned()
            }
        );
        assert!(matches!(
            end_of(Ok(Ok(ExitCode::from(2)))),
            End::Failed { code: FAILED, .. }
        ));
    }

    #[test]
    fn a_panicked_daemon_thread_is_a_service_failure() {
        let outcome = std::thread::spawn(|| -> anyhow::Result<ExitCode> { panic!("boom") }).join();
        assert_eq!(
            end_of(outcome),
            End::Failed {
                code: FAILED,
                reason: "the daemon thread panicked".to_owned()
            }
        );
    }
}
