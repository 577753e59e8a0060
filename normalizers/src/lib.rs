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
//! - `conversation`: the IOC's messages to the citizen, their delivery attempts, reply routes.
//! - `contact`: phone numbers to E.164, email syntax.
//! - `identity`: reporter identities (phone, email, channel account), masked and keyed digests.
//! - `duplicate`: fingerprints of reports, duplicate matching (Đ7.3).
//! - `media`: what a media file is (type, size, capture time, GPS).
//! - `app`: normalizer of the app and portal API submissions.
//! - `intake_fields`: the form fields the app, portal and mini-app normalizers share.
//! - `email`: normalizer of the email channel (.eml to report, attachments, reply address).
//! - `pipeline`: derive, validate, record the verdict.
//! - `screen`: a report against the open reports and the blocked senders (DUPLICATE,
//!   SENDER_BLOCKED).
//! - `secret`: [`secret::Secret`], a configuration value masked wherever it is printed.
//! - `text`: Vietnamese text handling shared by all: NFC, folding and keys, the tokenizer.
//! - `vietnamese`: Vietnamese text analysis (diacritics, abbreviations, content rules, category).
//! - `geo`: gazetteer of administrative units and the jurisdiction boundary (R-VAL-LOC).
//! - `calendar`: working days and hours, holidays per year (R-SLA-1).
//! - `trail`: the processing trail (statuses, transitions, deadlines) and its public view.
//! - `timephrase`: incident time from Vietnamese time phrases in the text.
//! - `zalo`: Zalo webhook events, signature, OA conversation state machine, mini-app normalizer.

pub mod app;
pub mod calendar;
pub mod contact;
pub mod conversation;
pub mod duplicate;
pub mod email;
pub mod geo;
pub mod identity;
pub mod intake_fields;
pub mod media;
pub mod messages;
pub mod pipeline;
pub mod report;
pub mod screen;
pub mod secret;
pub mod text;
pub mod timephrase;
pub mod trail;
pub mod validate;
pub mod vietnamese;
pub mod zalo;

pub use report::Report;
