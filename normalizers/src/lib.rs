//! Pure normalisation and validation of 1022 field reports (phản ánh hiện trường).
//!
//! This crate turns what a channel received into the canonical [`report::Report`] and checks it
//! against the eligibility rules of the regulation (Đ6–Đ7). It does no I/O: no files, no network,
//! no clock. Everything it needs from outside (the current instant, bytes of a medium, the
//! block list) is handed in, so that it can be golden-tested and fuzzed.
//!
//! # Layout
//! - `report`: the canonical report (SPEC §4) and its JSON Schema.
//! - `validate`: the check framework, the codes of SPEC §5 and one module per check.
//! - `messages`: every Vietnamese sentence shown to the citizen by the validator.
//! - `contact`: phone numbers to E.164, email syntax.
//! - `media`: what a media file is (type, size, capture time, GPS).
//! - `app`: normalizer of the app and portal API submissions.
//! - `pipeline`: derive, validate, record the verdict.
//! - `text`: small text helpers (NFC).

pub mod app;
pub mod contact;
pub mod media;
pub mod messages;
pub mod pipeline;
pub mod report;
pub mod text;
pub mod validate;

pub use report::Report;
