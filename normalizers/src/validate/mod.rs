//! The validator: eligibility checks of Đ6–Đ7 (SPEC §5) over a canonical report.
//!
//! Each check is one module under `checks/` implementing [`Check`]. A check reports
//! [`Hit`]s; the validator turns each hit into a [`Finding`] with the check's stable [`Code`],
//! the Vietnamese message from [`crate::messages`], and the [`Action`] configured for the code
//! (SPEC §5's default unless configured). The [`Verdict`] is `rejected` when any finding's action
//! is `reject`, `needs_review` when any is `flag`, `accepted` otherwise.
//!
//! Checks are pure: everything they need that lives elsewhere (the clock, the block list, the
//! open reports a duplicate could match) is handed in through [`Context`], which also holds what
//! several checks share and is computed once (the text analysis, [`Context::analysis`]).
//!
//! # Layout
//! - `code`: the stable codes, their default actions and sources.
//! - `checks`: one module per check, registered in [`checks::all`].

pub mod checks;
mod code;

pub use code::{Action, Code};

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::report::Report;
use crate::vietnamese::{self, Analysis};

/// Outcome of validation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not validated yet.
    #[default]
    Pending,
    Accepted,
    Rejected,
    NeedsReview,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::NeedsReview => "needs_review",
        }
    }
}

/// The verdict on a report, with every reason and flag at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    pub status: Status,
    /// Findings whose action is `reject`.
    #[serde(default)]
    pub reasons: Vec<Finding>,
    /// Findings whose action is `flag`.
    #[serde(default)]
    pub flags: Vec<Finding>,
    /// Reports this one may repeat (Đ7.3).
    #[serde(default)]
    pub duplicate_of: Vec<DuplicateRef>,
}

impl Verdict {
    /// All codes of reasons and flags, reasons first.
    pub fn codes(&self) -> Vec<Code> {
        self.reasons
            .iter()
            .chain(&self.flags)
            .map(|f| f.code)
            .collect()
    }
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    pub code: Code,
    /// The report field concerned, as a JSON path (`reporter.phone`, `attachments[1]`).
    pub field: String,
    /// What is wrong and how to fix it, in Vietnamese for the citizen.
    pub message: String,
    /// Machine-readable particulars (the abbreviations found, the stale capture time…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// A possible earlier report this one repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DuplicateRef {
    pub id: String,
    /// 0..1 similarity.
    pub score: f32,
    /// Why it matched (`same_media`, `near_media`, `place_and_text`).
    pub basis: String,
}

/// What a check found, before the action is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub field: String,
    /// Vietnamese message; from [`crate::messages`].
    pub message: String,
    pub detail: Option<serde_json::Value>,
    /// Caps the configured action (administrative abbreviations are at most flagged).
    pub at_most: Option<Action>,
    /// Overrides the configured action (the same reporter resubmitting a duplicate is rejected).
    pub force: Option<Action>,
}

impl Hit {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Hit {
            field: field.into(),
            message: message.into(),
            detail: None,
            at_most: None,
            force: None,
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn at_most(mut self, action: Action) -> Self {
        self.at_most = Some(action);
        self
    }

    pub fn force(mut self, action: Action) -> Self {
        self.force = Some(action);
        self
    }
}

/// Settings of the validator: the action per code and the tunables of the checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    /// Action per code; codes not listed keep SPEC §5's default.
    pub actions: BTreeMap<Code, Action>,
    /// Media captured longer ago than this before submission are stale (Đ6.3: 48 h).
    pub media_max_age_hours: i64,
    /// Capture times later than submission by more than this are in the future.
    pub media_future_skew_minutes: i64,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            actions: BTreeMap::new(),
            media_max_age_hours: 48,
            media_future_skew_minutes: 10,
        }
    }
}

impl ValidationConfig {
    pub fn action(&self, code: Code) -> Action {
        self.actions
            .get(&code)
            .copied()
            .unwrap_or(code.default_action())
    }
}

/// Everything a check may consult besides the report. Built by the caller for each report.
pub struct Context<'a> {
    /// The instant of validation (injected: never the ambient clock).
    pub now: DateTime<Utc>,
    pub config: &'a ValidationConfig,
    /// The sender is on the block list (looked up by the caller).
    pub sender_blocked: bool,
    /// Earlier open reports this one may repeat, found by the caller.
    pub duplicates: Vec<DuplicateRef>,
    /// The same reporter already sent this (resubmission inside the window).
    pub duplicate_by_same_reporter: bool,
    /// Gazetteer and boundary (R-VAL-LOC); without them the location checks fall back to
    /// "coordinates or a non-trivial address".
    pub geo: Option<&'a crate::geo::Geo>,
    /// The text analysis of the description, computed by the first check (or derivation step)
    /// that asks for it: see [`Context::analysis`].
    analysis: OnceLock<(String, Arc<Analysis>)>,
}

impl<'a> Context<'a> {
    pub fn new(now: DateTime<Utc>, config: &'a ValidationConfig) -> Self {
        Context {
            now,
            config,
            sender_blocked: false,
            duplicates: Vec::new(),
            duplicate_by_same_reporter: false,
            geo: None,
            analysis: OnceLock::new(),
        }
    }

    /// The text analysis of `report.content.text`. The six text checks and the derivation of
    /// the language facts read the same description: it is analysed once per context. A
    /// context reused for another report (another text) gets a fresh analysis, never the
    /// first report's.
    pub fn analysis(&self, report: &Report) -> Arc<Analysis> {
        let text = report.content.text.as_str();
        let (analysed, analysis) = self
            .analysis
            .get_or_init(|| (text.to_string(), Arc::new(vietnamese::analyse(text))));
        if analysed == text {
            Arc::clone(analysis)
        } else {
            Arc::new(vietnamese::analyse(text))
        }
    }
}

/// One eligibility check.
pub trait Check: Send + Sync {
    /// The stable code this check reports.
    fn code(&self) -> Code;
    /// Inspect the report and push what is wrong onto `hits`.
    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>);
}

/// The set of checks to run, in order.
pub struct Validator {
    checks: Vec<Box<dyn Check>>,
}

impl Default for Validator {
    fn default() -> Self {
        Validator {
            checks: checks::all(),
        }
    }
}

impl Validator {
    pub fn with_checks(checks: Vec<Box<dyn Check>>) -> Self {
        Validator { checks }
    }

    /// Run every check whose action is not `off` and compute the verdict.
    pub fn validate(&self, report: &Report, ctx: &Context<'_>) -> Verdict {
        let mut verdict = Verdict::default();
        let mut hits = Vec::new();
        for check in &self.checks {
            let code = check.code();
            let configured = ctx.config.action(code);
            if configured == Action::Off {
                continue;
            }
            hits.clear();
            check.run(report, ctx, &mut hits);
            for hit in hits.drain(..) {
                let mut action = hit.force.unwrap_or(configured);
                if let Some(cap) = hit.at_most {
                    action = action.min(cap);
                }
                let finding = Finding {
                    code,
                    field: hit.field,
                    message: hit.message,
                    detail: hit.detail,
                };
                match action {
                    Action::Reject => verdict.reasons.push(finding),
                    Action::Flag => verdict.flags.push(finding),
                    Action::Off => {}
                }
            }
        }
        verdict.duplicate_of = ctx.duplicates.clone();
        verdict.status = if !verdict.reasons.is_empty() {
            Status::Rejected
        } else if !verdict.flags.is_empty() {
            Status::NeedsReview
        } else {
            Status::Accepted
        };
        verdict
    }
}
