//! `posture-collector`: the server that posture agents report to.
//!
//! It enrolls devices, ingests their reports ([`posture_schema::Report`]) over the protocol in
//! `docs/protocol.md`, and answers the security team's questions: which devices break the
//! Device Policy right now, since when, and who owns them (an admin JSON API, CSV exports and a
//! server-rendered dashboard), plus Prometheus metrics. Storage is SQLite by default or
//! PostgreSQL, behind one [`store::Store`] trait.
//!
//! What it must never do: acknowledge a report before it is committed to the database; keep
//! state that matters in process memory (several collectors may share one PostgreSQL); store or
//! log a secret in clear (only SHA-256 hashes of random tokens reach the database); serve plain
//! HTTP beyond loopback; or change a report it stores (the body is kept byte for byte).

pub mod admin_api;
pub mod agent_api;
pub mod app;
pub mod credentials;
pub mod dashboard;
pub mod display;
pub mod enforcement;
pub mod export;
pub mod fleet;
pub mod ingest;
pub mod limits;
pub mod ocsf;
pub mod ratelimit;
pub mod retention;
pub mod server;
pub mod store;
