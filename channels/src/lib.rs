//! Channel adapters of the 1022 gateway: each turns what its channel delivers into a
//! [`Submission`] for the pipeline, and carries messages back to the citizen.
//!
//! Channels never store reports themselves: they hand submissions to an [`Intake`] (the gateway's
//! pipeline) and acknowledge to their channel only after `Intake::ingest` returned (R-PIPE-2).
//! Messages to citizens go through durable [`Streams`] (`outbound:<channel>`); small shared state
//! (checkpoints, leases, tokens, dialogue state) lives in a [`StateStore`].
//!
//! Every channel has one shape: its configuration section implements [`ChannelConfig`] and
//! builds it from a [`ChannelContext`] (intake, store, instance id, shutdown token) into a
//! [`RunningChannel`] (routes and tasks).
//!
//! # Layout
//! - `context`: the channel context, the running channel, configuration problems.
//! - `drain`: reading the rest of a refused request body before answering.
//! - `email`: the IMAP mailbox poller, SMTP replies and mailbox import (R-CH-EMAIL).
//! - `intake`: the contract between channels and the gateway (submission, outcome, streams,
//!   state store).
//! - `ratelimit`: whom a submission counts against for the intake rate limits, the client
//!   address of an HTTP request.
//! - `staging`: staged files deleted on every exit path unless handed over; the fsyncing writer.
//! - `testing` (feature `testing`): in-memory intake, streams and state store for tests.
//! - `templates`: Vietnamese texts of the channels.
//! - `zalo`: the Zalo OA webhook, conversation and replies, and the mini-app endpoint.

pub mod context;
pub mod drain;
pub mod email;
pub mod intake;
pub mod ratelimit;
pub mod staging;
pub mod templates;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod zalo;

pub use context::{
    ChannelConfig, ChannelContext, ChannelError, ChannelStorage, ConfigProblem, Problem,
    RunningChannel, Severity,
};
pub use intake::{
    Answer, Answered, AnsweredKind, DeliveryResult, IngestError, Intake, MediaInput, MediaSource,
    Numbered, Numbering, Origin, Outbound, OutboundPhoto, Outcome, StateStore, StoreError,
    StreamEntry, Streams, Submission,
};
pub use staging::sweep_old_files;
/// The shutdown signal of [`ChannelContext`] (re-exported so callers need no tokio-util
/// dependency).
pub use tokio_util::sync::CancellationToken;
