//! The one integration-test binary. Each area is a module; helpers live in `support`.

mod support;

/// The HTTP API through the router and through a real socket.
mod api;
/// The golden fixtures of the app/portal channel (`fixtures/app`).
mod app_fixtures;
/// The "Long An Số" app's bearer tokens against a local JWKS (issue 13 point 2).
mod apptoken;
/// Capture times, send times and camera raws through the API and the command line (Đ6.3).
mod capture_time;
/// The command line as a user runs it.
mod cli;
/// The IOC console: logins, sessions on the injected clock, CSRF, and an operator's round trip
/// in headless Chromium on a phone and a desktop (issue 13 point 3).
mod console;
/// The crash harness: SIGKILLs under load on every channel, nothing lost or doubled.
mod crash;
/// Duplicate index and block list over the shared store, and through the API.
mod duplicates;
/// The email channel: normalizer goldens, corpus conformance with CPython, the channel against
/// real Dovecot and SMTP servers, and end to end through the real pipeline.
mod email;
/// The fuzz targets of `fuzz/` replayed on stable: regression inputs and seeds.
mod fuzz;
/// Hostile input: bombs, endless and slow uploads, traversal, injection, markup, deep JSON.
mod hostile;
/// The IOC's messages to the citizen on every channel, their delivery attempts (issue 12).
#[path = "loop.rs"]
mod loop_;
/// The loop finished: the app backend's webhook tried again with back-off, citizens' answers
/// through the Vietnamese text checks (offensive refused, unmarked flagged).
mod loop_finish;
/// Photos on the IOC's messages by email, Zalo, the tracking view and the published feed;
/// offensive answers refused with one polite reply (issue 12 point 1).
mod loop_photos;
/// Redis end to end: delivery counts behind the give-up rules, durability (WAIT), trimming and
/// archiving, several gateways on one Redis.
mod multi;
/// Open311 GeoReport v2 with the real `georeport` client, errors, XML and keys.
mod open311;
/// Outages: Redis killed under webhook load, SMTP down, Dovecot restarted, the disk full.
mod outage;
/// The citizens' portal: the email one-time code over a real SMTP sink (embedded store and
/// Redis), page security, public checks, and the form end to end in headless Chromium.
mod portal;
/// Publication of results, agencies and disclosure, Open311 in the OpenAPI document, the index
/// rebuild (issue 12 points 5 and 7).
mod publish;
/// The queue contract, run against the embedded store and a real Redis.
mod queue;
/// Intake rate limits per sender, address and API client on every channel (issue 10 point 7).
mod ratelimit;
/// Crash and restart: nothing lost, nothing doubled.
mod restart;
/// The committed JSON Schema of the report is current.
mod schema;
/// Redis Sentinel: the gateway follows the master across a failover (SIGKILL, SENTINEL FAILOVER).
mod sentinel;
/// `gateway serve` with its channels configured.
mod serve;
/// Staged uploads deleted on every failed path (issue 10, point 3).
mod staging;
/// Monthly figures through the running gateway and the command line, with charts (issue 13
/// point 4).
mod stats;
/// The text checks of issue 9 (partial diacritics, shorthands, language) over HTTP and the CLI.
mod text;
/// The tracking page's answer and rating forms, in headless Chromium and as plain posts on
/// both stores (issue 13, issue 12 points 2 and 6).
mod track_page;
/// The processing trail, the tracking view, deadlines and the overdue list (issue 12).
mod trail;
/// Trust and operations: full-disk recovery, metrics, personal data out of logs and metrics.
mod trust;
/// The Zalo channels wired to the real pipeline and store, against a fake Zalo.
mod zalo;
