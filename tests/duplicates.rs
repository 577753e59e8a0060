//! Duplicate index and block list over the shared store (Đ7.3, Đ13.1.e): the embedded store and
//! a real Redis, several instances on one Redis, closed reports, the window, photos re-encoded by
//! a messenger, and the verdict the validator gives with what they found.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use gateway::blocklist::{BlockError, BlockList, BlockRequest};
use gateway::clock::{FixedClock, SharedClock};
use gateway::duplicates::{DuplicateIndex, FINGERPRINTS_INDEX};
use gateway::store::{BlobStore, Store};
use normalizers::duplicate::DuplicateConfig;
use normalizers::identity::Identity;
use normalizers::media::MediaInfo;
use normalizers::report::{
    Attachment, Channel, Coordinates, Envelope, MediaKind, ReceivedFile, Report, ReportStatus,
};
use normalizers::validate::{Code, Context, Status, ValidationConfig, Validator};

use crate::support::redis::RedisServer;
use crate::support::TEST_NOW;

const PEPPER: &str = "integration-test-pepper";
const LIGHT: &str = "Đèn đường trước nhà văn hóa ấp 3 bị hỏng, cả đoạn đường tối om từ tối qua, rất nguy hiểm cho người đi xe máy.";
const LIGHT_AGAIN: &str = "Đèn đường trước nhà văn hóa ấp 3 hỏng rồi, buổi tối cả đoạn đường tối om, người đi xe máy rất nguy hiểm.";
const GARBAGE: &str = "Rác thải sinh hoạt đổ thành đống ở đầu hẻm 45 đã một tuần chưa có ai thu gom, bốc mùi hôi thối.";

fn now() -> DateTime<Utc> {
    TEST_NOW.parse().unwrap()
}

fn config() -> DuplicateConfig {
    DuplicateConfig {
        identity_pepper: PEPPER.into(),
        ..DuplicateConfig::default()
    }
}

struct Backend {
    store: Store,
    blobs: BlobStore,
    redis: Option<RedisServer>,
    _dir: tempfile::TempDir,
}

impl Backend {
    fn index(&self) -> DuplicateIndex {
        DuplicateIndex::new(self.store.clone(), self.blobs.clone(), config())
    }

    fn blocklist(&self) -> BlockList {
        BlockList::new(self.store.clone(), PEPPER)
    }

    /// Another gateway instance on the same Redis (its own connection and blob folder).
    async fn other_instance(&self) -> (DuplicateIndex, BlockList, tempfile::TempDir) {
        let redis = self.redis.as_ref().expect("a Redis backend");
        let store = Store::redis(&redis.url()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs")).await.unwrap();
        (
            DuplicateIndex::new(store.clone(), blobs, config()),
            BlockList::new(store, PEPPER),
            dir,
        )
    }
}

async fn embedded() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let clock: SharedClock = Arc::new(FixedClock(now()));
    let store = Store::embedded(&dir.path().join("q.redb"), clock).unwrap();
    let blobs = BlobStore::open(dir.path().join("blobs")).await.unwrap();
    Backend {
        store,
        blobs,
        redis: None,
        _dir: dir,
    }
}

