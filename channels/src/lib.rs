//! Channel adapters of the 1022 gateway: each turns what its channel delivers into a
//! [`Submission`] for the pipeline, and carries messages back to the citizen.
//!
//! Channels never store reports themselves: they hand submissions to an [`Intake`] (the gateway's
//! pipeline) and acknowledge to their channel only after `Intake::ingest` returned (R-PIPE-2).
//! Messages to citizens go through an [`Outbox`], a durable queue per channel.
//!
//! # Layout
//! - `intake`: the contract between channels and the gateway (submission, outcome, outbox).

pub mod intake;

pub use intake::{
    IngestError, Intake, MediaInput, MediaSource, Origin, Outbound, Outcome, StateStore,
    StoreError, StreamEntry, Streams, Submission,
};
