//! Tests of the Zalo channels through their real HTTP server (axum on 127.0.0.1:0) against the
//! fake Zalo of `tests/support/fake_zalo.rs`, with in-memory streams, state store and intake.
//!
//! # Layout
//! - `memory`: in-memory `Intake`, `Streams`, `StateStore` and the test harness.
//! - `conversations`: whole OA conversations (happy path, any order, fixes, retries, tokens, TTL).
//! - `miniapp`: the mini-app endpoint with token exchange.

#[path = "../../../../tests/support/fake_zalo.rs"]
pub(crate) mod fake_zalo;

mod conversations;
mod memory;
mod miniapp;
