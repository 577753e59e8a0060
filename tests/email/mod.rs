//! Email channel tests (issue 4; R-CH-EMAIL, R-PIPE, R-MSG).
//!
//! # Layout
//! - `golden`: normalizer golden fixtures `fixtures/email/*.eml`, in LF and CRLF.
//! - `conformance`: the 150 messages of `$CORPUS_DIR/email`, against CPython's `email`.
//! - `process`: one message through the processor (replies, rate limit, retry, import).
//! - `channel`: the channel against a real Dovecot and a real SMTP server (aiosmtpd).
//! - `e2e`: through the real gateway pipeline and store, into the IOC queue.
//! - `killed`: `gateway serve` with the email channel, killed mid-commit and restarted.
//! - `killed_batch`: the same, killed in the middle of a batch of six messages.

mod channel;
mod conformance;
mod e2e;
mod golden;
mod killed;
mod killed_batch;
mod process;
