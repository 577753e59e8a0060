//! Every sentence the channels say to the citizen, in Vietnamese, kept out of the channel logic
//! (the validator's own findings come from `normalizers::messages`).
//!
//! # Layout
//! - `email`: acknowledgement and rejection replies (text and HTML).
//! - `zalo`: the OA conversation, its summary and answers, and the mini app.

pub mod email;
pub mod zalo;