async fn redis() -> Backend {
    let server = RedisServer::start();
    let store = Store::redis(&server.url()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(dir.path().join("blobs")).await.unwrap();
    Backend {
        store,
        blobs,
        redis: Some(server),
        _dir: dir,
    }
}

macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod embedded_backend {
            $(#[tokio::test] async fn $name() { super::$name(super::embedded().await).await })+
        }
        mod redis_backend {
            $(#[tokio::test] async fn $name() { super::$name(super::redis().await).await })+
        }
    };
}

both_backends!(
    a_recorded_report_is_found_by_the_next_one,
    closed_reports_no_longer_match_and_reopened_ones_do,
    the_window_bounds_the_candidates_and_old_fingerprints_are_trimmed,
    rejected_reports_are_not_duplicate_targets,
    a_photo_re_encoded_by_a_messenger_is_a_near_duplicate,
    the_same_reporter_resubmitting_is_rejected_by_the_validator,
    the_block_list_blocks_every_identity_of_a_sender,
    block_entries_expire_and_can_be_removed,
);

fn report(id: &str, hours_after: i64, channel: Channel, text: &str) -> Report {
    let mut r = Report::new(Envelope {
        id: id.into(),
        tracking_code: format!("LA-{id}"),
        channel,
        channel_ref: None,
        received_at: now() + Duration::hours(hours_after),
    });
    r.content.text = text.into();
    r.location.coordinates = Some(Coordinates {
        lat: 10.6421,
        lon: 106.4801,
    });
    r.verdict.status = Status::Accepted;
    r
}

/// Screen `r` as the pipeline does, then record it as committed.
async fn submit(index: &DuplicateIndex, r: &Report) -> gateway::duplicates::Screening {
    let screening = index.screen(r, r.received_at).await.unwrap();
    index
        .record_report(r, &screening.fingerprint)
        .await
        .unwrap();
    screening
}

async fn a_recorded_report_is_found_by_the_next_one(b: Backend) {
    let index = b.index();
    let first = submit(&index, &report("01FIRST", -3, Channel::Email, LIGHT)).await;
    assert!(first.duplicates.is_empty());
    let other_problem = submit(&index, &report("01OTHER", -2, Channel::App, GARBAGE)).await;
    assert!(
        other_problem.duplicates.is_empty(),
        "{:?}",
        other_problem.duplicates
    );
    let again = index
        .screen(&report("01AGAIN", 0, Channel::ZaloOa, LIGHT_AGAIN), now())
        .await
        .unwrap();
    let ids: Vec<&str> = again.duplicates.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["01FIRST"], "across channels");
    assert_eq!(again.duplicates[0].basis, "place_and_text");
    assert!(!again.same_reporter);
    // Recording twice (a replayed commit) leaves one entry.
    index.record(&again.fingerprint).await.unwrap();
    index.record(&again.fingerprint).await.unwrap();
    let open = index
        .candidates(again.fingerprint.received_at, now())
        .await
        .unwrap();
    assert_eq!(open.len(), 3);
    assert_eq!(open[0].id, "01AGAIN", "newest first");

    if b.redis.is_some() {
        // Another instance sharing the Redis sees every report, and this one sees its reports.
        let (other, _, _dir) = b.other_instance().await;
        let seen = other
            .screen(&report("01ELSEWHERE", 1, Channel::Portal, LIGHT), now())
            .await
            .unwrap();
        let mut ids: Vec<&str> = seen.duplicates.iter().map(|d| d.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["01AGAIN", "01FIRST"]);
        submit(&other, &report("01GARB2", 1, Channel::Open311, GARBAGE)).await;
        let back = index
            .screen(&report("01GARB3", 2, Channel::Email, GARBAGE), now())
            .await
            .unwrap();
        let ids: Vec<&str> = back.duplicates.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["01GARB2", "01OTHER"]);
    }
}

async fn closed_reports_no_longer_match_and_reopened_ones_do(b: Backend) {
    let index = b.index();
    let mut first = report("01FIRST", -3, Channel::Email, LIGHT);
    submit(&index, &first).await;
    first.status = ReportStatus::Closed;
    index.set_status(&first, now()).await.unwrap();
    let probe = report("01PROBE", 0, Channel::App, LIGHT_AGAIN);
    assert!(index
        .screen(&probe, now())
        .await
        .unwrap()
        .duplicates
        .is_empty());
    // A replay of the first submission's commit does not bring the closed report back.
    let replay = index.fingerprint(&first).await;
    index.record(&replay).await.unwrap();
    assert!(index
        .screen(&probe, now())
        .await
        .unwrap()
        .duplicates
        .is_empty());
    if b.redis.is_some() {
        let (other, _, _dir) = b.other_instance().await;
        assert!(other
            .screen(&probe, now())
            .await
            .unwrap()
            .duplicates
            .is_empty());
    }
    first.status = ReportStatus::Open;
    index.set_status(&first, now()).await.unwrap();
    let found = index.screen(&probe, now()).await.unwrap();
    assert_eq!(found.duplicates.len(), 1);
    assert_eq!(found.duplicates[0].id, "01FIRST");
}

