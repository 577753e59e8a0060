//! The one shape every channel has: a configuration section builds the channel from a
//! [`ChannelContext`] and hands back a [`RunningChannel`]; what is wrong with a section is a list
//! of [`ConfigProblem`]s, and errors among them stop the build.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use normalizers::validate::ValidationConfig;
use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::email::EmailStats;
use crate::intake::{Intake, StateStore, Streams};

/// The store a channel works with: durable streams and small shared state in one place.
pub trait ChannelStorage: Streams + StateStore {}

impl<T: Streams + StateStore> ChannelStorage for T {}

/// What the gateway gives every channel it builds.
pub struct ChannelContext<I, S> {
    /// Where submissions go (the pipeline); also the injected clock (`intake.now()`).
    pub intake: Arc<I>,
    pub store: Arc<S>,
    /// This instance's stable name among several sharing one store: every lease holder and
    /// stream consumer name derives from it. Stable across restarts of one instance (a restarted
    /// instance resumes its own email lease at once) and distinct between instances running at
    /// the same time; locks that must be unique per process add their own nonce.
    pub instance_id: String,
    /// Cancelled when the gateway stops: webhooks answer 503, workers finish their current
    /// entry, pollers release their lease.
    pub shutdown: CancellationToken,
    /// Where channels write received media before ingest (on the media storage's file system).
    pub staging: PathBuf,
    pub validation: ValidationConfig,
}

impl<I, S> Clone for ChannelContext<I, S> {
    fn clone(&self) -> Self {
        ChannelContext {
            intake: self.intake.clone(),
            store: self.store.clone(),
            instance_id: self.instance_id.clone(),
            shutdown: self.shutdown.clone(),
            staging: self.staging.clone(),
            validation: self.validation.clone(),
        }
    }
}

/// A channel once built: its HTTP routes (merged into the gateway's router) and its background
/// tasks, which end after the context's shutdown token is cancelled.
#[derive(Default)]
pub struct RunningChannel {
    pub router: Option<Router>,
    pub tasks: Vec<JoinHandle<()>>,
    /// The email channel's counters (exported on `/metrics`, read by the tests and the bench).
    pub email_stats: Option<Arc<EmailStats>>,
}

impl RunningChannel {
    /// Wait for every task; the first task that panicked or was aborted is reported.
    pub async fn join(self) -> Result<(), JoinError> {
        let mut first = Ok(());
        for task in self.tasks {
            if let Err(e) = task.await {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    /// Stop every task at once, as if the process were killed.
    pub fn abort(&self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

/// A configuration section that builds a channel.
pub trait ChannelConfig {
    /// The section's name (`email`, `zalo`), also the prefix of its keys in problems.
    const NAME: &'static str;

    /// Whether the section asks for the channel at all; a channel not configured is not built.
    fn configured(&self) -> bool;

    /// Everything wrong with the section, errors and warnings.
    fn problems(&self) -> Vec<ConfigProblem>;

    /// Start the channel. Refuses when [`ChannelConfig::problems`] has an error.
    fn build<I: Intake, S: ChannelStorage>(
        &self,
        ctx: &ChannelContext<I, S>,
    ) -> Result<RunningChannel, ChannelError>;

    /// The problems' errors as one `ChannelError`, if there is any.
    fn refuse_errors(&self) -> Result<(), ChannelError> {
        let problems: Vec<ConfigProblem> = self
            .problems()
            .into_iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ChannelError::Config {
                channel: Self::NAME,
                problems,
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The channel cannot work: it is not built and `serve` stops.
    Error,
    /// The channel starts, but part of it will not work.
    Warning,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What is wrong with one key.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// Empty or unset although the channel needs it; the text says what then does not work.
    #[error("is empty: {0}")]
    Missing(&'static str),
    #[error("is not a URL: {0}")]
    NotAUrl(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One problem of a channel's configuration, with the key it concerns (`zalo.api_base`).
#[derive(Debug, thiserror::Error)]
#[error("{severity}: {key} {problem}")]
pub struct ConfigProblem {
    pub severity: Severity,
    pub key: String,
    #[source]
    pub problem: Problem,
}

impl ConfigProblem {
    pub fn error(key: impl Into<String>, problem: Problem) -> ConfigProblem {
        ConfigProblem {
            severity: Severity::Error,
            key: key.into(),
            problem,
        }
    }

    pub fn warning(key: impl Into<String>, problem: Problem) -> ConfigProblem {
        ConfigProblem {
            severity: Severity::Warning,
            key: key.into(),
            problem,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("invalid {channel} channel configuration: {}", list(problems))]
    Config {
        channel: &'static str,
        problems: Vec<ConfigProblem>,
    },
    #[error("{channel} channel: cannot build the HTTP client")]
    HttpClient {
        channel: &'static str,
        #[source]
        source: reqwest::Error,
    },
}

impl ChannelError {
    /// One error problem of `channel`.
    pub fn config(channel: &'static str, problem: ConfigProblem) -> ChannelError {
        ChannelError::Config {
            channel,
            problems: vec![problem],
        }
    }
}

fn list(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{} {}", p.key, p.problem))
        .collect::<Vec<_>>()
        .join("; ")
}
