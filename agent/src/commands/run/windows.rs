//! Windows service entry point: a thin shim over `posture run`.
//!
//! Not compiled on the Linux build machine (no Windows target is installed there). The service
//! control manager starts `posture.exe run --windows-service`; this shim registers the control
//! handler, reports Running, and turns Stop/Shutdown into the same shutdown signal SIGTERM gives
//! on Unix. Wiring it into the command line is left for the Windows packaging work.

#![allow(dead_code)]

use std::ffi::OsString;
use std::time::Duration;

use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

/// Name the service is registered under.
pub(super) const SERVICE_NAME: &str = "posture";

define_windows_service!(ffi_service_main, service_main);

/// Hands the process to the service control manager; returns when the service stops.
pub(super) fn run_as_service() -> windows_service::Result<()> {
    service_dispatcher::start(SERVICE_NAME, ffi_service_main)
}

fn service_main(_arguments: Vec<OsString>) {
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            let _ = stop_tx.send(());
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
    // The daemon runs on its own thread; a Stop from the SCM ends the process after it stops.
    let _ = stop_rx.recv();
    report(ServiceState::StopPending, ServiceControlAccept::empty());
    report(ServiceState::Stopped, ServiceControlAccept::empty());
}
