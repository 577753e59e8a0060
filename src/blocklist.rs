//! The block list (SENDER_BLOCKED, Đ13.1.e; R-SEC-4): senders the IOC stopped taking reports
//! from after repeated abuse, shared by every instance through the store.
//!
//! Entries are keyed by the keyed digest of a normalised identity
//! ([`normalizers::identity::identity_digest`]: phone in E.164, lowercase email, `zalo:<user
//! id>`), never by the identity itself: the list shows a digest and a masked hint
//! (`+8491****678`) that an operator can recognise.
//!
//! Storage (both backends):
//! - state key `block:<digest>` = the [`BlockEntry`] JSON, expiring with the entry: what
//!   [`BlockList::is_blocked`] reads, one key per identity of the sender;
//! - scored index `block:list` (member = digest, score = added_at ms) for
//!   [`BlockList::list`]; expired entries are dropped from it when listed.
//!
//! The IOC endpoints (`POST/DELETE /v1/ioc/blocklist`) and the CLI (`gateway block
//! add|remove|list`) call [`BlockList::add`], [`BlockList::remove`] and [`BlockList::list`].

use chrono::{DateTime, Utc};
use normalizers::identity::{identity_digest, Identity};
use normalizers::report::Report;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::{Store, StoreFailure};

/// Scored index of the block list entries.
pub const BLOCKLIST_INDEX: &str = "block:list";

/// Most entries [`BlockList::list`] returns.
pub const MAX_LISTED: usize = 10_000;

fn entry_key(digest: &str) -> String {
    format!("block:{digest}")
}

/// Why a block-list operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error(
        "`{0}` is not a phone number, an email address or an account (`zalo:<user id>`, \
         `app:<user id>`)"
    )]
    InvalidIdentity(String),
    #[error("a reason is required (why the sender is blocked, for the record)")]
    ReasonMissing,
    #[error("the expiry {0} is not in the future")]
    ExpiryPassed(DateTime<Utc>),
    #[error("block list: {0}")]
    Store(#[from] StoreFailure),
    #[error("block list entry {digest} is not readable: {source}")]
    Corrupt {
        digest: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("block list entry does not serialise: {0}")]
    Encode(#[source] serde_json::Error),
}

impl BlockError {
    /// The operator's request is wrong (as opposed to the store or the code failing).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            BlockError::InvalidIdentity(_)
                | BlockError::ReasonMissing
                | BlockError::ExpiryPassed(_)
        )
    }
}

/// What an operator asks to block (`POST /v1/ioc/blocklist`, `gateway block add`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// Phone number (any usual spelling), email address, or `zalo:<user id>` /
    /// `app:<user id>` / `portal:<user id>` / `open311:<user id>`. Not stored: only its digest.
    pub identity: String,
    /// Why (kept for the record and shown in the list; no personal data).
    pub reason: String,
    /// When the block ends; none: until removed.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Who blocked (operator name or key id), for the record.
    #[serde(default)]
    pub added_by: Option<String>,
}

/// One entry of the block list, as stored and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlockEntry {
    /// Keyed sha256 of the normalised identity (hex); what DELETE takes.
    pub digest: String,
    /// Masked identity an operator can recognise (`+8491****678`, `n***@gmail.com`).
    pub hint: String,
    pub reason: String,
    pub added_at: DateTime<Utc>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub added_by: Option<String>,
}

/// The block list over the shared store.
#[derive(Clone)]
pub struct BlockList {
    store: Store,
    pepper: String,
}

impl BlockList {
    /// `pepper`: the same secret as `[duplicates] identity_pepper`, so that both key identities
    /// alike.
    pub fn new(store: Store, pepper: impl Into<String>) -> Self {
        BlockList {
            store,
            pepper: pepper.into(),
        }
    }

