//! Publication of results (Đ11, R-MSG-PUBLISH) and the handling agencies' report lists (Đ8.3,
//! Đ10): indexes kept in step with every change of a report, and what of a report is public.
//!
//! Storage (both backends, through [`Store`] only):
//! - scored index `published`: member = report id, score = time of the result (epoch ms),
//!   payload = [`PublishedReport`] JSON (no personal data); rewritten on every change of the
//!   report, removed when it is not, or no longer, published;
//! - scored index `agency:<digest of the agency's name>`: member = report id, score = time of its
//!   last forwarding (epoch ms); a report is listed for the agency it was last forwarded to only;
//! - state key `reindex:v1`, written once the start-up rebuild of the indexes has run.
//!
//! What is published of a report: its tracking code, the field of Đ5 (and a known sub-category),
//! the commune (old and new units, from the gazetteer), the reception and result times, the
//! agency, the result text, the report's photos' public copies (EXIF and GPS stripped at
//! intake) and those of the photos the last result came with (Đ10.3). Not
//! the citizen's description: it is free text that routinely carries names, phone numbers and
//! house numbers ("trước số 12 đường Hùng Vương"), there is no scrubber in the gateway that
//! could be trusted to remove all of them, and any leak breaks Đ12.3; the result text is written
//! for the public by the IOC or the agency.

use chrono::{DateTime, Utc};
use normalizers::report::{Attachment, MediaKind, Report};
use normalizers::trail::TrailStatus;
use normalizers::validate::Status;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{IndexEntry, Store, StoreFailure};

/// Scored index of the published results.
pub const PUBLISHED_INDEX: &str = "published";

/// State key written once the start-up rebuild of the indexes has run.
pub const REINDEX_MARKER: &str = "reindex:v1";

/// Entries sharing one millisecond that a page boundary can step over (more are skipped).
const TIE_SLACK: usize = 64;

/// An agency's name as compared: NFC, lower case, single spaces.
pub fn normalise_agency(name: &str) -> String {
    normalizers::text::nfc(name)
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether two spellings name the same agency.
pub fn same_agency(a: &str, b: &str) -> bool {
    normalise_agency(a) == normalise_agency(b)
}

fn agency_index(name: &str) -> String {
    let digest = Sha256::digest(normalise_agency(name).as_bytes());
    format!("agency:{}", hex::encode(&digest[..12]))
}

/// Where the incident is, as published: administrative units only, never the address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicPlace {
    /// Commune or ward after the 2025 reform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_commune: Option<String>,
    /// Commune before the reform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_commune: Option<String>,
    /// District before the reform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_district: Option<String>,
}

/// A published result (Đ11.1), as the portal lists it. No personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishedReport {
    pub tracking_code: String,
    /// The field of Đ5, in Vietnamese.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// A known sub-category, in Vietnamese.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcategory: Option<String>,
    pub place: PublicPlace,
    pub received_at: DateTime<Utc>,
    /// When the result was given.
    pub answered_at: DateTime<Utc>,
    /// The agency that handled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// The result (kết quả xử lý) as written for the citizen.
    pub result: String,
    /// Paths of the public copies of the report's photos (EXIF and GPS stripped).
    pub photos: Vec<String>,
    /// Paths of the public copies of the photos the last result came with (Đ10.3: photos of
    /// the fix; EXIF and GPS stripped).
    #[serde(default)]
    pub result_photos: Vec<String>,
}

/// The report's photos that have a public copy, in order: `/v1/published/{code}/media/{n}`
/// serves the n-th.
pub fn public_photos(report: &Report) -> Vec<&Attachment> {
    report
        .attachments
        .iter()
        .filter(|a| a.kind == MediaKind::Photo && a.public_key.is_some())
        .collect()
}

/// What is published of `report`: `None` unless it has a result (its last step other than
/// `closed` is `answered`), is not confidential (Đ11.2) and the IOC did not withhold it.
pub fn published(report: &Report) -> Option<PublishedReport> {
    if report.confidential
        || report.publication_withheld.is_some()
        || report.verdict.status == Status::Rejected
    {
        return None;
    }
    let last = report
        .trail
        .iter()
        .rev()
        .find(|e| e.status != TrailStatus::Closed)?;
    if last.status != TrailStatus::Answered {
        return None;
    }
    let answer = report
        .trail
        .iter()
        .rev()
        .find(|e| e.status == TrailStatus::Answered && e.message.is_some())?;
    let admin = report.location.admin.clone().unwrap_or_default();
    let category = report.category.as_ref();
    Some(PublishedReport {
        tracking_code: report.tracking_code.clone(),
        category: category
            .and_then(|c| normalizers::vietnamese::field_name(c.field))
            .map(str::to_string),
        subcategory: category
            .and_then(|c| c.subcategory.as_deref())
            .and_then(normalizers::vietnamese::subcategory_name)
            .map(str::to_string),
        place: PublicPlace {
            new_commune: admin.new_commune,
            old_commune: admin.old_commune,
            old_district: admin.old_district,
        },
        received_at: report.received_at,
        answered_at: answer.at,
        agency: normalizers::trail::current_agency(report),
        result: answer.message.clone().unwrap_or_default(),
        photos: (0..public_photos(report).len())
            .map(|n| format!("/v1/published/{}/media/{n}", report.tracking_code))
            .collect(),
        result_photos: (0..normalizers::conversation::result_photos(report).len())
            .map(|n| format!("/v1/published/{}/result-media/{n}", report.tracking_code))
            .collect(),
    })
}

