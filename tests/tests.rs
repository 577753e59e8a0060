//! The one integration-test binary. Each area is a module; helpers live in `support`.

mod support;

/// The HTTP API through the router and through a real socket.
mod api;
/// The golden fixtures of the app/portal channel (`fixtures/app`).
mod app_fixtures;
/// Capture times, send times and camera raws through the API and the command line (Đ6.3).
mod capture_time;
/// The command line as a user runs it.
mod cli;
/// Duplicate index and block list over the shared store, and through the API.
mod duplicates;
/// The email channel: normalizer goldens, corpus conformance with CPython, the channel against
/// real Dovecot and SMTP servers, and end to end through the real pipeline.
mod email;
/// The fuzz targets of `fuzz/` replayed on stable: regression inputs and seeds.
mod fuzz;
/// The queue contract, run against the embedded store and a real Redis.
mod queue;
/// Crash and restart: nothing lost, nothing doubled.
mod restart;
/// The committed JSON Schema of the report is current.
mod schema;
/// `gateway serve` with its channels configured.
mod serve;
/// Staged uploads deleted on every failed path (issue 10, point 3).
mod staging;
/// The text checks of issue 9 (partial diacritics, shorthands, language) over HTTP and the CLI.
mod text;
/// Trust and operations: full-disk recovery, metrics, personal data out of logs and metrics.
mod trust;
/// The Zalo channels wired to the real pipeline and store, against a fake Zalo.
mod zalo;