async fn the_window_bounds_the_candidates_and_old_fingerprints_are_trimmed(b: Backend) {
    let index = b.index();
    let window = config().window_hours;
    // Fell out of the window a week ago (and out of the trim horizon): trimmed.
    submit(
        &index,
        &report("01ANCIENT", -window - 24 * 8, Channel::App, LIGHT),
    )
    .await;
    // Just out of the window: kept in the store but not a candidate.
    submit(&index, &report("01OLD", -window - 1, Channel::App, LIGHT)).await;
    submit(
        &index,
        &report("01RECENT", -window + 1, Channel::App, LIGHT),
    )
    .await;
    let probe = index
        .screen(&report("01NEW", 0, Channel::App, LIGHT), now())
        .await
        .unwrap();
    let ids: Vec<&str> = probe.duplicates.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["01RECENT"]);
    index.record(&probe.fingerprint).await.unwrap();
    let all = b
        .store
        .index_range(FINGERPRINTS_INDEX, i64::MIN, i64::MAX, 100)
        .await
        .unwrap();
    let stored: Vec<&str> = all.iter().map(|e| e.member.as_str()).collect();
    assert_eq!(stored, ["01NEW", "01RECENT", "01OLD"], "01ANCIENT trimmed");
}

async fn rejected_reports_are_not_duplicate_targets(b: Backend) {
    let index = b.index();
    let mut rejected = report("01REJ", -1, Channel::Email, LIGHT);
    rejected.verdict.status = Status::Rejected;
    submit(&index, &rejected).await;
    let fixed = index
        .screen(&report("01FIXED", 0, Channel::Email, LIGHT), now())
        .await
        .unwrap();
    assert!(
        fixed.duplicates.is_empty(),
        "the citizen may send a rejected report again, fixed"
    );
}

/// A deterministic picture with shapes of varied brightness (a stand-in for a street photo).
fn scene(seed: u32) -> image::RgbImage {
    let mut img = image::RgbImage::from_fn(480, 360, |x, y| {
        let v = (((x / 9) ^ (y / 7)) % 17) as u8 * 4 + 70;
        image::Rgb([v, v, v / 2 + 50])
    });
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    for _ in 0..10 {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let (cx, cy, r) = (s % 480, (s / 480) % 360, 30 + (s / 7) % 90);
        let shade = (s >> 24) as u8;
        for y in cy.saturating_sub(r)..(cy + r).min(360) {
            for x in cx.saturating_sub(r)..(cx + r).min(480) {
                img.put_pixel(x, y, image::Rgb([shade, shade / 2, 255 - shade]));
            }
        }
    }
    img
}

