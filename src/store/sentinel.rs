//! Redis behind Sentinel: `redis+sentinel://[user:password@]host:port,host:port,…/<master-name>[/<db>]`.
//!
//! The redis crate's sentinel support finds the master once (it asks the sentinels, then checks
//! that the node it names answers `ROLE` as a master). This connection keeps following it: when
//! the master stops answering (connection refused, dropped, timed out) or answers as a replica
//! (`READONLY`, `MASTERDOWN`, after a failover demoted it), the connection is dropped and the
//! sentinels are asked again at the next command, with a back-off between failed attempts
//! ([`RETRY_MIN`] doubling to [`RETRY_MAX`]). Meanwhile every command fails at once with the
//! cause (`/readyz` shows it) instead of waiting: callers retry, and nothing is acknowledged
//! that was not written to the master.
//!
//! The credentials in the URL's userinfo are those of the master (and replicas); the sentinels'
//! own (`requirepass`/ACL of the sentinels) are given apart, percent-encoded, in the query:
//! `?sentinel_username=<user>&sentinel_password=<password>` (none: asked without).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{
    Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisConnectionInfo, RedisError, RedisFuture,
    Value,
};
use tokio::time::Instant;

/// The first wait after a failed attempt to find the master.
const RETRY_MIN: Duration = Duration::from_millis(100);
/// The longest wait between attempts to find the master.
const RETRY_MAX: Duration = Duration::from_secs(2);
/// How long asking the sentinels and connecting to the master they name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed `redis+sentinel://` URL.
#[derive(Debug, Clone)]
pub struct SentinelUrl {
    /// `redis://host:port` of each sentinel.
    pub sentinels: Vec<String>,
    /// The name the sentinels monitor the master under.
    pub master_name: String,
    /// Credentials and database of the master (and replicas).
    pub master: RedisConnectionInfo,
    /// Credentials of the sentinels.
    pub sentinel: RedisConnectionInfo,
}

fn invalid(detail: String) -> RedisError {
    RedisError::from((
        ErrorKind::InvalidClientConfig,
        "invalid redis+sentinel URL",
        detail,
    ))
}

/// The sentinels, master name and master credentials of a `redis+sentinel://` URL; none for
/// any other URL. The error names what is wrong (never the password).
pub fn parse(url: &str) -> Option<Result<SentinelUrl, RedisError>> {
    let (scheme, rest) = url.split_once("+sentinel://")?;
    Some(match scheme {
        "redis" => parse_rest(rest),
        "rediss" => Err(invalid(
            "TLS (rediss+sentinel://) is not supported: this build has no TLS for Redis".into(),
        )),
        _ => return None,
    })
}

fn parse_rest(rest: &str) -> Result<SentinelUrl, RedisError> {
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) => (format!("{auth}@"), rest),
        None => (String::new(), rest),
    };
    let (mut sentinel_user, mut sentinel_password) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sentinel_username", v)) => sentinel_user = Some(v),
            Some(("sentinel_password", v)) => sentinel_password = Some(v),
            _ => {
                let name = pair.split_once('=').map_or(pair, |(k, _)| k);
                return Err(invalid(format!(
                    "unknown parameter {name:?} (sentinel_username, sentinel_password)"
                )));
            }
        }
    }
    let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut path = path.split('/').filter(|s| !s.is_empty());
    let master_name = path
        .next()
        .ok_or_else(|| {
            invalid("no master name: redis+sentinel://host:port,…/<master-name>".into())
        })?
        .to_string();
    let db = match path.next() {
        Some(db) => db
            .parse::<i64>()
            .map_err(|_| invalid(format!("database {db:?} is not a number")))?,
        None => 0,
    };
    if path.next().is_some() {
        return Err(invalid(
            "more than /<master-name>/<db> after the sentinels".into(),
        ));
    }
    let sentinels: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| format!("redis://{h}"))
        .collect();
    let Some(first) = sentinels.first() else {
        return Err(invalid("no sentinel address".into()));
    };
    // The crate parses (and percent-decodes) the credentials; the host is a placeholder.
    let host = first.trim_start_matches("redis://");
    let master = format!("redis://{auth}{host}/{db}")
        .into_connection_info()
        .map_err(|e| invalid(format!("credentials or database: {}", e.category())))?;
    // The same for the sentinels' credentials, still percent-encoded as written.
    let sentinel_auth = match (sentinel_user, sentinel_password) {
        (None, None) => String::new(),
        (user, password) => format!(
            "{}:{}@",
            user.unwrap_or_default(),
            password.unwrap_or_default()
        ),
    };
    let sentinel = format!("redis://{sentinel_auth}{host}/0")
        .into_connection_info()
        .map_err(|e| invalid(format!("sentinel credentials: {}", e.category())))?;
    Ok(SentinelUrl {
        sentinels,
        master_name,
        master: master.redis_settings().clone(),
        sentinel: sentinel.redis_settings().clone(),
    })
}