/// Whether `agency` may see `report`: it is the agency the report was last forwarded to.
pub fn forwarded_to(report: &Report, agency: &str) -> bool {
    normalizers::trail::current_agency(report).is_some_and(|a| same_agency(&a, agency))
}

/// A page position: the last entry shown, `<score>.<member>`.
fn cursor_of(e: &IndexEntry) -> String {
    format!("{}.{}", e.score, e.member)
}

/// A cursor as given back by a client; `None` when it is not one.
pub fn parse_cursor(text: &str) -> Option<(i64, String)> {
    let (score, member) = text.split_once('.')?;
    let score = score.parse().ok()?;
    (!member.is_empty() && member.len() <= 64 && member.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| (score, member.to_string()))
}

/// The indexes over the shared store.
#[derive(Clone)]
pub struct ReportIndexes {
    store: Store,
}

impl ReportIndexes {
    pub fn new(store: Store) -> Self {
        ReportIndexes { store }
    }

    /// Follow a changed (or rebuilt) report: publish or unpublish it, list it for the agency it
    /// was last forwarded to and for no other.
    pub async fn follow(&self, report: &Report) -> Result<(), StoreFailure> {
        match published(report) {
            Some(p) => {
                let payload = serde_json::to_vec(&p).map_err(|source| StoreFailure::Corrupt {
                    key: format!("published entry {}", report.id),
                    source,
                })?;
                self.store
                    .index_put(
                        PUBLISHED_INDEX,
                        &report.id,
                        p.answered_at.timestamp_millis(),
                        &payload,
                    )
                    .await?;
            }
            None => {
                self.store.index_remove(PUBLISHED_INDEX, &report.id).await?;
            }
        }
        let current = report
            .trail
            .iter()
            .rev()
            .find(|e| e.status == TrailStatus::Forwarded && e.agency.is_some());
        let mut done: Vec<String> = Vec::new();
        for e in report
            .trail
            .iter()
            .filter(|e| e.status == TrailStatus::Forwarded)
        {
            let Some(agency) = e.agency.as_deref() else {
                continue;
            };
            let index = agency_index(agency);
            if done.contains(&index) {
                continue;
            }
            match current {
                Some(c) if c.agency.as_deref().is_some_and(|a| same_agency(a, agency)) => {
                    self.store
                        .index_put(&index, &report.id, c.at.timestamp_millis(), b"")
                        .await?;
                }
                _ => {
                    self.store.index_remove(&index, &report.id).await?;
                }
            }
            done.push(index);
        }
        Ok(())
    }

    /// Published results, newest first, after `cursor`; with the cursor of the next page when
    /// there may be one.
    pub async fn published_page(
        &self,
        cursor: Option<&(i64, String)>,
        limit: usize,
    ) -> Result<(Vec<PublishedReport>, Option<String>), StoreFailure> {
        let (entries, next) = self.page(PUBLISHED_INDEX, cursor, limit).await?;
        let items = entries
            .into_iter()
            .filter_map(|e| match serde_json::from_slice(&e.payload) {
                Ok(p) => Some(p),
                Err(err) => {
                    tracing::warn!(report_id = %e.member, error = %err, "unreadable published entry skipped");
                    None
                }
            })
            .collect();
        Ok((items, next))
    }

    /// Ids of the reports forwarded to `agency`, latest forwarding first, after `cursor`.
    pub async fn agency_page(
        &self,
        agency: &str,
        cursor: Option<&(i64, String)>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), StoreFailure> {
        let (entries, next) = self.page(&agency_index(agency), cursor, limit).await?;
        Ok((entries.into_iter().map(|e| e.member).collect(), next))
    }

    async fn page(
        &self,
        index: &str,
        cursor: Option<&(i64, String)>,
        limit: usize,
    ) -> Result<(Vec<IndexEntry>, Option<String>), StoreFailure> {
        let max = cursor.map(|c| c.0).unwrap_or(i64::MAX);
        let mut entries = self
            .store
            .index_range(index, i64::MIN, max, limit + 1 + TIE_SLACK)
            .await?;
        // Highest score first, then highest member: one total order on every backend.
        entries.sort_by(|a, b| (b.score, &b.member).cmp(&(a.score, &a.member)));
        if let Some((score, member)) = cursor {
            entries.retain(|e| (e.score, e.member.as_str()) < (*score, member.as_str()));
        }
        let more = entries.len() > limit;
        entries.truncate(limit);
        let next = if more {
            entries.last().map(cursor_of)
        } else {
            None
        };
        Ok((entries, next))
    }

    /// Whether the start-up rebuild has run on this store.
    pub async fn reindexed(&self) -> Result<bool, StoreFailure> {
        Ok(self.store.get(REINDEX_MARKER).await?.is_some())
    }

    pub async fn mark_reindexed(&self) -> Result<(), StoreFailure> {
        self.store.put(REINDEX_MARKER, b"1", None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_names_compare_loosely() {
        assert!(same_agency("UBND phường  Long An", "ubnd Phường long an"));
        assert!(!same_agency("UBND phường Long An", "UBND xã Mỹ Yên"));
        assert_eq!(
            agency_index("UBND phường Long An"),
            agency_index(" ubnd PHƯỜNG long an ")
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        assert_eq!(
            parse_cursor("1764300000000.01KB5Z"),
            Some((1764300000000, "01KB5Z".into()))
        );
        assert_eq!(parse_cursor("x.y"), None);
        assert_eq!(parse_cursor("12."), None);
        assert_eq!(parse_cursor("12.a:b"), None);
    }
}
