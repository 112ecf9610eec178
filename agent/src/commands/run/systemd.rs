//! systemd integration (`Type=notify`, `WatchdogSec=`); no-ops elsewhere or when not started
//! by systemd. launchd needs nothing beyond running in the foreground and exiting on SIGTERM.

use tokio::sync::watch;

/// Tells systemd the daemon is up (config loaded, spool open).
pub(super) fn ready() {
    #[cfg(target_os = "linux")]
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::debug!(error = %e, "sd_notify READY failed");
    }
}

/// Tells systemd the daemon is stopping.
pub(super) fn stopping() {
    #[cfg(target_os = "linux")]
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}

/// When systemd asked for a watchdog, pings it at half the period until shutdown, but only while
/// the check loop makes progress: once a check has run longer than `cycle_limit`, the pings stop
/// and systemd restarts the agent (a ping from a timer alone would hide a wedged daemon). A
/// timer, not a busy loop: nothing runs between pings.
pub(super) fn spawn_watchdog(
    shutdown: watch::Receiver<bool>,
    progress: posture_client::daemon::Progress,
    cycle_limit: std::time::Duration,
) {
    #[cfg(target_os = "linux")]
    {
        let Some(timeout) = sd_notify::watchdog_enabled().filter(|d| !d.is_zero()) else {
            return;
        };
        let period = timeout / 2;
        let mut shutdown = shutdown;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            let mut warned = false;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if progress.is_progressing(cycle_limit) {
                            warned = false;
                            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                        } else if !warned {
                            warned = true;
                            tracing::error!(
                                running_s = progress.running_for().unwrap_or_default().as_secs(),
                                limit_s = cycle_limit.as_secs(),
                                "a check has run longer than a cycle may take; no longer feeding the watchdog, so that systemd restarts the agent"
                            );
                        }
                    }
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (shutdown, progress, cycle_limit);
}