    /// Block an identity; blocking it again replaces the entry (new reason, new expiry).
    pub async fn add(
        &self,
        request: &BlockRequest,
        now: DateTime<Utc>,
    ) -> Result<BlockEntry, BlockError> {
        let identity = Identity::parse(&request.identity)
            .ok_or_else(|| BlockError::InvalidIdentity(mask_input(&request.identity)))?;
        let reason = request.reason.trim();
        if reason.is_empty() {
            return Err(BlockError::ReasonMissing);
        }
        let ttl = match request.expires_at {
            Some(at) if at <= now => return Err(BlockError::ExpiryPassed(at)),
            Some(at) => (at - now).to_std().ok(),
            None => None,
        };
        let entry = BlockEntry {
            digest: identity_digest(&identity, &self.pepper),
            hint: identity.masked(),
            reason: reason.chars().take(500).collect(),
            added_at: now,
            expires_at: request.expires_at,
            added_by: request
                .added_by
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.chars().take(100).collect()),
        };
        let json = serde_json::to_vec(&entry).map_err(BlockError::Encode)?;
        self.store
            .put(&entry_key(&entry.digest), &json, ttl)
            .await?;
        self.store
            .index_put(
                BLOCKLIST_INDEX,
                &entry.digest,
                now.timestamp_millis(),
                &json,
            )
            .await?;
        Ok(entry)
    }

    /// Unblock: `key` is a digest from the list or the identity itself. False when it was not
    /// blocked.
    pub async fn remove(&self, key: &str) -> Result<bool, BlockError> {
        let key = key.trim();
        let digest = if is_digest(key) {
            key.to_ascii_lowercase()
        } else {
            let identity =
                Identity::parse(key).ok_or_else(|| BlockError::InvalidIdentity(mask_input(key)))?;
            identity_digest(&identity, &self.pepper)
        };
        let was_live = self.store.get(&entry_key(&digest)).await?.is_some();
        self.store.delete(&entry_key(&digest)).await?;
        let was_listed = self.store.index_remove(BLOCKLIST_INDEX, &digest).await?;
        Ok(was_live || was_listed)
    }

    /// The live entries, newest first. Entries whose expiry passed are removed from the list.
    pub async fn list(&self, now: DateTime<Utc>) -> Result<Vec<BlockEntry>, BlockError> {
        let entries = self
            .store
            .index_range(BLOCKLIST_INDEX, i64::MIN, i64::MAX, MAX_LISTED)
            .await?;
        let mut live = Vec::with_capacity(entries.len());
        for e in entries {
            let entry: BlockEntry =
                serde_json::from_slice(&e.payload).map_err(|source| BlockError::Corrupt {
                    digest: e.member.clone(),
                    source,
                })?;
            if entry.expires_at.is_some_and(|at| at <= now) {
                self.store.index_remove(BLOCKLIST_INDEX, &e.member).await?;
            } else {
                live.push(entry);
            }
        }
        Ok(live)
    }

    /// The entry blocking `identity`, if any.
    pub async fn lookup(&self, identity: &Identity) -> Result<Option<BlockEntry>, BlockError> {
        let digest = identity_digest(identity, &self.pepper);
        match self.store.get(&entry_key(&digest)).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| BlockError::Corrupt { digest, source }),
            None => Ok(None),
        }
    }

    /// Whether any identity of the report's sender (phone, email, channel account) is blocked.
    pub async fn is_blocked(&self, report: &Report) -> Result<bool, BlockError> {
        Ok(!self.blocked_digests(report).await?.is_empty())
    }

    /// The digests of the identities of the report's sender that are blocked (what
    /// [`normalizers::screen::screen`] takes).
    pub async fn blocked_digests(&self, report: &Report) -> Result<Vec<String>, BlockError> {
        let mut blocked = Vec::new();
        for identity in Identity::of_report(report) {
            let digest = identity_digest(&identity, &self.pepper);
            if self.store.get(&entry_key(&digest)).await?.is_some() {
                blocked.push(digest);
            }
        }
        Ok(blocked)
    }
}

fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An operator's input echoed in an error without the personal data it may hold.
fn mask_input(input: &str) -> String {
    let chars: Vec<char> = input.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1..=4 => "*".repeat(chars.len()),
        n => format!(
            "{}…{}",
            chars[..2].iter().collect::<String>(),
            chars[n - 2..].iter().collect::<String>()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_identity_is_echoed_masked() {
        assert_eq!(mask_input("hello world"), "he…ld");
        assert_eq!(mask_input("abc"), "***");
        let e = BlockError::InvalidIdentity(mask_input("0123 bad phone"));
        assert!(!e.to_string().contains("bad phone"));
    }

    #[test]
    fn digests_are_recognised() {
        assert!(is_digest(&"a1".repeat(32)));
        assert!(!is_digest("+84912345678"));
        assert!(!is_digest(&"g1".repeat(32)));
    }
}
