//! Whole OA conversations through the webhook, the processor and the outbox.

use std::time::Duration;

use normalizers::report::{CoordinatesSource, VerifiedBy};
use normalizers::zalo::Step;
use reqwest::StatusCode;

use super::fake_zalo::{events, FakeZalo, OA_ID};
use super::harness::Harness;
use crate::intake::Origin;
use crate::templates::zalo as tpl;
use crate::zalo::{EVENTS_STREAM, UNDELIVERABLE_STREAM};

/// A valid 2×2 PNG: Zalo chat photos carry no EXIF either.
pub(crate) const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x44, 0x60, 0xe2, 0x3f, 0x03, 0x00, 0x1d, 0xf0, 0x03, 0xfd, 0xa0, 0x33, 0x09, 0x89, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

const DESCRIPTION: &str =
    "Đèn đường trước nhà số 12 đường Nguyễn Huệ bị hỏng từ tối qua, cả đoạn đường tối om.";

#[tokio::test]
async fn happy_path_text_photo_location_contact_then_confirm_gives_a_tracking_code() {
    let h = Harness::start().await;
    let u = "U100";
    let url = h.fake.add_media("den.jpg", "image/jpeg", PNG.to_vec());
    let photo_ms = h.ms();

    h.send(&events::text(u, "m1", DESCRIPTION, h.ms())).await;
    let said = h.wait_said(u, 2).await;
    assert_eq!(said, vec![tpl::WELCOME, tpl::ask(Step::Media)]);

    h.send(&events::image(u, "m2", &url, photo_ms)).await;
    let said = h.wait_said(u, 3).await;
    assert_eq!(said[2], tpl::ask(Step::Location));

    h.send(&events::location(u, "m3", "10.5366", "106.4138", h.ms()))
        .await;
    let said = h.wait_said(u, 5).await;
    assert_eq!(said[3], tpl::ask(Step::Contact));
    assert_eq!(said[4], "[request_user_info]");

    h.send(&events::submit_info(
        u,
        "Nguyễn Văn An",
        "84912345678",
        h.ms(),
    ))
    .await;
    let said = h.wait_said(u, 6).await;
    assert!(said[5].starts_with("Tóm tắt phản ánh"), "{}", said[5]);
    assert!(
        said[5].contains("0912 345 678") && said[5].contains("1 tệp"),
        "{}",
        said[5]
    );

    h.send(&events::text(u, "m5", "Gửi", h.ms())).await;
    let received = h.wait_received(1).await;
    let said = h.wait_said(u, 7).await;
    assert_eq!(said[6], tpl::accepted("LA-0001"));
    assert_eq!(said.len(), 7, "{said:#?}");

    let r = &received[0];
    assert_eq!(r.dedup_key, "zalo:m5");
    assert_eq!(r.report.content.text, DESCRIPTION);
    assert_eq!(r.report.reporter.name.as_deref(), Some("Nguyễn Văn An"));
    assert_eq!(r.report.reporter.phone.as_deref(), Some("+84912345678"));
    assert_eq!(r.report.reporter.channel_identity.as_deref(), Some(u));
    assert_eq!(r.report.reporter.verified_by, VerifiedBy::Zalo);
    let c = r.report.location.coordinates.unwrap();
    assert_eq!((c.lat, c.lon), (10.5366, 106.4138));
    assert_eq!(
        r.report.location.coordinates_source,
        Some(CoordinatesSource::ZaloLocation)
    );
    assert_eq!(r.report.channel_ref.as_deref(), Some("m5"));
    assert!(
        r.report.verdict.reasons.is_empty(),
        "{:?}",
        r.report.verdict.codes()
    );
    // The photo was downloaded whole; the message time is its send time (never a capture time).
    assert_eq!(r.media.len(), 1);
    assert_eq!(r.media[0].bytes, PNG);
    assert_eq!(
        r.media[0].sent_at.map(|t| t.timestamp_millis()),
        Some(photo_ms)
    );
    // The raw original is the JSON array of the five events, each as received.
    let raw: Vec<serde_json::Value> = serde_json::from_slice(&r.raw).unwrap();
    assert_eq!(raw.len(), 5);
    assert_eq!(raw[1]["event_name"], "user_send_image");
    assert_eq!(
        r.origin,
        Origin::ZaloOa {
            oa_id: OA_ID.into(),
            user_id: u.into()
        }
    );
    // The dialogue is over: its state is gone.
    assert!(!h
        .store
        .keys()
        .iter()
        .any(|k| k.starts_with("zalo:dialogue:")));
    // The acknowledgement names the report; every event and message was acknowledged.
    let ack = h.outbound().into_iter().find(|o| o.kind == "ack").unwrap();
    assert_eq!(ack.report_id.as_deref(), Some("01TEST0001"));
    assert_eq!(h.store.pending(EVENTS_STREAM), 0);
    assert_eq!(h.store.pending(crate::zalo::OUTBOUND_STREAM), 0);
}