/// The master the sentinels name, followed across failovers. Cheap to clone (shared).
#[derive(Clone)]
pub struct SentinelConn {
    shared: Arc<Shared>,
    db: i64,
}

struct Shared {
    master_name: String,
    node: SentinelNodeConnectionInfo,
    config: ConnectionManagerConfig,
    /// Asked by one task at a time (the lock also makes the resolution single-flight).
    sentinel: tokio::sync::Mutex<Sentinel>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The connection to the current master and the generation it belongs to.
    current: Option<(ConnectionManager, u64)>,
    generation: u64,
    /// The last failed attempt's cause and when the next attempt may be made.
    failed: Option<(RedisError, Instant)>,
    /// The wait after the next failed attempt.
    backoff: Duration,
}

impl SentinelConn {
    /// Ask the sentinels for the master and connect to it (an error when none is reachable).
    pub async fn connect(
        url: SentinelUrl,
        config: ConnectionManagerConfig,
    ) -> Result<SentinelConn, RedisError> {
        let nodes = url
            .sentinels
            .iter()
            .map(|h| {
                h.as_str()
                    .into_connection_info()
                    .map(|info| info.set_redis_settings(url.sentinel.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sentinel = Sentinel::build(nodes)?;
        let conn = SentinelConn {
            shared: Arc::new(Shared {
                master_name: url.master_name,
                node: SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(url.master.clone()),
                config,
                sentinel: tokio::sync::Mutex::new(sentinel),
                state: Mutex::new(State {
                    backoff: RETRY_MIN,
                    ..State::default()
                }),
            }),
            db: url.master.db(),
        };
        conn.master().await?;
        Ok(conn)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().expect("not poisoned")
    }

    /// The connection to the current master: the one in use, else one to the master the
    /// sentinels name now; during the back-off after a failed attempt, that attempt's cause.
    async fn master(&self) -> Result<(ConnectionManager, u64), RedisError> {
        if let Some(found) = self.usable()? {
            return Ok(found);
        }
        let mut sentinel = self.shared.sentinel.lock().await;
        // Another task may have found it while this one waited for the lock.
        if let Some(found) = self.usable()? {
            return Ok(found);
        }
        let name = &self.shared.master_name;
        let attempt = async {
            let client = sentinel
                .async_master_for(name, Some(&self.shared.node))
                .await?;
            let addr = client.get_connection_info().addr().to_string();
            let conn =
                ConnectionManager::new_with_config(client, self.shared.config.clone()).await?;
            Ok::<_, RedisError>((conn, addr))
        };
        let outcome = match tokio::time::timeout(RESOLVE_TIMEOUT, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(RedisError::from((
                ErrorKind::Io,
                "timed out",
                format!("asking the sentinels and connecting took over {RESOLVE_TIMEOUT:?}"),
            ))),
        };
        let mut state = self.state();
        match outcome {
            Ok((conn, addr)) => {
                state.generation += 1;
                let generation = state.generation;
                state.current = Some((conn.clone(), generation));
                state.failed = None;
                state.backoff = RETRY_MIN;
                tracing::info!(master = name.as_str(), %addr, "connected to the Redis master the sentinels name");
                Ok((conn, generation))
            }
            Err(e) => {
                let wait = state.backoff;
                state.backoff = (wait * 2).min(RETRY_MAX);
                let cause = RedisError::from((
                    ErrorKind::Io,
                    "redis sentinel",
                    format!(
                        "no reachable master {name:?} (asking the sentinels again within {} ms): {e}",
                        wait.as_millis()
                    ),
                ));
                tracing::warn!(error = %e, retry_ms = wait.as_millis() as u64, "no reachable Redis master from the sentinels");
                state.failed = Some((cause.clone(), Instant::now() + wait));
                Err(cause)
            }
        }
    }

    /// The connection in use; none when there is none and an attempt may be made; the last
    /// cause during the back-off.
    fn usable(&self) -> Result<Option<(ConnectionManager, u64)>, RedisError> {
        let state = self.state();
        if let Some(current) = &state.current {
            return Ok(Some(current.clone()));
        }
        match &state.failed {
            Some((cause, retry_at)) if Instant::now() < *retry_at => Err(cause.clone()),
            _ => Ok(None),
        }
    }

    /// The master of `generation` failed with `e`: stop using it (once per generation).
    fn lost(&self, generation: u64, e: &RedisError) {
        let mut state = self.state();
        if state
            .current
            .as_ref()
            .is_some_and(|(_, g)| *g == generation)
        {
            state.current = None;
            tracing::warn!(
                master = self.shared.master_name.as_str(),
                error = %e,
                "the Redis master stopped answering as master: asking the sentinels again"
            );
        }
    }
}

/// `e` says the node is no master (any more) or cannot be reached.
fn master_lost(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || refused_unrun(e)
}

/// The node refused the command without running it because it is no master: it may be sent
/// again to the new master.
fn refused_unrun(e: &RedisError) -> bool {
    matches!(e.code(), Some("READONLY") | Some("MASTERDOWN"))
        || e.to_string()
            .contains("READONLY You can't write against a read only replica")
}

/// A command refused unrun by a node that is no master, or a pipeline with such an answer
/// (a transaction's `EXECABORT` names the refusal of the command it discarded).
fn answered_unrun(values: &[Value]) -> Option<RedisError> {
    values.iter().find_map(|v| match v {
        Value::ServerError(e) => {
            let text = format!("{} {}", e.code(), e.details().unwrap_or_default());
            (text.contains("READONLY") || text.contains("MASTERDOWN")).then(|| {
                RedisError::from((
                    ErrorKind::Io,
                    "refused by a node that is no master",
                    text.chars().take(120).collect::<String>(),
                ))
            })
        }
        _ => None,
    })
}

/// Whether `cmd` may be sent again after its connection broke without an answer (it may have
/// run): reads, writes whose repeat changes nothing, and the append scripts, which carry
/// their repeat marker (`gw:{stream}:enqueued:<id>`, `gw:{stream}:once:<key>`: a second run
/// finds it and returns the first entry). Never `WAIT`: on another connection it would count
/// none of the writes it is meant to confirm.
fn resend_safe(cmd: &Cmd) -> bool {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        redis::Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let Some(name) = args.next() else {
        return false;
    };
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    match name.as_str() {
        "PING" | "GET" | "MGET" | "EXISTS" | "TTL" | "PTTL" | "TYPE" | "SCAN" | "XRANGE"
        | "XREVRANGE" | "XLEN" | "XINFO" | "XPENDING" | "ZRANGE" | "ZRANGEBYSCORE"
        | "ZREVRANGE" | "ZREVRANGEBYSCORE" | "ZSCORE" | "ZCARD" | "HGET" | "HMGET" | "HGETALL"
        | "ROLE" | "INFO" | "XACK" | "DEL" | "UNLINK" | "PEXPIRE" | "EXPIRE" => true,
        "EVALSHA" | "EVAL" => {
            // EVALSHA <sha> <numkeys> <keys…> <args…>
            let _script = args.next();
            let keys = args
                .next()
                .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
                .unwrap_or(0);
            args.take(keys).any(|k| {
                let k = String::from_utf8_lossy(k);
                k.contains("}:enqueued:") || k.contains("}:once:")
            })
        }
        _ => false,
    }
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut again = true;
            loop {
                let (mut conn, generation) = self.master().await?;
                match conn.req_packed_command(cmd).await {
                    Err(e) if master_lost(&e) => {
                        self.lost(generation, &e);
                        // Refused unrun: safe to send to the new master; broken off: only
                        // when a repeat is harmless.
                        if (refused_unrun(&e) || resend_safe(cmd)) && std::mem::take(&mut again) {
                            tracing::info!(
                                refused = refused_unrun(&e),
                                "sending the command again to the master the sentinels name now"
                            );
                            continue;
                        }
                        return Err(e);
                    }
                    other => return other,
                }
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut again = true;
            loop {
                let (mut conn, generation) = self.master().await?;
                let answer = conn.req_packed_commands(pipeline, offset, count).await;
                let refused = match &answer {
                    Err(e) if master_lost(e) => {
                        self.lost(generation, e);
                        refused_unrun(e)
                    }
                    Ok(values) => match answered_unrun(values) {
                        Some(e) => {
                            self.lost(generation, &e);
                            true
                        }
                        None => false,
                    },
                    Err(_) => false,
                };
                // A node that is no master ran none of the pipeline's writes (a transaction
                // is discarded whole): the new master gets all of it once.
                if refused && std::mem::take(&mut again) {
                    tracing::info!(
                        "sending the pipeline again to the master the sentinels name now"
                    );
                    continue;
                }
                return answer;
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_sentinels_the_master_and_its_credentials() {
        let u = parse("redis+sentinel://:s3cr%40t@10.0.0.1:26379, 10.0.0.2:26379/mymaster/2")
            .expect("a sentinel URL")
            .expect("valid");
        assert_eq!(
            u.sentinels,
            ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"]
        );
        assert_eq!(u.master_name, "mymaster");
        assert_eq!(u.master.db(), 2);
        assert_eq!(u.master.password(), Some("s3cr@t"), "decoded");
        assert_eq!(u.sentinel.password(), None, "the sentinels asked without");
        let u = parse(
            "redis+sentinel://app:m%26p@10.0.0.1:26379,10.0.0.2:26379/mymaster?\
             sentinel_username=watch&sentinel_password=s%40p%3Dq",
        )
        .expect("a sentinel URL")
        .expect("valid");
        assert_eq!(u.master_name, "mymaster");
        assert_eq!(u.master.username(), Some("app"));
        assert_eq!(u.master.password(), Some("m&p"));
        assert_eq!(u.sentinel.username(), Some("watch"));
        assert_eq!(u.sentinel.password(), Some("s@p=q"));
        let u = parse("redis+sentinel://10.0.0.1:26379/m?sentinel_password=only")
            .expect("a sentinel URL")
            .expect("valid");
        assert_eq!(u.sentinel.password(), Some("only"));
        assert_eq!(u.master.password(), None);
        assert!(
            format!("{u:?}").find("only").is_none(),
            "no password in Debug"
        );
        assert!(parse("redis://127.0.0.1:6379/").is_none());
        assert!(parse("redis+cluster://127.0.0.1:7000").is_none());
    }

    #[test]
    fn a_url_without_master_name_or_sentinels_is_refused() {
        for url in [
            "redis+sentinel://127.0.0.1:26379",
            "redis+sentinel://127.0.0.1:26379/",
            "redis+sentinel:///mymaster",
            "redis+sentinel://127.0.0.1:26379/mymaster/x",
            "rediss+sentinel://127.0.0.1:26379/mymaster",
            "redis+sentinel://127.0.0.1:26379/mymaster?sentinel_pasword=x",
        ] {
            let e = parse(url).expect("a sentinel URL").expect_err(url);
            assert_eq!(e.kind(), ErrorKind::InvalidClientConfig, "{url}: {e}");
        }
    }
}
