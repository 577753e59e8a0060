//! The text checks of issue 9 (points 11–13) through the real interfaces: `POST /v1/reports`
//! on a real socket (what the citizen is answered, what the IOC finds on its queue) and
//! `gateway check` on the golden fixtures `fixtures/app/06x-*`.

use std::process::Command;

use serde_json::Value;

use crate::support::gateway::{client, InProcess, IOC_KEY, SUBMIT_KEY};
use crate::support::{fixture, report_form, report_json, TEST_NOW};

/// Submits `content` with a fresh photo to a fresh gateway (so no two cases are duplicates of
/// each other): the status, the answer and the IOC queue after it.
async fn submit(content: &str) -> (u16, Value, Vec<Value>) {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let mut report = report_json();
    report["content"] = Value::from(content);
    let form = report_form(&report, "anh.jpg");
    let res = client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let answer: Value = res.json().await.unwrap();
    let queue: Value = client()
        .get(format!("{base}/v1/ioc/queue?max=10&consumer=text"))
        .bearer_auth(IOC_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = queue["entries"].as_array().cloned().unwrap_or_default();
    (status, answer, entries)
}

fn codes(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["code"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn finding<'a>(findings: &'a Value, code: &str) -> &'a Value {
    findings
        .as_array()
        .and_then(|l| l.iter().find(|f| f["code"] == code))
        .unwrap_or_else(|| panic!("no {code} in {findings}"))
}

#[tokio::test]
async fn a_few_words_without_marks_are_queued_with_a_flag_naming_them() {
    let cases: &[(&str, &[&str])] = &[
        (
            "Tôi đến UBND phường làm thủ tuc cấp giay tờ nhà từ tháng trước, hồ sơ nộp đủ mà vẫn chưa được duyet.",
            &["tuc", "giay", "duyet"],
        ),
        (
            "Đèn đường trước số 12 đường Hùng Vương bị hỏng, nguoi dân phải đi trong bóng tối.",
            &["nguoi"],
        ),
        (
            "Nước ngập sâu trên đường Hùng Vương, xe máy chết máy hàng loat, khong ai xử lý.",
            &["loat", "khong"],
        ),
    ];
    for (content, words) in cases {
        let (status, answer, queue) = submit(content).await;
        assert_eq!(status, 201, "{content}: {answer}");
        assert_eq!(answer["verdict"], "needs_review", "{answer}");
        assert!(
            !codes(&answer["reasons"]).contains(&"CONTENT_NO_DIACRITICS".to_string()),
            "{answer}"
        );
        let flag = finding(&answer["flags"], "CONTENT_PARTIAL_DIACRITICS");
        assert_eq!(flag["field"], "content.text");
        assert_eq!(flag["detail"]["words"], serde_json::json!(words), "{flag}");
        let message = flag["message"].as_str().unwrap();
        for w in *words {
            assert!(message.contains(&format!("\"{w}\"")), "{message}");
        }
        assert!(message.contains("vẫn được tiếp nhận"), "{message}");
        // The IOC sees it on the queue, with the same flag.
        assert_eq!(queue.len(), 1, "{content}");
        let queued = &queue[0]["report"]["verdict"]["flags"];
        assert!(
            codes(queued).contains(&"CONTENT_PARTIAL_DIACRITICS".to_string()),
            "{queued}"
        );
    }
}

#[tokio::test]
async fn from_a_third_of_the_words_without_marks_the_citizen_is_told_to_rewrite() {
    let (status, answer, queue) = submit(
        "Tôi đến phường làm thu tuc cấp giay to nha, ho so nop từ tháng trước mà chua duoc duyet, can bo hẹn mãi.",
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    let reason = finding(&answer["reasons"], "CONTENT_NO_DIACRITICS");
    assert!(reason["message"].as_str().unwrap().contains("có dấu"));
    assert!(!codes(&answer["flags"]).contains(&"CONTENT_PARTIAL_DIACRITICS".to_string()));
    assert!(
        queue.is_empty(),
        "a rejected report is not on the IOC queue"
    );
}

#[tokio::test]
async fn money_time_weekday_and_chat_shorthands_are_named_with_their_full_form() {
    let (status, answer, _) = submit(
        "Bãi giữ xe trước chợ thu 50k một xe máy, mở từ 5h đến 10h30 tối, t7 và cn thu thêm 10k, vk ck tôi bít mà hok dám nói.",
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    let reason = finding(&answer["reasons"], "CONTENT_ABBREVIATION");
    let message = reason["message"].as_str().unwrap();
    for pair in [
        "\"50k\" → \"50 nghìn đồng\"",
        "\"5h\" → \"5 giờ\"",
        "\"10h30\" → \"10 giờ 30\"",
        "\"t7\" → \"thứ bảy\"",
        "\"cn\" → \"chủ nhật\"",
        "\"vk\" → \"vợ\"",
    ] {
        assert!(message.contains(pair), "{pair} not in {message}");
    }
    let words: Vec<&str> = reason["detail"]["abbreviations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["word"].as_str().unwrap())
        .collect();
    assert_eq!(
        words,
        ["50k", "5h", "10h30", "t7", "cn", "10k", "vk", "ck", "bít", "hok"]
    );
}

#[tokio::test]
async fn road_codes_units_and_administrative_names_are_not_chat_shorthands() {
    let (status, answer, _) = submit(
        "Xe tải chạy hơn 80 km/h trên ĐT.827 và QL1A đoạn qua phường 1, cống bị bít kín, UBND phường chưa xử lý.",
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert!(answer["reasons"].as_array().unwrap().is_empty(), "{answer}");
    // Only UBND is named, as an administrative abbreviation (a flag).
    let flag = finding(&answer["flags"], "CONTENT_ABBREVIATION");
    let words: Vec<&str> = flag["detail"]["abbreviations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["word"].as_str().unwrap())
        .collect();
    assert_eq!(words, ["UBND"]);
}

#[tokio::test]
async fn english_and_french_with_vietnamese_place_names_are_not_vietnamese() {
    for content in [
        "The street light in front of my house at ấp 3, xã Mỹ Yên has been broken for a week, please fix it.",
        "The street light at ap 3, xa My Yen is broken since last week, please fix it.",
        "Le lampadaire devant ma maison, 12 rue Hùng Vương, Phường 1, est cassé depuis trois jours.",
        "Il y a des ordures dans la rue pres du marche de Tan An depuis une semaine, ca sent tres mauvais.",
    ] {
        let (status, answer, queue) = submit(content).await;
        assert_eq!(status, 422, "{content}: {answer}");
        let reasons = codes(&answer["reasons"]);
        assert!(
            reasons.contains(&"CONTENT_NOT_VIETNAMESE".to_string()),
            "{content}: {answer}"
        );
        for other in ["CONTENT_NO_DIACRITICS", "CONTENT_ABBREVIATION"] {
            assert!(!reasons.contains(&other.to_string()), "{content}: {answer}");
        }
        assert!(queue.is_empty());
    }
    // Vietnamese with a few English words is Vietnamese.
    let (status, answer, _) = submit(
        "Camera an ninh và wifi công cộng trước số 12 đường Hùng Vương bị hỏng, có người livestream cảnh container đậu chắn lối đi.",
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert!(answer["reasons"].as_array().unwrap().is_empty(), "{answer}");
}

/// `gateway check` gives the 06x fixtures the text verdicts they are named for.
#[test]
fn gateway_check_gives_the_text_fixtures_their_verdicts() {
    let expected: &[(&str, &str, &str)] = &[
        (
            "060-partial-diacritics",
            "needs_review",
            "CONTENT_PARTIAL_DIACRITICS",
        ),
        (
            "061-partial-diacritics-a-third",
            "rejected",
            "CONTENT_NO_DIACRITICS",
        ),
        (
            "062-money-time-shorthands",
            "rejected",
            "CONTENT_ABBREVIATION",
        ),
        ("063-kinship-slang", "rejected", "CONTENT_ABBREVIATION"),
        (
            "065-english-with-place-names",
            "rejected",
            "CONTENT_NOT_VIETNAMESE",
        ),
        (
            "066-french-with-place-names",
            "rejected",
            "CONTENT_NOT_VIETNAMESE",
        ),
        (
            "067-french-unaccented",
            "rejected",
            "CONTENT_NOT_VIETNAMESE",
        ),
    ];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["check", "--now", TEST_NOW]);
    for (name, _, _) in expected {
        cmd.arg(fixture(&format!("app/{name}.json")));
    }
    cmd.arg(fixture("app/064-road-codes-and-units.json"))
        .arg(fixture("app/068-vietnamese-with-english-words.json"));
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), expected.len() + 2);
    for ((name, verdict, code), v) in expected.iter().zip(&verdicts) {
        assert_eq!(v["verdict"], *verdict, "{name}: {v}");
        let all: Vec<String> = codes(&v["reasons"])
            .into_iter()
            .chain(codes(&v["flags"]))
            .collect();
        assert!(all.contains(&code.to_string()), "{name}: {v}");
    }
    // Proper forms and loanwords: nothing refused about the text.
    for v in &verdicts[expected.len()..] {
        assert_ne!(v["verdict"], "rejected", "{v}");
        for code in codes(&v["reasons"]) {
            assert!(!code.starts_with("CONTENT_"), "{v}");
        }
    }
}
