//! What one client, or many, may hold on the collector: connections, time and bytes.
//!
//! The collector faces laptops on the internet, so every resource a request can pin has a bound
//! with a safe default (each one a `serve` option, see the collector's README):
//!
//! - open connections ([`ConnectionLimit`], an acceptor: over the cap a new connection is closed
//!   at once, before any byte is read);
//! - time: the TLS handshake and a new connection's first request (axum-server's handshake and
//!   first-request timeouts), each request head (hyper's header read timeout, which also closes a
//!   kept-alive connection that sends no next request), each request body (tower-http's body
//!   deadline);
//! - bytes: request bodies are limited while they stream in, by `Content-Length` before anything
//!   else happens (tower-http's body limit), with a small limit for enrollment and admin writes
//!   and a larger one for reports; reports in flight are bounded in number and bytes by the
//!   ingest queue ([`crate::ingest::Writer`]), which answers 503 with `Retry-After` when full.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Resource bounds of a serving collector.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most client connections open at once; more are closed on arrival.
    pub max_open_connections: usize,
    /// Time allowed for a request head to arrive once the collector waits for one (on a new
    /// connection or after the previous response on a kept-alive one).
    pub header_timeout: Duration,
    /// Time a new connection may take to complete its TLS handshake and send its first request.
    pub idle_timeout: Duration,
    /// Time allowed for a whole request body to arrive.
    pub body_timeout: Duration,
    /// Reports in flight (being read, queued or committed) at most.
    pub ingest_queue_reports: usize,
    /// Report bytes in flight at most.
    pub ingest_queue_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_open_connections: DEFAULT_MAX_OPEN_CONNECTIONS,
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            body_timeout: Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            ingest_queue_reports: DEFAULT_INGEST_QUEUE_REPORTS,
            ingest_queue_bytes: DEFAULT_INGEST_QUEUE_BYTES,
        }
    }
}

/// Default of [`Limits::max_open_connections`].
pub const DEFAULT_MAX_OPEN_CONNECTIONS: usize = 1024;
/// Default of [`Limits::header_timeout`], seconds.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
/// Default of [`Limits::idle_timeout`], seconds.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 15;
/// Default of [`Limits::body_timeout`], seconds.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;
/// Default of [`Limits::ingest_queue_reports`].
pub const DEFAULT_INGEST_QUEUE_REPORTS: usize = 1024;
/// Default of [`Limits::ingest_queue_bytes`]: 4 MiB, about six hundred typical reports, or four
/// at the largest accepted size.
pub const DEFAULT_INGEST_QUEUE_BYTES: usize = 4 * 1024 * 1024;
/// Default largest report body.
pub const DEFAULT_MAX_REPORT_BYTES: usize = 1024 * 1024;
/// Default largest body of every other request (enrollment, admin writes, dashboard forms).
pub const DEFAULT_MAX_SMALL_BODY_BYTES: usize = 16 * 1024;

/// An acceptor that lets at most a fixed number of connections be open at once; a connection
/// over the cap is closed before it is read. Wraps the acceptor that follows (TLS or none).
#[derive(Clone)]
pub struct ConnectionLimit<A> {
    inner: A,
    permits: Arc<Semaphore>,
}

impl<A> ConnectionLimit<A> {
    /// Caps `inner` at `max` open connections.
    pub fn new(inner: A, max: usize) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }
}

impl<A, I, S> Accept<I, S> for ConnectionLimit<A>
where
    A: Accept<Counted<I>, S> + Clone + Send + 'static,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            metrics::counter!("posture_http_connections_refused_total").increment(1);
            drop(stream);
            return Box::pin(std::future::ready(Err(io::Error::other(
                "too many open connections",
            ))));
        };
        metrics::gauge!("posture_http_connections_open").increment(1.0);
        let inner = self.inner.clone();
        Box::pin(async move {
            inner
                .accept(
                    Counted {
                        inner: stream,
                        _permit: Gauge(permit),
                    },
                    service,
                )
                .await
        })
    }
}

/// Keeps the connection's place under the cap and the open-connections gauge until it closes.
struct Gauge(#[allow(dead_code)] OwnedSemaphorePermit);

impl Drop for Gauge {
    fn drop(&mut self) {
        metrics::gauge!("posture_http_connections_open").decrement(1.0);
    }
}

/// A connection counted against [`ConnectionLimit`].
pub struct Counted<I> {
    inner: I,
    _permit: Gauge,
}

impl<I: AsyncRead + Unpin> AsyncRead for Counted<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Counted<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