#[tokio::test]
async fn a_photo_first_and_the_text_later_build_the_same_draft() {
    let h = Harness::start().await;
    let u = "U200";
    let url = h.fake.add_media("rac.jpg", "image/jpeg", PNG.to_vec());
    h.send(&events::image(u, "p1", &url, h.ms())).await;
    let said = h.wait_said(u, 2).await;
    assert_eq!(said, vec![tpl::WELCOME, tpl::ask(Step::Description)]);
    h.send(&events::text(
        u,
        "p2",
        "Rác thải đổ trộm ven kênh gần cầu Bến Lức từ 6 giờ sáng nay.",
        h.ms(),
    ))
    .await;
    let said = h.wait_said(u, 3).await;
    assert_eq!(said[2], tpl::ask(Step::Location));
    // A typed address answers the question about the place.
    h.send(&events::text(
        u,
        "p3",
        "Ấp 3, xã Mỹ Yên, huyện Bến Lức",
        h.ms(),
    ))
    .await;
    let said = h.wait_said(u, 5).await;
    assert_eq!(said[3], tpl::ask(Step::Contact));
    // Name and phone typed instead of the form.
    h.send(&events::text(u, "p4", "Trần Thị Bình 0987 654 321", h.ms()))
        .await;
    let said = h.wait_said(u, 6).await;
    assert!(said[5].contains("Ấp 3, xã Mỹ Yên"), "{}", said[5]);
    h.send(&events::text(u, "p5", "gui", h.ms())).await;
    let r = &h.wait_received(1).await[0];
    assert_eq!(
        r.report.content.text,
        "Rác thải đổ trộm ven kênh gần cầu Bến Lức từ 6 giờ sáng nay."
    );
    assert_eq!(
        r.report.location.address.as_deref(),
        Some("Ấp 3, xã Mỹ Yên, huyện Bến Lức")
    );
    assert_eq!(r.report.reporter.name.as_deref(), Some("Trần Thị Bình"));
    assert_eq!(r.report.reporter.phone.as_deref(), Some("+84987654321"));
    assert_eq!(r.media.len(), 1);
}

#[tokio::test]
async fn unaccented_text_makes_the_oa_ask_for_diacritics_and_the_next_text_replaces_it() {
    let h = Harness::start().await;
    let u = "U300";
    h.send(&events::text(
        u,
        "d1",
        "Den duong truoc nha so 12 bi hong tu toi qua, ca doan duong toi om",
        h.ms(),
    ))
    .await;
    let said = h.wait_said(u, 2).await;
    assert!(
        said[1].starts_with("Nội dung phản ánh cần sửa lại:"),
        "the OA must ask to fix the text: {said:#?}"
    );
    assert!(
        said[1].contains("dấu"),
        "the reason names the diacritics: {}",
        said[1]
    );
    h.send(&events::text(u, "d2", DESCRIPTION, h.ms())).await;
    let said = h.wait_said(u, 3).await;
    assert_eq!(said[2], tpl::ask(Step::Media));
    let state = h
        .store
        .get_now(&format!("zalo:dialogue:{OA_ID}:{u}"))
        .unwrap();
    let d: normalizers::zalo::Dialogue = serde_json::from_slice(&state).unwrap();
    assert_eq!(
        d.draft().description_text(),
        DESCRIPTION,
        "replaced, not appended"
    );
}

