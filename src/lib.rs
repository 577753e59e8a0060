//! The 1022 ingestion gateway: receives citizens' field reports from every channel, turns each
//! into one canonical report, checks it against the regulation, and queues it durably for the
//! provincial operations centre (IOC).
//!
//! # Layout
//! - `config`: the TOML file and its environment overrides.
//! - `clock`: the injected clock.
//! - `failpoint`: crash injection for the restart tests.
//! - `store`: content-addressed files and the queue/state backend (Redis or embedded).
//! - `trail`: the processing trail's storage: tracking codes, running deadlines, the lookup
//!   limiter, the configured calendar.
//! - `duplicates`: the duplicate index over the shared store (Đ7.3).
//! - `blocklist`: the block list of senders (SENDER_BLOCKED, Đ13.1.e).
//! - `conversation`: the IOC's messages to the citizen, their delivery on the report's channel.
//! - `pipeline`: media inspection, validation and the idempotent durable commit.
//! - `ratelimit`: the intake rate limits per sender, source address and API client (R-SEC-4).
//! - `messages`: the sentences the gateway itself shows to citizens (Vietnamese).
//! - `metrics`: Prometheus counters and gauges.
//! - `http`: the axum API.
//! - `server`: builds everything from the configuration and runs it.
//! - `offline`: `gateway check` without storage.

pub mod blocklist;
pub mod clock;
pub mod config;
pub mod conversation;
pub mod duplicates;
pub mod failpoint;
pub mod heavy;
pub mod http;
pub mod messages;
pub mod metrics;
pub mod offline;
pub mod pipeline;
pub mod ratelimit;
pub mod server;
pub mod store;
pub mod trail;
