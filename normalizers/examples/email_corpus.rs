//! Normalise every message of `$CORPUS_DIR/email` ROUNDS times, in memory: the driver of the
//! MIME profile in BENCHMARKS.md ("Profiles"). Run it under callgrind and compare instruction
//! counts between two ROUNDS values (the difference is the per-message cost, without the
//! start-up and the file reads):
//!
//! ```text
//! cargo build --profile bench -p normalizers --example email_corpus
//! valgrind --tool=callgrind target/release/examples/email_corpus 1
//! ```

use std::path::PathBuf;

use normalizers::email::EmailOptions;
use normalizers::report::{Channel, Envelope};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let dir = PathBuf::from(std::env::var_os("CORPUS_DIR").expect("CORPUS_DIR")).join("email");
    let mut raws = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("corpus/email readable") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "eml") {
            raws.push(std::fs::read(path).expect("readable"));
        }
    }
    let envelope = Envelope {
        id: String::new(),
        tracking_code: String::new(),
        channel: Channel::Email,
        channel_ref: None,
        received_at: chrono::DateTime::UNIX_EPOCH,
    };
    let options = EmailOptions::default();
    let mut parts = 0usize;
    for _ in 0..rounds {
        for raw in &raws {
            if let Ok(r) = normalizers::email::normalize(envelope.clone(), raw, &options) {
                parts += r.attachments.len() + 1;
            }
        }
    }
    println!("messages={} parts={parts}", raws.len() * rounds);
}