#[tokio::test]
async fn a_shared_location_is_the_place_of_the_report() {
    let h = Harness::start().await;
    let u = "U400";
    h.send(&events::location(u, "l1", "10.6956", "106.2431", h.ms()))
        .await;
    let said = h.wait_said(u, 2).await;
    assert_eq!(said[1], tpl::ask(Step::Description));
    let state = h
        .store
        .get_now(&format!("zalo:dialogue:{OA_ID}:{u}"))
        .unwrap();
    let d: normalizers::zalo::Dialogue = serde_json::from_slice(&state).unwrap();
    let c = d.draft().coordinates.unwrap();
    assert_eq!((c.lat, c.lon), (10.6956, 106.2431));
}

#[tokio::test]
async fn the_same_event_delivered_three_times_is_persisted_and_answered_once() {
    let h = Harness::start().await;
    let u = "U500";
    let body = events::text(u, "dup1", DESCRIPTION, h.ms());
    let post = |n: u32| {
        h.http
            .post(h.webhook())
            .header("X-ZEvent-Signature", FakeZalo::sign(&body))
            .header("num_retry", n.to_string())
            .body(body.clone())
            .send()
    };
    let status = |resp: reqwest::Response| async move {
        assert_eq!(resp.status(), StatusCode::OK);
        let v: serde_json::Value = resp.json().await.unwrap();
        v["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status(post(0).await.unwrap()).await, "persisted");
    let said = h.wait_said(u, 2).await;
    // Zalo's retries come 30 s and more later, after the event was processed.
    for n in 1..3 {
        assert_eq!(status(post(n).await.unwrap()).await, "duplicate");
    }
    assert_eq!(h.store.entries(EVENTS_STREAM).len(), 1);
    // A delivery after its markers expired (or were lost) is persisted again, and the dialogue
    // still applies the event once.
    for k in h
        .store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("zalo:seen:") || k.contains("\u{0}once\u{0}"))
    {
        crate::intake::StateStore::delete(&*h.store, &k)
            .await
            .unwrap();
    }
    h.send(&body).await;
    assert_eq!(h.store.entries(EVENTS_STREAM).len(), 2);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(h.store.pending(EVENTS_STREAM), 0);
    assert_eq!(h.said_to(u), said);
    assert_eq!(said.len(), 2, "{said:#?}");
}

#[tokio::test]
async fn a_bad_signature_is_refused_and_nothing_is_persisted() {
    let h = Harness::start().await;
    let body = events::text("U600", "s1", DESCRIPTION, h.ms());
    let good = FakeZalo::sign(&body);
    let mut bad = good.clone();
    bad.replace_range(
        good.len() - 1..,
        if good.ends_with('0') { "1" } else { "0" },
    );
    let s = h
        .fake
        .post_event_signed(&h.webhook(), &body, &bad, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Re-serialised bodies do not verify: the signature is over the exact bytes.
    let reformatted =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&body).unwrap())
            .unwrap();
    let s = h
        .fake
        .post_event_signed(&h.webhook(), &reformatted, &good, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let resp = h
        .http
        .post(h.webhook())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(h.store.entries(EVENTS_STREAM).is_empty());
    // The same body, correctly signed, is taken.
    assert_eq!(
        h.fake.post_event(&h.webhook(), &body, None).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn echoes_of_the_oa_own_messages_are_not_answered() {
    let h = Harness::start().await;
    let echo = events::oa_echo("U650", "e1", tpl::WELCOME, h.ms());
    let resp = h
        .http
        .post(h.webhook())
        .header("X-ZEvent-Signature", FakeZalo::sign(&echo))
        .body(echo)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["status"],
        "ignored"
    );
    assert!(h.store.entries(EVENTS_STREAM).is_empty());
}

#[tokio::test]
async fn a_token_expiring_in_the_middle_of_a_reply_is_refreshed_once_and_the_reply_delivered() {
    let h = Harness::start().await;
    let u = "U700";
    h.send(&events::text(u, "t1", DESCRIPTION, h.ms())).await;
    h.wait_said(u, 2).await;
    h.fake.expire_access_token();
    let url = h.fake.add_media("a.jpg", "image/jpeg", PNG.to_vec());
    h.send(&events::image(u, "t2", &url, h.ms())).await;
    let said = h.wait_said(u, 3).await;
    assert_eq!(said[2], tpl::ask(Step::Location));
    let refreshes = h.fake.refresh_calls();
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0]["refresh_token"], "refresh-0");
    assert_eq!(refreshes[0]["grant_type"], "refresh_token");
    let calls = h.fake.cs_calls();
    let refused: Vec<_> = calls.iter().filter(|c| c.answered == -216).collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(calls.last().unwrap().access_token, "access-1");
    // The new single-use pair is stored for every instance.
    let stored: crate::zalo::TokenPair =
        serde_json::from_slice(&h.store.get_now("zalo:token:default").unwrap()).unwrap();
    assert_eq!(stored.access_token, "access-1");
    assert_eq!(stored.refresh_token, "refresh-1");
    assert!(stored.expires_at.is_some());
    assert_eq!(h.channel.client().current("default").await.unwrap(), stored);
    // Next replies use it without another refresh.
    h.send(&events::location(u, "t3", "10.5", "106.4", h.ms()))
        .await;
    h.wait_said(u, 5).await;
    assert_eq!(h.fake.refresh_calls().len(), 1);
}

