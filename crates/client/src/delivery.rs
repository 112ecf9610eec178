//! Draining the spool: oldest first, one at a time, until the endpoint stops answering.
//!
//! Delivery is at least once. A report leaves the spool only after a `2xx`; if the agent dies
//! between the reply and the removal, the report is sent again and the collector de-duplicates
//! it by `report_id`. Reports go out in order of creation: a failure stops the drain (later
//! reports wait behind it) and the next attempt comes after a capped, jittered exponential
//! backoff, or at the time the server asked with `Retry-After`, whichever is later. A report the
//! endpoint refuses for good is set aside so it cannot block the queue. Delivery runs as its own
//! task, so a slow or dead endpoint never delays a check.
//!
//! The device id goes into a report when it is sent, not when it is spooled: after a
//! re-enrollment (a restored or moved collector database gives the device a new id) the reports
//! spooled before it go out under the id the collector knows now, instead of being refused
//! forever and holding up every newer report.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::backoff::Backoff;
use crate::credentials::Token;
use crate::spool::{Aside, SetAside, Spool, SpoolError};
use crate::status::{StatusBook, now_rfc3339};
use crate::transport::{Failure, Transport};

/// How long a send in flight at shutdown may take to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Retry timing.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first wait after a failure.
    pub initial: Duration,
    /// The longest wait between attempts.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(2),
            max: crate::config::DEFAULT_RETRY_MAX_DELAY,
        }
    }
}

/// The spool, shared by the check loop (which pushes) and delivery (which drains). Opened lazily
/// so a spool directory that is missing or unwritable at start-up does not stop the daemon.
#[derive(Debug)]
pub struct SharedSpool {
    dir: std::path::PathBuf,
    limits: crate::spool::SpoolLimits,
    inner: Mutex<Option<Spool>>,
}

impl SharedSpool {
    /// Opens the spool now if possible; if not, logs why and tries again at each use.
    ///
    /// # Errors
    /// Only when another process holds the spool: two daemons must never share it.
    pub fn open(
        dir: &std::path::Path,
        limits: crate::spool::SpoolLimits,
    ) -> Result<Arc<Self>, SpoolError> {
        let spool = match Spool::open(dir, limits) {
            Ok(s) => Some(s),
            Err(e @ SpoolError::Locked { .. }) => return Err(e),
            Err(e) => {
                tracing::error!(error = %e, "cannot open the spool; will try again at the next report");
                None
            }
        };
        Ok(Arc::new(Self {
            dir: dir.to_path_buf(),
            limits,
            inner: Mutex::new(spool),
        }))
    }

    /// Runs `f` on the spool, opening it first if it was not open.
    ///
    /// # Errors
    /// When the spool cannot be opened, or what `f` returns.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Spool) -> Result<T, SpoolError>,
    ) -> Result<T, SpoolError> {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            *guard = Some(Spool::open(&self.dir, self.limits)?);
        }
        match guard.as_mut() {
            Some(spool) => f(spool),
            None => Err(SpoolError::Io {
                dir: self.dir.clone(),
                source: std::io::Error::other("spool not open"),
            }),
        }
    }
}

/// What one drain ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Nothing left to send.
    Empty,
    /// Stopped on a failure; try again after this long.
    RetryIn(Duration),
}

/// Sends spooled reports.
pub struct Deliverer {
    spool: Arc<SharedSpool>,
    transport: Transport,
    token: Option<Token>,
    backoff: Backoff,
    status: Arc<StatusBook>,
    check_now: Arc<Notify>,
    /// The endpoint's `Server` at the last reply, to notice a new collector version.
    server: Option<String>,
    device_id: Option<String>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("endpoint", self.transport.endpoint())
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// A deliverer for a spool and an endpoint. `check_now` is notified when a reply asks for a
    /// fresh check.
    #[must_use]
    pub fn new(
        spool: Arc<SharedSpool>,
        transport: Transport,
        token: Option<Token>,
        retry: RetryPolicy,
        status: Arc<StatusBook>,
        check_now: Arc<Notify>,
    ) -> Self {
        Self {
            spool,
            transport,
            token,
            backoff: Backoff::new(retry.initial, retry.max),
            status,
            check_now,
            server: None,
            device_id: None,
        }
    }

    /// After a reply: when the endpoint now names itself differently (`Server`), reports the
    /// previous one refused are queued again.
    fn notice_server(&mut self) {
        let Some(server) = self.transport.last_server() else {
            return;
        };
        if self.server.as_deref() == Some(server.as_str()) {
            return;
        }
        if let Err(e) = self.spool.with(|s| s.requeue_if_server_changed(&server)) {
            tracing::error!(error = %e, "cannot queue the refused reports again");
        }
        self.server = Some(server);
    }

    fn count_aside_dropped(&self, moved: &Result<SetAside, SpoolError>) {
        if let Ok(m) = moved
            && m.dropped > 0
        {
            self.status.update(|s| s.aside_dropped_total += m.dropped);
        }
    }

    /// Stamps every report with this device id as it is sent (the id of the current
    /// enrollment), replacing whatever id it was spooled with.
    #[must_use]
    pub fn with_device_id(mut self, device_id: Option<String>) -> Self {
        self.device_id = device_id;
        self
    }

    /// Sends spooled reports, oldest first, until the spool is empty or a send fails.
    pub async fn drain(&mut self) -> Drained {
        let (_keep, never) = watch::channel(false);
        self.drain_until(&never).await
    }

