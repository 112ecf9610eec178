//! The device token goes in the `Authorization` header and nowhere else: not in any log line,
//! at any level, whatever the endpoint answers. Its own test binary, because tracing's
//! per-callsite interest cache is process-wide and other tests' threads would disturb it.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use posture_client::config::Endpoint;
use posture_client::credentials::Token;
use posture_client::daemon::SPOOL_DIR;
use posture_client::delivery::{Deliverer, RetryPolicy, SharedSpool};
use posture_client::spool::SpoolLimits;
use posture_client::status::StatusBook;
use posture_client::transport::{Transport, TransportOptions};
use support::{Collector, Reply, report};
use tokio::sync::Notify;

#[tokio::test]
async fn the_token_is_sent_but_never_logged() {
    use tracing_subscriber::fmt::MakeWriter;
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }
    let buf = Buf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(buf.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let collector = Collector::new();
    let (addr, _server) = collector.serve_http(0).await;
    let dir = tempfile::tempdir().unwrap();
    let limits = SpoolLimits {
        max_reports: 10,
        max_bytes: 1 << 20,
    };
    let spool = SharedSpool::open(&dir.path().join(SPOOL_DIR), limits).unwrap();
    let transport = Transport::new(&TransportOptions {
        endpoint: Endpoint::parse(&format!("http://{addr}")).unwrap(),
        ca_cert: None,
        pins: vec![],
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let mut d = Deliverer::new(
        spool.clone(),
        transport,
        Some(Token::new("tok-SECRET-123")),
        RetryPolicy {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(20),
        },
        Arc::new(StatusBook::open(dir.path())),
        Arc::new(Notify::new()),
    );
    for (n, reply) in [
        Reply::Status(401, None),
        Reply::Status(500, None),
        Reply::Ok,
    ]
    .into_iter()
    .enumerate()
    {
        collector.set(reply);
        let body = serde_json::to_vec(&report(n)).unwrap();
        spool.with(|s| s.push(&body)).unwrap();
        let _ = d.drain().await;
    }
    let seen = collector.seen.lock().unwrap().auth.clone();
    assert!(
        seen.iter()
            .all(|a| a.as_deref() == Some("Bearer tok-SECRET-123")),
        "{seen:?}"
    );
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("delivery failed"), "{logs}");
    assert!(
        !logs.contains("tok-SECRET-123"),
        "the token leaked into the logs:\n{logs}"
    );
}