fn jpeg(img: &image::RgbImage, quality: u8) -> Vec<u8> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(
            img,
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

async fn with_photo(b: &Backend, mut r: Report, bytes: &[u8]) -> Report {
    let key = b.blobs.put_bytes(bytes).await.unwrap();
    let sha = key.strip_prefix("sha256/").unwrap().to_string();
    let info = MediaInfo {
        kind: Some(MediaKind::Photo),
        media_type: "image/jpeg".into(),
        ..MediaInfo::default()
    };
    r.attachments.push(Attachment::from_inspection(
        info,
        ReceivedFile {
            file_name: Some("anh.jpg".into()),
            claimed_type: Some("image/jpeg".into()),
            size: bytes.len() as u64,
            sha256: sha,
            storage_key: key,
            ..ReceivedFile::default()
        },
    ));
    r.location.coordinates = None;
    r
}

async fn a_photo_re_encoded_by_a_messenger_is_a_near_duplicate(b: Backend) {
    let index = b.index();
    let original = scene(7);
    let first = with_photo(
        &b,
        report("01CAMERA", -2, Channel::App, LIGHT),
        &jpeg(&original, 92),
    )
    .await;
    submit(&index, &first).await;
    let other_photo = with_photo(
        &b,
        report("01OTHERPIC", -1, Channel::App, LIGHT),
        &jpeg(&scene(8), 92),
    )
    .await;
    assert!(
        submit(&index, &other_photo).await.duplicates.is_empty(),
        "another photo, no place"
    );
    // The same photo forwarded through a messenger: half size, recompressed, different text.
    let small = image::imageops::resize(&original, 240, 180, image::imageops::FilterType::Triangle);
    let forwarded = with_photo(
        &b,
        report("01FORWARD", 0, Channel::ZaloOa, GARBAGE),
        &jpeg(&small, 55),
    )
    .await;
    assert_ne!(forwarded.attachments[0].sha256, first.attachments[0].sha256);
    let found = index.screen(&forwarded, now()).await.unwrap();
    assert_eq!(found.duplicates.len(), 1, "{:?}", found.duplicates);
    assert_eq!(found.duplicates[0].id, "01CAMERA");
    assert_eq!(found.duplicates[0].basis, "near_media");
    // The very same file is an exact match.
    let same = with_photo(
        &b,
        report("01SAME", 0, Channel::Email, GARBAGE),
        &jpeg(&original, 92),
    )
    .await;
    let found = index.screen(&same, now()).await.unwrap();
    assert_eq!(found.duplicates[0].basis, "same_media");
    assert_eq!(found.duplicates[0].score, 1.0);
}

async fn the_same_reporter_resubmitting_is_rejected_by_the_validator(b: Backend) {
    let index = b.index();
    let mut first = report("01FIRST", -5, Channel::App, LIGHT);
    first.reporter.phone = Some("+84912345678".into());
    submit(&index, &first).await;
    let validation = ValidationConfig::default();
    let validator = Validator::default();
    // What the pipeline hands the validator.
    let verdict_of = |r: Report, screening: gateway::duplicates::Screening| {
        let mut ctx = Context::new(now(), &validation);
        ctx.duplicates = screening.duplicates;
        ctx.duplicate_by_same_reporter = screening.same_reporter;
        validator.validate(&r, &ctx)
    };
    // The same citizen again, through Zalo, phone typed the local way.
    let mut again = report("01AGAIN", 0, Channel::ZaloOa, LIGHT);
    again.reporter.phone = Some("0912 345 678".into());
    let screening = index.screen(&again, now()).await.unwrap();
    assert!(screening.same_reporter);
    let verdict = verdict_of(again, screening);
    assert_eq!(verdict.status, Status::Rejected);
    let dup = verdict
        .reasons
        .iter()
        .find(|f| f.code == Code::Duplicate)
        .expect("DUPLICATE reason");
    assert!(
        dup.message.contains("đã gửi phản ánh này"),
        "{}",
        dup.message
    );
    assert_eq!(verdict.duplicate_of[0].id, "01FIRST");
    // A neighbour reporting the same light is flagged, not rejected for it.
    let mut neighbour = report("01NEIGH", 0, Channel::ZaloOa, LIGHT_AGAIN);
    neighbour.reporter.phone = Some("0987 654 321".into());
    let screening = index.screen(&neighbour, now()).await.unwrap();
    assert!(!screening.same_reporter);
    let verdict = verdict_of(neighbour, screening);
    assert!(verdict.flags.iter().any(|f| f.code == Code::Duplicate));
    assert!(!verdict.reasons.iter().any(|f| f.code == Code::Duplicate));
}

async fn the_block_list_blocks_every_identity_of_a_sender(b: Backend) {
    let list = b.blocklist();
    let entry = list
        .add(
            &BlockRequest {
                identity: "0912.345.678".into(),
                reason: "Gửi tin rác lặp lại".into(),
                expires_at: None,
                added_by: Some("ioc-operator-1".into()),
            },
            now(),
        )
        .await
        .unwrap();
    assert_eq!(entry.hint, "+8491****678");
    assert_eq!(entry.digest.len(), 64);
    // The phone arrives on an email report, a Zalo report, an app report.
    let mut by_email = report("01E", 0, Channel::Email, LIGHT);
    by_email.reporter.email = Some("someone@example.vn".into());
    by_email.reporter.phone = Some("+84 912 345 678".into());
    assert!(list.is_blocked(&by_email).await.unwrap());
    let mut by_zalo = report("01Z", 0, Channel::ZaloMiniapp, LIGHT);
    by_zalo.reporter.phone = Some("84912345678".into());
    by_zalo.reporter.channel_identity = Some("5512000".into());
    assert!(list.is_blocked(&by_zalo).await.unwrap());
    let mut other = report("01O", 0, Channel::App, LIGHT);
    other.reporter.phone = Some("0987654321".into());
    other.reporter.channel_identity = Some("api-client:long-an-so".into());
    assert!(!list.is_blocked(&other).await.unwrap());
    // A Zalo account, blocked by its id.
    list.add(
        &BlockRequest {
            identity: "zalo:5512000".into(),
            reason: "Nội dung xúc phạm nhiều lần".into(),
            expires_at: None,
            added_by: None,
        },
        now() + Duration::minutes(1),
    )
    .await
    .unwrap();
    let mut zalo_only = report("01ZO", 0, Channel::ZaloOa, LIGHT);
    zalo_only.reporter.channel_identity = Some("5512000".into());
    assert!(list.is_blocked(&zalo_only).await.unwrap());
    // The list shows digests and masked hints, never the identities.
    let listed = list.list(now()).await.unwrap();
    let hints: Vec<&str> = listed.iter().map(|e| e.hint.as_str()).collect();
    assert_eq!(hints, ["zalo:55****00", "+8491****678"], "newest first");
    let json = serde_json::to_string(&listed).unwrap();
    assert!(
        !json.contains("912345678") && !json.contains("5512000"),
        "{json}"
    );
    // Bad requests are refused with a reason.
    let bad = list
        .add(
            &BlockRequest {
                identity: "not a sender".into(),
                reason: "x".into(),
                expires_at: None,
                added_by: None,
            },
            now(),
        )
        .await;
    assert!(matches!(bad, Err(BlockError::InvalidIdentity(_))));
    let no_reason = list
        .add(
            &BlockRequest {
                identity: "a@b.vn".into(),
                reason: "  ".into(),
                expires_at: None,
                added_by: None,
            },
            now(),
        )
        .await;
    assert!(matches!(no_reason, Err(BlockError::ReasonMissing)));
    assert_eq!(
        list.lookup(&Identity::parse("+84912345678").unwrap())
            .await
            .unwrap()
            .map(|e| e.reason),
        Some("Gửi tin rác lặp lại".into())
    );
    if b.redis.is_some() {
        let (_, other_list, _dir) = b.other_instance().await;
        assert!(
            other_list.is_blocked(&by_zalo).await.unwrap(),
            "shared by every instance"
        );
        assert_eq!(other_list.list(now()).await.unwrap().len(), 2);
    }
}

async fn block_entries_expire_and_can_be_removed(b: Backend) {
    let list = b.blocklist();
    let mut r = report("01R", 0, Channel::Email, LIGHT);
    r.reporter.email = Some("Spam.Sender@Example.vn".into());
    let request = |expires_at| BlockRequest {
        identity: "spam.sender@example.vn".into(),
        reason: "Thư rác".into(),
        expires_at,
        added_by: None,
    };
    let passed = list
        .add(&request(Some(now() - Duration::hours(1))), now())
        .await;
    assert!(matches!(passed, Err(BlockError::ExpiryPassed(_))));
    let entry = list.add(&request(None), now()).await.unwrap();
    assert!(list.is_blocked(&r).await.unwrap());
    assert!(
        list.remove(&entry.digest).await.unwrap(),
        "removed by digest"
    );
    assert!(!list.is_blocked(&r).await.unwrap());
    assert!(
        !list.remove(&entry.digest).await.unwrap(),
        "nothing left to remove"
    );
    list.add(&request(None), now()).await.unwrap();
    assert!(
        list.remove("SPAM.sender@example.vn").await.unwrap(),
        "removed by identity"
    );
    assert!(list.list(now()).await.unwrap().is_empty());
    // An entry with an expiry: listed until then, then gone from the list.
    list.add(&request(Some(now() + Duration::hours(2))), now())
        .await
        .unwrap();
    assert_eq!(list.list(now()).await.unwrap().len(), 1);
    assert!(list
        .list(now() + Duration::hours(3))
        .await
        .unwrap()
        .is_empty());
    if b.redis.is_some() {
        // Redis expires the key itself (TTL = expiry - now): a short block lifts on its own.
        list.add(&request(Some(now() + Duration::milliseconds(300))), now())
            .await
            .unwrap();
        assert!(list.is_blocked(&r).await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        assert!(!list.is_blocked(&r).await.unwrap(), "expired");
    }
}

/// Through the HTTP API, with the pipeline wired to the index and the block list.
mod api {
    use axum::http::StatusCode;
    use serde_json::{json, Value};

    use crate::support::gateway::{call, InProcess, IOC_KEY, SUBMIT_KEY};
    use crate::support::{read_fixture, report_json, Multipart};

    fn submission(phone: &str) -> (String, Vec<u8>) {
        let mut report = report_json();
        report["reporter"]["phone"] = json!(phone);
        Multipart::new()
            .json("report", &report)
            .file(
                "media",
                "den-hong.jpg",
                "image/jpeg",
                &read_fixture("media/photo-2h-before.jpg"),
            )
            .finish()
    }

    fn codes(answer: &Value, field: &str) -> Vec<String> {
        answer[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    }

    async fn close(gw: &InProcess, id: &str) {
        let body = (
            "application/json".to_string(),
            br#"{"status":"closed"}"#.to_vec(),
        );
        let uri = format!("/v1/reports/{id}/status");
        let (status, _) = call(gw, "PUT", &uri, IOC_KEY, Some(body), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }

    #[tokio::test]
    async fn a_resubmission_is_rejected_a_neighbours_report_flagged_a_closed_one_forgotten() {
        let gw = InProcess::start(|_| {}).await;
        let (s, first) = call(
            &gw,
            "POST",
            "/v1/reports",
            SUBMIT_KEY,
            Some(submission("0912 345 678")),
            Some("k1"),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{first}");
        assert!(!codes(&first, "flags").contains(&"DUPLICATE".to_string()));
        // A neighbour sends the same light with the same photo: flagged for the IOC.
        let (s, neighbour) = call(
            &gw,
            "POST",
            "/v1/reports",
            SUBMIT_KEY,
            Some(submission("0987 654 321")),
            Some("k2"),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{neighbour}");
        assert!(
            codes(&neighbour, "flags").contains(&"DUPLICATE".to_string()),
            "{neighbour}"
        );
        let id = neighbour["id"].as_str().unwrap();
        let (_, stored) = call(
            &gw,
            "GET",
            &format!("/v1/reports/{id}"),
            IOC_KEY,
            None,
            None,
        )
        .await;
        let earlier: Vec<&str> = stored["verdict"]["duplicate_of"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap())
            .collect();
        assert_eq!(earlier, [first["id"].as_str().unwrap()]);
        // The first citizen sends it again under another key: rejected, told to follow the first.
        let (s, again) = call(
            &gw,
            "POST",
            "/v1/reports",
            SUBMIT_KEY,
            Some(submission("+84912345678")),
            Some("k3"),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{again}");
        assert!(codes(&again, "reasons").contains(&"DUPLICATE".to_string()));
        // Once the IOC closed both, the same report is new again.
        close(&gw, first["id"].as_str().unwrap()).await;
        close(&gw, id).await;
        let (s, later) = call(
            &gw,
            "POST",
            "/v1/reports",
            SUBMIT_KEY,
            Some(submission("0912 345 678")),
            Some("k4"),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{later}");
        assert!(
            !codes(&later, "flags").contains(&"DUPLICATE".to_string()),
            "{later}"
        );
    }

    #[tokio::test]
    async fn a_blocked_sender_is_rejected_until_unblocked() {
        let gw = InProcess::start(|_| {}).await;
        let block = (
            "application/json".to_string(),
            r#"{"identity":"0912 345 678","reason":"Gửi tin rác lặp lại"}"#
                .as_bytes()
                .to_vec(),
        );
        let (s, _) = call(
            &gw,
            "POST",
            "/v1/ioc/blocklist",
            SUBMIT_KEY,
            Some(block.clone()),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "IOC keys only");
        let (s, entry) = call(&gw, "POST", "/v1/ioc/blocklist", IOC_KEY, Some(block), None).await;
        assert_eq!(s, StatusCode::CREATED, "{entry}");
        assert_eq!(entry["hint"], "+8491****678");
        let (_, listed) = call(&gw, "GET", "/v1/ioc/blocklist", IOC_KEY, None, None).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);
        assert!(!listed.to_string().contains("912345678"), "{listed}");
        let (s, answer) = call(
            &gw,
            "POST",
            "/v1/reports",
            SUBMIT_KEY,
            Some(submission("+84 912 345 678")),
            Some("b1"),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(codes(&answer, "reasons")[0], "SENDER_BLOCKED");
        let bad = (
            "application/json".to_string(),
            br#"{"identity":"hello","reason":"x"}"#.to_vec(),
        );
        let (s, _) = call(&gw, "POST", "/v1/ioc/blocklist", IOC_KEY, Some(bad), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let digest = entry["digest"].as_str().unwrap();
        let uri = format!("/v1/ioc/blocklist/{digest}");
        let (s, _) = call(&gw, "DELETE", &uri, IOC_KEY, None, None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = call(&gw, "DELETE", &uri, IOC_KEY, None, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, answer) = call(
            &gw,
            "POST",
            "/v1/reports",
            SUBMIT_KEY,
            Some(submission("0912 345 678")),
            Some("b2"),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{answer}");
    }
}

/// A citizen whose app sends the same report several times at once (a double tap, a retry
/// under a new key) gets one report and, for the others, the DUPLICATE rejection: the
/// submissions of one sender are screened one after the other, so none of them misses the
/// ones before it. Through the running gateway, on the embedded store.
#[tokio::test]
async fn the_same_report_sent_at_once_several_times_is_one_report() {
    use crate::support::gateway::Process;
    use crate::support::harness as h;
    let dir = tempfile::tempdir().unwrap();
    let gw = Process::start(dir.path(), &[]);
    let report = h::api_report(17);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let answers =
        futures_util::future::join_all(
            (0..6).map(|i| {
                let (base, report) = (gw.base.clone(), report.clone());
                async move {
                    h::submit_retrying(&base, &format!("double-tap-{i}"), &report, deadline).await
                }
            }),
        )
        .await;
    let accepted: Vec<&h::Answer> = answers.iter().filter(|a| a.status == 201).collect();
    assert_eq!(
        accepted.len(),
        1,
        "{:?}",
        answers
            .iter()
            .map(|a| (a.status, &a.body))
            .collect::<Vec<_>>()
    );
    let first = accepted[0].body["id"].as_str().unwrap();
    for a in answers.iter().filter(|a| a.status != 201) {
        assert_eq!(a.status, 422, "{:?}", a.body);
        let dup = a.body["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["code"] == "DUPLICATE")
            .unwrap_or_else(|| panic!("DUPLICATE reason in {}", a.body));
        assert!(
            dup["message"]
                .as_str()
                .is_some_and(|m| m.contains("đã gửi phản ánh này")),
            "{dup}"
        );
        for earlier in dup["detail"]["duplicate_of"].as_array().unwrap() {
            assert_eq!(earlier["id"], first, "{dup}");
        }
    }
}