#[tokio::test]
async fn a_conversation_abandoned_past_its_ttl_is_dropped_and_the_citizen_told() {
    let h = Harness::start().await;
    let u = "U800";
    let url = h.fake.add_media("b.jpg", "image/jpeg", PNG.to_vec());
    h.send(&events::image(u, "x1", &url, h.ms())).await;
    h.wait_said(u, 2).await;
    h.intake.advance(chrono::Duration::hours(2));
    h.send(&events::text(u, "x2", DESCRIPTION, h.ms())).await;
    let said = h.wait_said(u, 4).await;
    assert_eq!(said[2], tpl::EXPIRED);
    // The photo belonged to the expired draft: it is asked for again.
    assert_eq!(said[3], tpl::ask(Step::Media));
}

#[tokio::test]
async fn cancel_and_restart_keywords_end_the_draft() {
    let h = Harness::start().await;
    let u = "U850";
    h.send(&events::text(u, "c1", DESCRIPTION, h.ms())).await;
    h.wait_said(u, 2).await;
    h.send(&events::text(u, "c2", "Hủy", h.ms())).await;
    let said = h.wait_said(u, 3).await;
    assert_eq!(said[2], tpl::CANCELLED);
    assert!(!h
        .store
        .keys()
        .iter()
        .any(|k| k.starts_with("zalo:dialogue:")));
}

#[tokio::test]
async fn a_user_who_cannot_be_reached_is_recorded_for_the_ioc() {
    let h = Harness::start().await;
    let u = "U900";
    h.fake.script_cs_errors(&[-230]);
    h.send(&events::text(u, "r1", DESCRIPTION, h.ms())).await;
    let said = h.wait_said(u, 1).await;
    assert_eq!(
        said,
        vec![tpl::ask(Step::Media)],
        "the welcome was not deliverable"
    );
    let undeliverable = h.store.entries(UNDELIVERABLE_STREAM);
    assert_eq!(undeliverable.len(), 1);
    assert_eq!(undeliverable[0]["zalo_error"], -230);
    assert_eq!(undeliverable[0]["origin"]["user_id"], u);
}

#[tokio::test]
async fn a_rate_limit_holds_the_messages_back_and_keeps_their_order() {
    let h = Harness::start().await;
    let u = "U950";
    h.fake.script_cs_errors(&[-32]);
    h.send(&events::text(u, "q1", DESCRIPTION, h.ms())).await;
    let said = h.wait_said(u, 2).await;
    assert_eq!(said, vec![tpl::WELCOME, tpl::ask(Step::Media)]);
    assert_eq!(
        h.fake.cs_calls().len(),
        3,
        "one refused call, two delivered"
    );
}

