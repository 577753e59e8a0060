//! Channel adapters of the 1022 gateway: each turns what its channel delivers into a
//! [`Submission`] for the pipeline, and carries messages back to the citizen.
//!
//! Channels never store reports themselves: they hand submissions to an [`Intake`] (the gateway's
//! pipeline) and acknowledge to their channel only after `Intake::ingest` returned (R-PIPE-2).
//! Messages to citizens go through durable [`Streams`] (`outbound:<channel>`); small shared state
//! (checkpoints, leases, tokens, dialogue state) lives in a [`StateStore`].
//!
//! # Layout
//! - `email`: the IMAP mailbox poller, SMTP replies and mailbox import (R-CH-EMAIL).
//! - `intake`: the contract between channels and the gateway (submission, outcome, streams,
//!   state store).
//! - `templates`: Vietnamese texts of the channels.
//! - `zalo`: the Zalo OA webhook, conversation and replies, and the mini-app endpoint.

pub mod email;
pub mod intake;
pub mod templates;
pub mod zalo;

pub use intake::{
    IngestError, Intake, MediaInput, MediaSource, Origin, Outbound, Outcome, StateStore,
    StoreError, StreamEntry, Streams, Submission,
};
