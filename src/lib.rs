//! The 1022 ingestion gateway: receives citizens' field reports from every channel, turns each
//! into one canonical report, checks it against the regulation, and queues it durably for the
//! provincial operations centre (IOC).
//!
//! # Layout
//! - `config`: the TOML file and its environment overrides.
//! - `apptoken`: the verifier of the app's bearer tokens (JWT, JWKS or shared key, Đ6.4).
//! - `clock`: the injected clock.
//! - `failpoint`: crash injection for the restart tests.
//! - `store`: content-addressed files and the queue/state backend (Redis or embedded).
//! - `trail`: the processing trail's storage: tracking codes, running deadlines, the lookup
//!   limiter, the configured calendar.
//! - `duplicates`: the duplicate index over the shared store (Đ7.3).
//! - `blocklist`: the block list of senders (SENDER_BLOCKED, Đ13.1.e).
//! - `conversation`: the IOC's messages to the citizen, their delivery on the report's channel.
//! - `pipeline`: media inspection, validation and the idempotent durable commit.
//! - `publication`: what of a report is published (Đ11), the published and per-agency indexes.
//! - `ratelimit`: the intake rate limits per sender, source address and API client (R-SEC-4).
//! - `messages`: the sentences the gateway itself shows to citizens (Vietnamese).
//! - `metrics`: Prometheus counters and gauges.
//! - `otp`: one-time codes that confirm a portal reporter's email or phone (Đ6.4).
//! - `http`: the axum API.
//! - `labels`: the Vietnamese names of channels, fields, verdicts, statuses and check codes.
//! - `server`: builds everything from the configuration and runs it.
//! - `offline`: `gateway check` without storage.
//! - `stats`: the monthly and yearly figures, their CSV and charts (R-REP-1).

pub mod apptoken;
pub mod blocklist;
pub mod clock;
pub mod config;
pub mod conversation;
pub mod duplicates;
pub mod failpoint;
pub mod heavy;
pub mod http;
pub mod labels;
pub mod messages;
pub mod metrics;
pub mod offline;
pub mod otp;
pub mod pipeline;
pub mod publication;
pub mod ratelimit;
pub mod server;
pub mod stats;
pub mod store;
pub mod trail;
