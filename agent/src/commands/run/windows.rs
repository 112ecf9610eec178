//! Windows service entry point: a thin shim over `posture run`.
//!
//! Not compiled on the Linux build machine (no Windows target is installed there). The service
//! control manager starts `posture.exe run --windows-service`; this shim registers the control
//! handler, reports Running, runs the daemon on its own thread, and turns Stop/Shutdown into the
//! stop request a signal gives on Unix.

use std::ffi::OsString;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::RunArgs;

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
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            if let Some(tx) = stop_tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                let _ = tx.send(());
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let Ok(status) = service_control_handler::register(SERVICE_NAME, handler) else {
        return;
    };
    let report = |state, accept| {
        let _ = status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accept,
            exit_code: ServiceExitCode::Win32(0),
            checkpoint: 0,
            wait_hint: Duration::from_secs(5),
            process_id: None,
        });
    };
    report(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
    );
    // The daemon runs on its own thread until the stop request above reaches it.
    let daemon = std::thread::spawn(move || super::run_daemon(args, Some(stop_rx)));
    let _ = daemon.join();
    report(ServiceState::StopPending, ServiceControlAccept::empty());
    report(ServiceState::Stopped, ServiceControlAccept::empty());
}
