//! The store's numbered append, which the Zalo webhook stores every event with
//! (`Store::append_numbered`), on the embedded store, Redis and a Redis Cluster: concurrent
//! appends of one counter get 1, 2, 3… each once, in their entries; a repeat under the same
//! key appends nothing and takes no number; counters are independent.

use std::collections::BTreeSet;
use std::time::Duration;

use channels::Numbering;
use gateway::store::Store;

use crate::support::redis::{RedisCluster, RedisServer};

const STREAM: &str = "zalo:events";

fn numbering(counter: &str, once: &str) -> Numbering {
    Numbering {
        counter: counter.into(),
        counter_ttl: Duration::from_secs(3600),
        field: "number",
        once: Some((once.into(), Duration::from_secs(3600))),
    }
}

/// The numbers found in the entries of the stream, per counter (`c` field of the payload).
async fn numbers_in_entries(store: &Store) -> Vec<(String, u64)> {
    let entries = store
        .claim(STREAM, "g", "reader", 1000, Duration::from_secs(60))
        .await
        .unwrap();
    entries
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
            (
                v["c"].as_str().unwrap().to_string(),
                v["number"].as_u64().expect("the number is in the entry"),
            )
        })
        .collect()
}

async fn numbers_every_entry_once(store: Store) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40u32 {
        let store = store.clone();
        tasks.spawn(async move {
            let counter = if i % 2 == 0 { "a" } else { "b" };
            let payload = serde_json::json!({ "c": counter, "i": i }).to_string();
            store
                .append_numbered(
                    STREAM,
                    &numbering(counter, &format!("ev-{i}")),
                    payload.as_bytes(),
                )
                .await
                .unwrap()
        });
    }
    let mut answered = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let n = done.unwrap();
        assert!(!n.repeated);
        answered.push(n);
    }
    let in_entries = numbers_in_entries(&store).await;
    assert_eq!(in_entries.len(), 40, "one entry per append");
    for counter in ["a", "b"] {
        let got: BTreeSet<u64> = in_entries
            .iter()
            .filter(|(c, _)| c == counter)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(
            got,
            (1..=20).collect(),
            "counter {counter}: 1..=20, each once"
        );
    }
    // A repeat appends nothing, takes no number, and names the first entry.
    let first = store
        .append_numbered(STREAM, &numbering("a", "again"), br#"{"c":"a"}"#)
        .await
        .unwrap();
    assert_eq!((first.number, first.repeated), (21, false));
    let repeat = store
        .append_numbered(STREAM, &numbering("a", "again"), br#"{"c":"a"}"#)
        .await
        .unwrap();
    assert!(repeat.repeated);
    assert_eq!(
        (repeat.entry_id.as_str(), repeat.number),
        (first.entry_id.as_str(), 21)
    );
    let next = store
        .append_numbered(STREAM, &numbering("a", "later"), br#"{"c":"a"}"#)
        .await
        .unwrap();
    assert_eq!(next.number, 22, "the repeat took no number");
    assert_eq!(
        numbers_in_entries(&store).await.len(),
        2,
        "the repeat appended nothing"
    );
    // A payload a number cannot be spliced into is refused, and takes no number.
    assert!(store
        .append_numbered(STREAM, &numbering("a", "bad"), b"[1]")
        .await
        .is_err());
    let after = store
        .append_numbered(STREAM, &numbering("a", "after"), br#"{"c":"a"}"#)
        .await
        .unwrap();
    assert_eq!(after.number, 23);
}

#[tokio::test]
async fn numbered_appends_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let clock: gateway::clock::SharedClock = std::sync::Arc::new(gateway::clock::SystemClock);
    let store = Store::embedded(&dir.path().join("q.redb"), clock).unwrap();
    numbers_every_entry_once(store).await;
}

#[tokio::test]
async fn numbered_appends_on_redis() {
    let server = RedisServer::start();
    let store = Store::redis(&server.url()).await.unwrap();
    numbers_every_entry_once(store).await;
}

#[tokio::test]
async fn numbered_appends_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let store = Store::redis(&cluster.url()).await.unwrap();
    numbers_every_entry_once(store).await;
}