#[tokio::test]
async fn while_shutting_down_the_webhook_answers_503() {
    let h = Harness::start().await;
    h.shutdown.cancel();
    let body = events::text("U990", "z1", DESCRIPTION, h.ms());
    assert_eq!(
        h.fake.post_event(&h.webhook(), &body, None).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(h.store.entries(EVENTS_STREAM).is_empty());
}

#[tokio::test]
async fn a_webhook_body_over_the_limit_is_refused() {
    let h = Harness::start_with(|c| c.webhook_max_bytes = 1024).await;
    let big = events::text("U991", "big", &"ạ".repeat(2000), h.ms());
    let s = h.fake.post_event(&h.webhook(), &big, None).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn media_from_hosts_not_allowed_are_not_downloaded() {
    let h = Harness::start_with(|c| c.media_hosts = vec![".zdn.vn".into()]).await;
    let u = "U992";
    let url = h.fake.add_media("c.jpg", "image/jpeg", PNG.to_vec());
    for (i, e) in [
        events::text(u, "h1", DESCRIPTION, h.ms()),
        events::image(u, "h2", &url, h.ms()),
        events::location(u, "h3", "10.5", "106.4", h.ms()),
        events::submit_info(u, "Nguyễn Văn An", "0912345678", h.ms()),
        events::text(u, "h5", "Gửi", h.ms()),
    ]
    .iter()
    .enumerate()
    {
        h.send(e).await;
        h.wait_said(u, [2, 3, 5, 6, 7][i]).await;
    }
    assert_eq!(h.fake.media_hits(), 0);
    // Without any evidence nothing is submitted: the draft stays and the photo is asked again.
    let said = h.said_to(u);
    assert_eq!(said[6], tpl::media_resend(1));
    assert!(h.intake.received().is_empty());
}

/// A conversation with one good photo and one whose link answers `status`; returns what the
/// citizen was told and the media of the one report received.
async fn one_photo_lost(h: &Harness, u: &str, status: u16) -> (Vec<String>, usize) {
    let good = h
        .fake
        .add_media(&format!("{u}-ok.jpg"), "image/jpeg", PNG.to_vec());
    let dead = h.fake.fail_media(&format!("{u}-dead.jpg"), status);
    h.send(&events::text(u, "d1", DESCRIPTION, h.ms())).await;
    h.wait_said(u, 2).await;
    h.send(&events::image(u, "d2", &good, h.ms())).await;
    h.send(&events::image(u, "d3", &dead, h.ms())).await;
    h.send(&events::location(u, "d4", "10.5", "106.4", h.ms()))
        .await;
    h.send(&events::submit_info(
        u,
        "Trần Thị Bích",
        "0912345678",
        h.ms(),
    ))
    .await;
    h.wait_said_that(u, |m| m.starts_with("Tóm tắt phản ánh"))
        .await;
    h.send(&events::text(u, "d6", "Gửi", h.ms())).await;
    let said = h
        .wait_said_that(u, |m| m.contains("Mã phản ánh: LA-"))
        .await;
    let r = &h.wait_received(1).await[0];
    (said, r.media.len())
}

#[tokio::test]
async fn a_medium_gone_for_good_404_is_given_up_at_once_and_the_report_goes_on() {
    let h = Harness::start().await;
    let (said, media) = one_photo_lost(&h, "U981", 404).await;
    assert_eq!(media, 1, "the photo that could be fetched is kept");
    assert!(said.contains(&tpl::media_failed(1)), "{said:#?}");
    // Once at arrival (inspection), once at "Gửi": no retry of a 404.
    assert!(h.fake.media_hits() <= 3, "hits: {}", h.fake.media_hits());
    assert_eq!(h.intake.received().len(), 1);
}

#[tokio::test]
async fn a_medium_failing_with_500_is_retried_a_bounded_number_of_times_then_given_up() {
    // No back-off: the harness's clock stands still.
    let h = Harness::start_with(|c| {
        c.media_max_deliveries = 2;
        c.media_retry_base_secs = 0;
    })
    .await;
    let (said, media) = one_photo_lost(&h, "U982", 500).await;
    assert_eq!(media, 1);
    assert!(said.contains(&tpl::media_failed(1)), "{said:#?}");
    // Good photo once; the dead one at arrival and at each of the 2 deliveries.
    let hits = h.fake.media_hits();
    assert_eq!(hits, 4, "bounded retries, hits: {hits}");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        h.fake.media_hits(),
        hits,
        "no retry after the report went on"
    );
    assert_eq!(h.intake.received().len(), 1);
}

#[tokio::test]
async fn a_hanging_medium_of_one_citizen_does_not_delay_another_citizens_report() {
    let h = Harness::start_with(|c| c.media_timeout_secs = 30).await;
    let slow = "U983";
    let hang = h.fake.fail_media("treo.jpg", 0);
    h.send(&events::text(slow, "s1", DESCRIPTION, h.ms())).await;
    h.wait_said(slow, 2).await;
    h.send(&events::image(slow, "s2", &hang, h.ms())).await;
    h.send(&events::location(slow, "s3", "10.5", "106.4", h.ms()))
        .await;
    h.send(&events::submit_info(
        slow,
        "Lê Văn Cường",
        "0912345678",
        h.ms(),
    ))
    .await;
    h.wait_said_that(slow, |m| m.starts_with("Tóm tắt phản ánh"))
        .await;
    // "Gửi": the submission now waits on the hanging photo (up to 30 s).
    h.send(&events::text(slow, "s6", "Gửi", h.ms())).await;
    let started = std::time::Instant::now();
    let (said, media) = one_photo_lost(&h, "U984", 404).await;
    assert_eq!(media, 1);
    assert!(said.iter().any(|m| m.contains("Mã phản ánh: LA-")));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the other citizen waited {:?}",
        started.elapsed()
    );
    assert!(!h
        .said_to(slow)
        .iter()
        .any(|m| m.contains("Mã phản ánh: LA-")));
}

