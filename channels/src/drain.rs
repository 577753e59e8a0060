//! Reading and dropping the rest of a request body that is refused before it was read.
//!
//! An HTTP answer sent while the client is still writing its body closes the connection with
//! unread bytes in the kernel's receive buffer, and the kernel then resets it: the client,
//! still writing, sees a broken connection instead of the answer (a 413 or 415 in the API's
//! error format) and would take it for an outage and send again. Every early refusal of a
//! body therefore reads what is left of it first, within a bound of bytes and of time, so a
//! client announcing gigabytes cannot hold a connection or a task for long.

use std::time::Duration;

use axum::body::Body;
use axum::http::header::CONTENT_LENGTH;
use axum::http::HeaderMap;
use futures_util::StreamExt;

/// The most of a refused body that is read (and dropped) before the answer.
pub const DRAIN_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// The longest a refused body is read for.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// The body length a request declares, when it declares one that parses.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Read and drop what is left of `body`, when the request declares at most
/// [`DRAIN_MAX_BYTES`] (or declares nothing: then at most that much is read), for at most
/// [`DRAIN_TIME`]. A body announced larger is left unread: its connection is closed after the
/// answer, which is then the client's problem to read.
pub async fn drain(declared: Option<u64>, body: Body) {
    if declared.is_some_and(|n| n > DRAIN_MAX_BYTES) {
        return;
    }
    drain_stream(body.into_data_stream(), 0).await;
}

/// Read and drop what is left of a body stream of which `already` bytes were read, within
/// [`DRAIN_MAX_BYTES`] in all and [`DRAIN_TIME`].
pub async fn drain_stream<S, E>(mut stream: S, already: u64)
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
{
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut read = already;
        while let Some(Ok(chunk)) = stream.next().await {
            read += chunk.len() as u64;
            if read > DRAIN_MAX_BYTES {
                break;
            }
        }
    })
    .await;
}
