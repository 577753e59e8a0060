//! Tests of the Zalo channels through their real HTTP server (axum on 127.0.0.1:0) against the
//! fake Zalo of `tests/support/fake_zalo.rs`, with the in-memory intake and store of
//! `crate::testing`.
//!
//! # Layout
//! - `harness`: the channels on a real socket against the fake Zalo.
//! - `conversations`: whole OA conversations (happy path, any order, fixes, retries, tokens, TTL).
//! - `miniapp`: the mini-app endpoint with token exchange.

#[path = "../../../../tests/support/fake_zalo.rs"]
pub(crate) mod fake_zalo;

mod conversations;
mod harness;
mod miniapp;