#[tokio::test]
async fn concurrent_refreshes_spend_the_single_use_refresh_token_once() {
    let h = Harness::start().await;
    let client = h.channel.client();
    let stale = client.current("default").await.unwrap().access_token;
    let (a, b) = tokio::join!(
        client.refresh("default", &stale),
        client.refresh("default", &stale)
    );
    assert_eq!(a.unwrap().access_token, "access-1");
    assert_eq!(b.unwrap().access_token, "access-1");
    assert_eq!(h.fake.refresh_calls().len(), 1);
    assert!(
        h.store.get_now("zalo:token-lease:default").is_none(),
        "the lease is released"
    );
}

#[tokio::test]
async fn the_refresher_rotates_a_token_about_to_expire_and_leaves_a_fresh_one() {
    let h = Harness::start().await;
    let client = h.channel.client();
    let fresh = crate::zalo::TokenPair {
        access_token: "access-0".into(),
        refresh_token: "refresh-0".into(),
        expires_at: Some(crate::intake::Intake::now(&*h.intake) + chrono::Duration::hours(20)),
    };
    let bytes = serde_json::to_vec(&fresh).unwrap();
    crate::intake::StateStore::put(&*h.store, "zalo:token:default", &bytes, None)
        .await
        .unwrap();
    assert!(!client.refresh_if_due("default").await.unwrap());
    assert!(h.fake.refresh_calls().is_empty());
    h.intake
        .advance(chrono::Duration::hours(19) + chrono::Duration::minutes(30));
    assert!(client.refresh_if_due("default").await.unwrap());
    assert_eq!(h.fake.refresh_calls().len(), 1);
    assert_eq!(
        client.current("default").await.unwrap().access_token,
        "access-1"
    );
}

// A failure inside the gateway told the citizen their report lacked information.
#[tokio::test]
async fn a_gateway_bug_at_confirmation_is_not_blamed_on_the_citizen() {
    let h = Harness::start().await;
    let u = "U950";
    let url = h.fake.add_media("den.jpg", "image/jpeg", PNG.to_vec());
    for event in [
        events::text(u, "b1", DESCRIPTION, h.ms()),
        events::image(u, "b2", &url, h.ms()),
        events::location(u, "b3", "10.5366", "106.4138", h.ms()),
        events::submit_info(u, "Nguyễn Văn An", "84912345678", h.ms()),
    ] {
        h.send(&event).await;
    }
    // The place question may or may not come, as the photo's inspection (no GPS) and the shared
    // location race.
    let said = h
        .wait_said_that(u, |m| m.starts_with("Tóm tắt phản ánh"))
        .await;
    h.intake
        .internal_error
        .store(true, std::sync::atomic::Ordering::SeqCst);
    h.send(&events::text(u, "b5", "Gửi", h.ms())).await;
    let said = h.wait_said(u, said.len() + 1).await;
    assert_eq!(said.last().unwrap(), tpl::NOT_TAKEN);
}

// The dialogue lock and the token lease were owned by the instance id: two processes started
// with the same id (one shared configuration, or one host) released each other's locks.
#[tokio::test]
async fn processes_sharing_an_instance_id_never_share_a_lock_owner() {
    let a = Harness::start().await;
    let b = Harness::start().await;
    assert_eq!(a.channel.instance, b.channel.instance);
    assert_ne!(a.channel.lock_owner, b.channel.lock_owner);
    assert!(a.channel.lock_owner.starts_with(&a.channel.instance));
}

fn media_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/media")
        .join(name);
    std::fs::read(path).expect("media fixture")
}

