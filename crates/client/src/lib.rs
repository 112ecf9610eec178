//! The agent's link to its endpoint.
//!
//! `posture-client` is everything `posture run` needs beyond the checks themselves:
//!
//! - [`config`]: the TOML config with environment and flag overrides, each value remembering
//!   where it came from; [`paths`] and [`env`] say where files live and which variables count.
//! - [`spool`]: a durable, bounded, on-disk queue; every report is written there before any
//!   attempt to send it and removed only once the endpoint acknowledged it.
//! - [`transport`]: the HTTPS client (rustls only, redirects refused, optional extra CA and
//!   public-key pinning) and the three calls of `docs/protocol.md`: enroll, report, check-in.
//! - [`delivery`]: the loop that drains the spool in order with capped, jittered exponential
//!   backoff and `Retry-After`, without ever holding up the next check.
//! - [`credentials`]: where the device token lives (a root-only file on Linux, the OS secret
//!   store on macOS and Windows).
//! - [`daemon`]: the scheduler tying checks, spool, delivery and check-in together.
//! - [`status`]: what `posture status` shows, persisted by the daemon.
//! - [`live`]: re-checks when what the last check read changes (Linux), debounced and
//!   rate-limited; an unchanged verdict waits for the schedule.
//!
//! This crate must never decide a verdict (reports are made by the caller), never write a
//! secret to a log, the config file or a file others can read, and never follow a redirect or
//! accept a certificate that does not verify.

pub mod backoff;
pub mod config;
pub mod credentials;
pub mod daemon;
pub mod delivery;
pub mod env;
pub mod fleet_policy;
pub mod footprint;
pub mod live;
pub mod paths;
pub mod spool;
pub mod status;
pub mod transport;

mod fsutil;
mod tls;