    /// Like [`Deliverer::drain`], but stops before the next report once `stop` is true.
    async fn drain_until(&mut self, stop: &watch::Receiver<bool>) -> Drained {
        loop {
            if *stop.borrow() {
                return Drained::Empty;
            }
            let next = self.spool.with(|s| s.oldest());
            let entry = match next {
                Ok(Some(entry)) => entry,
                Ok(None) => return Drained::Empty,
                Err(e) => {
                    tracing::error!(error = %e, "cannot list the spool");
                    return Drained::RetryIn(self.backoff.next_delay());
                }
            };
            let report = match self.spool.with(|s| s.read(&entry)) {
                Ok(r) => r,
                Err(SpoolError::Corrupt { path, reason }) => {
                    let moved = self
                        .spool
                        .with(|s| s.set_aside(&entry, Aside::Corrupt, None));
                    self.count_aside_dropped(&moved);
                    match moved {
                        Ok(to) => tracing::warn!(
                            entry = %path.display(), moved_to = %to.path.display(), %reason,
                            "corrupt spool entry moved aside"
                        ),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot move a corrupt spool entry aside");
                            return Drained::RetryIn(self.backoff.next_delay());
                        }
                    }
                    self.status.update(|s| s.corrupt_total += 1);
                    continue;
                }
                Err(SpoolError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    // Dropped by the size limit between listing and reading.
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read a spooled report");
                    return Drained::RetryIn(self.backoff.next_delay());
                }
            };
            let report_id = report.report_id.clone();
            let body = stamp_device_id(report.body, self.device_id.as_deref());
            match self.transport.send_report(body, self.token.as_ref()).await {
                Ok(ack) => {
                    self.notice_server();
                    if let Err(e) = self.spool.with(|s| s.remove(&entry)) {
                        tracing::error!(error = %e, %report_id, "delivered, but cannot remove it from the spool; it will be sent again");
                        return Drained::RetryIn(self.backoff.next_delay());
                    }
                    self.backoff.reset();
                    tracing::info!(%report_id, duplicate = ack.duplicate, "report delivered");
                    self.status.update(|s| {
                        s.delivered_total += 1;
                        s.last_delivery_at = Some(now_rfc3339());
                        s.last_delivery_error = None;
                    });
                    if ack.check_now {
                        tracing::info!("the endpoint asked for a check now");
                        self.check_now.notify_one();
                    }
                }
                Err(Failure::Rejected { message }) => {
                    self.notice_server();
                    let server = self.server.clone();
                    let moved = self
                        .spool
                        .with(|s| s.set_aside(&entry, Aside::Rejected, server.as_deref()));
                    self.count_aside_dropped(&moved);
                    tracing::error!(%report_id, error = %message, moved_to = ?moved.as_ref().ok().map(|m| &m.path), "the endpoint refused the report for good; set aside until the agent or the endpoint changes version");
                    if let Err(e) = moved {
                        tracing::error!(error = %e, "cannot set the refused report aside");
                        return Drained::RetryIn(self.backoff.next_delay());
                    }
                    self.status.update(|s| {
                        s.rejected_total += 1;
                        s.last_delivery_error = Some(message.clone());
                        s.last_delivery_error_at = Some(now_rfc3339());
                    });
                }
                Err(failure) => {
                    let backoff = self.backoff.next_delay();
                    let wait = failure.retry_after().map_or(backoff, |ra| ra.max(backoff));
                    let message = failure.to_string();
                    tracing::warn!(
                        %report_id, error = %message, retry_in_ms = wait.as_millis() as u64,
                        failures = self.backoff.failures(), "delivery failed; will retry"
                    );
                    self.status.update(|s| {
                        s.last_delivery_error = Some(message.clone());
                        s.last_delivery_error_at = Some(now_rfc3339());
                    });
                    return Drained::RetryIn(wait);
                }
            }
        }
    }

    /// Drains whenever `wake` is notified (a new report) and after each backoff, until
    /// `shutdown` turns true. A send in flight at shutdown gets [`SHUTDOWN_GRACE`] to finish (so
    /// its acknowledgement is not lost and the report not sent twice); after that it is
    /// abandoned and the report stays in the spool.
    pub async fn run(mut self, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
        let stop = shutdown.clone();
        loop {
            let outcome = {
                let drain = self.drain_until(&stop);
                tokio::pin!(drain);
                tokio::select! {
                    d = &mut drain => d,
                    () = stopped(&mut shutdown) => {
                        let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
                        return;
                    }
                }
            };
            match outcome {
                Drained::Empty => tokio::select! {
                    () = wake.notified() => {}
                    () = stopped(&mut shutdown) => return,
                },
                Drained::RetryIn(wait) => tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stopped(&mut shutdown) => return,
                },
            }
        }
    }
}

/// The report with `device_id` in it, when there is one to stamp and the body is a report this
/// agent can read; otherwise the body as spooled (the endpoint then judges it).
fn stamp_device_id(body: Vec<u8>, device_id: Option<&str>) -> Vec<u8> {
    let Some(device_id) = device_id else {
        return body;
    };
    match serde_json::from_slice::<posture_schema::Report>(&body) {
        Ok(mut report) => {
            if report.device_id.as_deref() == Some(device_id) {
                return body;
            }
            report.device_id = Some(device_id.to_owned());
            serde_json::to_vec(&report).unwrap_or(body)
        }
        Err(_) => body,
    }
}

/// Resolves once `shutdown` turns true (or its sender is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