/// The clock the media fixtures are dated from (their "2h before" is two hours before it).
fn media_clock() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-28T03:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

// A photo taken days ago was only found out after "Gửi": the citizen had left by then.
#[tokio::test]
async fn a_stale_photo_is_refused_while_the_citizen_is_still_there_and_its_file_removed() {
    let h = Harness::start_at(media_clock(), |_| {}).await;
    let u = "U960";
    let url = h
        .fake
        .add_media("cu.jpg", "image/jpeg", media_fixture("photo-3d-before.jpg"));
    h.send(&events::text(u, "s1", DESCRIPTION, h.ms())).await;
    h.wait_said(u, 2).await;
    h.send(&events::image(u, "s2", &url, h.ms())).await;
    let said = h.wait_said(u, 4).await;
    assert!(
        said[2].starts_with("Ảnh này chụp cách đây 3 ngày, vui lòng gửi ảnh chụp mới."),
        "{said:#?}"
    );
    assert_eq!(said[3], tpl::ask(Step::Media));
    assert!(h.staged().is_empty(), "{:?}", h.staged());
    let state = h
        .store
        .keys()
        .into_iter()
        .find(|k| k.starts_with("zalo:dialogue:") && !k.ends_with(":lock"))
        .expect("the draft is kept");
    let draft: serde_json::Value =
        serde_json::from_slice(&h.store.get_now(&state).unwrap()).unwrap();
    assert_eq!(draft["draft"]["media"], serde_json::json!([]));
}

// The place was asked for even when the photo said where it was taken; "Gửi" downloaded every
// photo a second time.
#[tokio::test]
async fn a_photo_with_gps_places_the_report_and_is_not_downloaded_again_at_confirmation() {
    let h = Harness::start_at(media_clock(), |_| {}).await;
    let u = "U961";
    let url = h.fake.add_media(
        "gps.jpg",
        "image/jpeg",
        media_fixture("photo-2h-before.jpg"),
    );
    h.send(&events::text(u, "g1", DESCRIPTION, h.ms())).await;
    h.wait_said(u, 2).await;
    h.send(&events::image(u, "g2", &url, h.ms())).await;
    let said = h.wait_said(u, 4).await;
    assert_eq!(said[2], tpl::ask(Step::Contact), "{said:#?}");
    assert_eq!(said[3], "[request_user_info]");
    assert_eq!(h.staged().len(), 1, "kept for the submission");
    h.send(&events::submit_info(
        u,
        "Nguyễn Văn An",
        "84912345678",
        h.ms(),
    ))
    .await;
    let said = h.wait_said(u, 5).await;
    assert!(said[4].starts_with("Tóm tắt phản ánh"), "{}", said[4]);
    assert!(said[4].contains("10.540000, 106.410000"), "{}", said[4]);
    h.send(&events::text(u, "g5", "ok gửi", h.ms())).await;
    let received = h.wait_received(1).await;
    let r = &received[0].report;
    assert_eq!(
        r.location.coordinates_source,
        Some(CoordinatesSource::ExifGps)
    );
    assert_eq!(
        r.location.address, None,
        "the home address is not the place"
    );
    assert_eq!(h.fake.media_hits(), 1, "downloaded once, when it arrived");
    h.wait_said(u, 6).await;
    assert!(h.staged().is_empty(), "{:?}", h.staged());
}

// After a user_submit_info while the place was missing, the OA said nothing.
#[tokio::test]
async fn each_shape_of_submitted_info_is_answered_with_what_is_still_missing() {
    let h = Harness::start().await;
    let url = h.fake.add_media("den.jpg", "image/jpeg", PNG.to_vec());
    let flat = |u: &str, ms: i64| {
        serde_json::json!({"app_id": super::fake_zalo::APP_ID, "sender": {"id": u},
            "recipient": {"id": OA_ID}, "event_name": "user_submit_info", "timestamp": ms.to_string(),
            "info": {"name": "Lê Thị Cúc", "phone": 84912345678u64, "address": "Ấp 3",
                     "ward": "Mỹ Yên", "district": "Bến Lức", "city": "Long An"}})
        .to_string()
    };
    for (u, info) in [
        ("U970", flat("U970", h.ms())),
        (
            "U971",
            events::submit_info("U971", "Lê Thị Cúc", "84912345678", h.ms()),
        ),
    ] {
        h.send(&events::text(u, &format!("{u}-1"), DESCRIPTION, h.ms()))
            .await;
        h.send(&events::image(u, &format!("{u}-2"), &url, h.ms()))
            .await;
        let said = h.wait_said(u, 3).await;
        assert_eq!(said[2], tpl::ask(Step::Location), "{u}");
        h.send(&info).await;
        let said = h.wait_said(u, 4).await;
        assert_eq!(said[3], tpl::still_missing(&[Step::Location]), "{u}");
        assert_eq!(said.len(), 4, "{u}: {said:#?}");
    }
}

