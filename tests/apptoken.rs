//! The "Long An Số" app's bearer tokens (issue 13 point 2, Đ6.4): tokens signed with the keys
//! of a JWKS that a tiny local server publishes (RS256, ES256) or with a shared key (HS256),
//! sent to the running gateway's `POST /v1/reports`. A valid token makes the reporter verified
//! (`verified_by: app_token`, the app's user id as the channel identity) and a report with
//! nothing else wrong `accepted`; an expired one, another audience or issuer, a wrong signature,
//! an unknown key id are each a 401 with their reason; a blocked app account is refused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::gateway::{client, get_with, InProcess, IOC_KEY, SUBMIT_KEY};
use crate::support::{read_fixture, report_form, report_json, TEST_NOW};

const ISSUER: &str = "https://id.longan.example/";
const AUDIENCE: &str = "he-thong-1022";
const SHARED: &str = "a-shared-key-of-at-least-32-bytes-for-hs256";

/// A JWKS server counting its fetches.
struct Jwks {
    url: String,
    fetches: Arc<AtomicUsize>,
}

async fn jwks_server() -> Jwks {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let body = String::from_utf8(read_fixture("apptoken/jwks.json")).unwrap();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let counted = counted.clone();
            let body = body.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                ([("content-type", "application/json")], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Jwks {
        url: format!("http://{addr}/jwks.json"),
        fetches,
    }
}

fn now() -> i64 {
    chrono::DateTime::parse_from_rfc3339(TEST_NOW)
        .unwrap()
        .timestamp()
}

fn claims(sub: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now() - 60,
        "exp": now() + 3600,
    })
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn rsa(file: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(&read_fixture(&format!("apptoken/{file}"))).unwrap()
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, Some("k1"), &rsa("rsa-k1.pem"), claims)
}

async fn gateway(jwks: &Jwks) -> (InProcess, String) {
    let url = jwks.url.clone();
    let gw = InProcess::start(move |c| {
        c.app_tokens.issuer = ISSUER.into();
        c.app_tokens.audience = AUDIENCE.into();
        c.app_tokens.jwks_url = Some(url);
        c.app_tokens.shared_key = Some(SHARED.into());
        c.app_tokens.leeway_secs = 60;
        c.app_tokens.jwks_refetch_secs = 3600;
        // The same photo in every submission: no duplicate window (its rules have their own
        // tests), so that a verified report is judged on its own.
        c.duplicates.window_hours = 0;
    })
    .await;
    let base = gw.serve().await;
    (gw, base)
}

