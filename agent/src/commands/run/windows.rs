//! Windows service entry point: a thin shim over `posture run`.
//!
//! Compiled only for Windows (on Linux, `scripts/cross-check.sh` type-checks it). The service
//! control manager starts `posture.exe run --windows-service`; this shim registers the control
//! handler, reports Running, runs the daemon on its own thread, and turns Stop/Shutdown into the
//! stop request a signal gives on Unix. What it answers and how it reports the daemon's end are
//! decided in `service.rs`, which is tested on every platform.

use std::ffi::OsString;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::RunArgs;
use super::service::{self, Answer, Control, End};

use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

/// Name the service is registered under.
pub(super) const SERVICE_NAME: &str = "posture";

define_windows_service!(ffi_service_main, service_main);

/// The command line's arguments, handed to `service_main`, whose signature the service control
/// manager fixes.
static ARGS: Mutex<Option<RunArgs>> = Mutex::new(None);

/// Hands the process to the service control manager; returns when the service stops.
pub(super) fn run_as_service(args: RunArgs) -> windows_service::Result<()> {
    *ARGS.lock().unwrap_or_else(PoisonError::into_inner) = Some(args);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main)
}

fn service_main(_arguments: Vec<OsString>) {
    let Some(args) = ARGS.lock().unwrap_or_else(PoisonError::into_inner).take() else {
        return;
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = Mutex::new(Some(stop_tx));
    let handler = move |control| {
        let control = match control {
            ServiceControl::Stop => Control::Stop,
            ServiceControl::Shutdown => Control::Shutdown,
            ServiceControl::Interrogate => Control::Interrogate,
            _ => Control::Other,
        };
        match service::answer(control) {
            Answer::StopDaemon => {
                if let Some(tx) = stop_tx
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                {
                    let _ = tx.send(());
                }
                ServiceControlHandlerResult::NoError
            }
            Answer::Acknowledge => ServiceControlHandlerResult::NoError,
            Answer::NotImplemented => ServiceControlHandlerResult::NotImplemented,
        }
    };
    let Ok(status) = service_control_handler::register(SERVICE_NAME, handler) else {
        return;
    };
    let report = |state, accept, exit_code| {
        let _ = status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accept,
            exit_code,
            checkpoint: 0,
            wait_hint: Duration::from_secs(5),
            process_id: None,
        });
    };
    report(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        ServiceExitCode::Win32(0),
    );
    // The daemon runs on its own thread until the stop request above reaches it.
    let daemon = std::thread::spawn(move || super::run_daemon(args, Some(stop_rx)));
    let exit_code = match service::end_of(daemon.join()) {
        End::Stopped => ServiceExitCode::Win32(0),
        End::Failed { code, reason } => {
            tracing::error!(%reason, "the posture service stops on an error");
            ServiceExitCode::ServiceSpecific(code)
        }
    };
    report(
        ServiceState::StopPending,
        ServiceControlAccept::empty(),
        ServiceExitCode::Win32(0),
    );
    report(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        exit_code,
    );
}