// Cancelling a draft left its downloaded photos in the staging folder.
#[tokio::test]
async fn cancelling_in_plain_words_removes_the_staged_photo() {
    let h = Harness::start().await;
    let u = "U980";
    let url = h.fake.add_media("den.jpg", "image/jpeg", PNG.to_vec());
    h.send(&events::text(u, "k1", DESCRIPTION, h.ms())).await;
    h.send(&events::image(u, "k2", &url, h.ms())).await;
    let said = h.wait_said(u, 3).await;
    assert_eq!(said[2], tpl::ask(Step::Location));
    assert_eq!(h.staged().len(), 1);
    h.send(&events::text(u, "k3", "thôi không gửi nữa", h.ms()))
        .await;
    let said = h.wait_said(u, 4).await;
    assert_eq!(said[3], tpl::CANCELLED);
    assert!(h.staged().is_empty(), "{:?}", h.staged());
}

// The sweeper removes staged media nobody came back to, and only the dialogue's own files.
#[tokio::test]
async fn the_sweeper_removes_only_old_staged_dialogue_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["zalo-0123456789abcdef01234567.part", "other.part"] {
        std::fs::write(dir.path().join(name), b"x").unwrap();
    }
    assert_eq!(
        crate::zalo::processor::sweep_staged(dir.path(), Duration::from_secs(3600)).await,
        0
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        crate::zalo::processor::sweep_staged(dir.path(), Duration::from_millis(1)).await,
        1
    );
    assert!(dir.path().join("other.part").exists());
}

// An event posted from outside with the gateway's own inspection name is not taken.
#[tokio::test]
async fn an_inspection_event_from_outside_is_ignored() {
    let h = Harness::start().await;
    let body = serde_json::json!({"app_id": super::fake_zalo::APP_ID, "sender": {"id": "U990"},
        "recipient": {"id": OA_ID}, "event_name": normalizers::zalo::INSPECTED_EVENT,
        "timestamp": h.ms().to_string(),
        "inspection": {"media": "x", "staged": "zalo-00.part"}})
    .to_string();
    h.send(&body).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.store.entries(EVENTS_STREAM).is_empty());
}

/// A confirmation handed out again after its report was made (a re-delivery of the stream that
/// raced the acknowledgement, or another instance's claim) is only acknowledged: the dialogue
/// is gone by then and would otherwise greet the citizen again.
#[tokio::test]
async fn a_confirmation_delivered_again_after_its_report_changes_nothing() {
    use crate::intake::{Intake, Streams};
    let h = Harness::start().await;
    let u = "U990";
    let url = h.fake.add_media("again.jpg", "image/jpeg", PNG.to_vec());
    h.send(&events::text(u, "g1", DESCRIPTION, h.ms())).await;
    h.wait_said(u, 2).await;
    h.send(&events::image(u, "g2", &url, h.ms())).await;
    h.send(&events::location(u, "g3", "10.5", "106.4", h.ms()))
        .await;
    h.send(&events::submit_info(
        u,
        "Nguyễn Văn An",
        "0912345678",
        h.ms(),
    ))
    .await;
    h.wait_said_that(u, |m| m.starts_with("Tóm tắt phản ánh"))
        .await;
    let confirm = events::text(u, "g5", "Gửi", h.ms());
    h.send(&confirm).await;
    let said = h.wait_said_that(u, |m| m.contains("Mã phản ánh")).await;
    h.store
        .push(
            EVENTS_STREAM,
            serde_json::json!({"raw": confirm, "received_at": h.intake.now()}),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.said_to(u), said, "nothing more said");
    assert_eq!(h.store.pending(EVENTS_STREAM), 0, "acknowledged");
    assert_eq!(h.intake.received().len(), 1);
}