/// Submit the fixture report (2-hour-old photo) under `bearer`: status and JSON answer.
async fn submit(base: &str, bearer: &str) -> (StatusCode, Value, Option<String>) {
    let mut report = report_json();
    report["channel"] = json!("app");
    let res = client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(bearer)
        .multipart(report_form(&report, "anh.jpg"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (status, res.json().await.unwrap_or(Value::Null), challenge)
}

async fn refused(base: &str, token: &str, reason: &str, words: &str) {
    let (s, body, challenge) = submit(base, token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{reason}: {body}");
    assert_eq!(body["error"], "unauthorized");
    assert!(
        body["message"].as_str().unwrap().contains(words),
        "{reason}: {body}"
    );
    assert_eq!(
        challenge.as_deref(),
        Some(format!("Bearer error=\"invalid_token\", error_description=\"{reason}\"").as_str())
    );
}

#[tokio::test]
async fn a_valid_app_token_verifies_the_reporter_and_the_report_is_accepted() {
    let jwks = jwks_server().await;
    let (_gw, base) = gateway(&jwks).await;
    for (token, sub) in [
        (rs256(&claims("user-rs-1001")), "user-rs-1001"),
        (
            sign(
                Algorithm::ES256,
                Some("k2"),
                &EncodingKey::from_ec_pem(&read_fixture("apptoken/ec-k2.pem")).unwrap(),
                &claims("user-es-1002"),
            ),
            "user-es-1002",
        ),
        (
            sign(
                Algorithm::HS256,
                None,
                &EncodingKey::from_secret(SHARED.as_bytes()),
                &claims("user-hs-1003"),
            ),
            "user-hs-1003",
        ),
    ] {
        let (s, answer, _) = submit(&base, &token).await;
        assert_eq!(s, StatusCode::CREATED, "{sub}: {answer}");
        assert_eq!(answer["verdict"], "accepted", "{sub}: {answer}");
        let id = answer["id"].as_str().unwrap();
        let res = get_with(format!("{base}/v1/reports/{id}"), IOC_KEY).await;
        let report: Value = res.json().await.unwrap();
        assert_eq!(report["channel"], "app");
        assert_eq!(report["reporter"]["verified_by"], "app_token");
        assert_eq!(report["reporter"]["channel_identity"], sub);
    }
    // The key set was fetched once and cached.
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);

    // A token 30 s past its expiry is within the 60 s skew; the API key still works (and its
    // report stays unverified: needs review).
    let mut late = claims("user-rs-1001");
    late["exp"] = json!(now() - 30);
    let (s, answer, _) = submit(&base, &rs256(&late)).await;
    assert_eq!(s, StatusCode::CREATED, "{answer}");
    let (s, answer, _) = submit(&base, SUBMIT_KEY).await;
    assert_eq!(s, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["verdict"], "needs_review");
}

#[tokio::test]
async fn refused_app_tokens_get_401_with_their_reason() {
    let jwks = jwks_server().await;
    let (_gw, base) = gateway(&jwks).await;

    let mut expired = claims("u1");
    expired["exp"] = json!(now() - 120);
    refused(&base, &rs256(&expired), "expired", "expired").await;

    let mut other_audience = claims("u1");
    other_audience["aud"] = json!("another-service");
    refused(
        &base,
        &rs256(&other_audience),
        "wrong_audience",
        "another audience",
    )
    .await;

    let mut other_issuer = claims("u1");
    other_issuer["iss"] = json!("https://evil.example/");
    refused(
        &base,
        &rs256(&other_issuer),
        "wrong_issuer",
        "another issuer",
    )
    .await;

    let forged = sign(
        Algorithm::RS256,
        Some("k1"),
        &rsa("rsa-other.pem"),
        &claims("u1"),
    );
    refused(&base, &forged, "bad_signature", "signature").await;

    let hs_forged = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(b"not-the-shared-key-not-the-shared-key"),
        &claims("u1"),
    );
    refused(&base, &hs_forged, "bad_signature", "signature").await;

    let fetched = jwks.fetches.load(Ordering::SeqCst);
    let unknown = sign(
        Algorithm::RS256,
        Some("k9"),
        &rsa("rsa-k1.pem"),
        &claims("u1"),
    );
    refused(&base, &unknown, "unknown_key_id", "key id").await;
    // An unknown key id fetched the key set again once, not at every request.
    refused(&base, &unknown, "unknown_key_id", "key id").await;
    assert!(jwks.fetches.load(Ordering::SeqCst) <= fetched + 1);

    let mut future = claims("u1");
    future["nbf"] = json!(now() + 600);
    refused(&base, &rs256(&future), "not_yet_valid", "not valid yet").await;

    let mut no_exp = claims("u1");
    no_exp.as_object_mut().unwrap().remove("exp");
    refused(&base, &rs256(&no_exp), "no_expiry", "expiry").await;

    let mut no_sub = claims("u1");
    no_sub.as_object_mut().unwrap().remove("sub");
    refused(&base, &rs256(&no_sub), "no_subject", "user").await;

    // Neither a key nor a JWT: the plain 401 of the API keys.
    let (s, body, challenge) = submit(&base, "not-a-key").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert!(challenge.is_none());
}

#[tokio::test]
async fn a_blocked_app_account_is_refused() {
    let jwks = jwks_server().await;
    let (_gw, base) = gateway(&jwks).await;
    let res = client()
        .post(format!("{base}/v1/ioc/blocklist"))
        .bearer_auth(IOC_KEY)
        .json(&json!({"identity": "app:user-spam-7", "reason": "Gửi tin rác lặp lại"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let (s, answer, _) = submit(&base, &rs256(&claims("user-spam-7"))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let codes: Vec<&str> = answer["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"SENDER_BLOCKED"), "{answer}");
    // Another account of the app is not.
    let (s, answer, _) = submit(&base, &rs256(&claims("user-ok-8"))).await;
    assert_eq!(s, StatusCode::CREATED, "{answer}");
}

#[tokio::test]
async fn without_app_tokens_configured_a_jwt_is_no_credential() {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let (s, _, challenge) = submit(&base, &rs256(&claims("u1"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(challenge.is_none());
}
