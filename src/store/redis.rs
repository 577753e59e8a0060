//! The Redis Streams backend (R-Q-1, R-Q-4). Works with Redis 7+ and Valkey 8, standalone, behind
//! Redis Sentinel (`redis+sentinel://s1:p1,s2:p2,…/<master-name>`, following failovers: see
//! `sentinel.rs`), as a Redis Cluster (`redis+cluster://h1:p1,h2:p2,…`) or behind cluster
//! proxies: every script touches keys of one hash slot only (a stream and its markers share the
//! stream's name as hash tag).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Script, Value};

use super::sentinel::{self, SentinelConn};
use channels::intake::{Numbered, Numbering};

use super::{Entry, IndexEntry, StoreFailure};

const PREFIX: &str = "gw";

/// Run the command future `$op` on `$group` of `$stream`, creating the group first; when Redis
/// answers NOGROUP, create the group again and run it once more.
macro_rules! with_group {
    ($self:ident, $stream:expr, $group:expr, $op:expr) => {{
        $self.ensure_group($stream, $group).await?;
        match $op.await {
            Err(e) if e.code() == Some("NOGROUP") => {
                $self.recreate_group($stream, $group).await?;
                $op.await.map_err(StoreFailure::Redis)
            }
            other => other.map_err(StoreFailure::Redis),
        }
    }};
}

/// KEYS[1] the stream, KEYS[2] (optional) the marker of the report id; ARGV[1] the report id,
/// ARGV[2] the payload, ARGV[3] the marker's time to live (ms, 0: none), ARGV[4..] the stream's
/// groups. A group is (re)created at 0: after a loss, entries are handed out again rather than
/// skipped (at least once). Also sent whole (EVAL) in a commit's pipeline.
const APPEND_LUA: &str = r"if KEYS[2] then
                        local done = redis.call('GET', KEYS[2])
                        if done then return done end
                      end
                      for i = 4, #ARGV do
                        redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[i], '0', 'MKSTREAM')
                      end
                      local id = redis.call('XADD', KEYS[1], '*', 'report_id', ARGV[1], 'payload', ARGV[2])
                      if KEYS[2] then
                        if tonumber(ARGV[3]) > 0 then
                          redis.call('SET', KEYS[2], id, 'PX', ARGV[3])
                        else
                          redis.call('SET', KEYS[2], id)
                        end
                      end
                      return id";

/// KEYS: the index's scores and payloads; ARGV: member, score, payload.
const INDEX_PUT_LUA: &str = r"redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
                      redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
                      return 1";

/// KEYS: the index's scores and payloads; ARGV: the bound, the most entries removed.
const INDEX_TRIM_LUA: &str = r"local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1],
                        'LIMIT', 0, ARGV[2])
                      if #old > 0 then
                        redis.call('ZREM', KEYS[1], unpack(old))
                        redis.call('HDEL', KEYS[2], unpack(old))
                      end
                      return #old";

#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    groups: Arc<Mutex<Groups>>,
    scripts: Arc<Scripts>,
    options: Arc<RedisOptions>,
    /// When streams were last trimmed (monotonic; the trim itself reads Redis's clock).
    last_trim: Arc<Mutex<Option<tokio::time::Instant>>>,
}

/// One Redis (a `ConnectionManager`, reconnecting), the master named by Redis Sentinel
/// (`redis+sentinel://` URLs: asked again after a failover) or a Redis Cluster
/// (`redis+cluster://` URLs: commands routed by their key's slot; every script's keys share one
/// slot).
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Sentinel(SentinelConn),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The node URLs of a `redis+cluster://[user:password@]host:port,host:port,…` URL (`rediss+`
/// for TLS); none for any other URL.
fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.split_once("+cluster://")?;
    if scheme != "redis" && scheme != "rediss" {
        return None;
    }
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((auth, hosts)) => (format!("{auth}@"), hosts),
        None => (String::new(), rest),
    };
    Some(
        hosts
            .trim_end_matches('/')
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| format!("{scheme}://{auth}{h}"))
            .collect(),
    )
}

/// How the Redis backend makes writes durable and keeps its memory bounded (`[redis]`).
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// `WAIT replicas timeout` after every append and report change; fewer replicas reached
    /// is [`StoreFailure::NotReplicated`].
    pub wait: Option<(u32, Duration)>,
    /// Acknowledged entries older than this are trimmed from the streams.
    pub stream_retention: Option<Duration>,
    /// Report documents written through to files and expired from Redis after the duration.
    pub archive: Option<ReportArchive>,
    /// How long an append marker (`gw:{stream}:enqueued:<report id>`) lives; none: for ever.
    pub marker_ttl: Option<Duration>,
}

/// The durable file store of report documents: `<dir>/<last two characters of the id>/<id>.json`,
/// 0600, written whole (temporary file, fsync, rename, folder fsync).
#[derive(Debug, Clone)]
pub struct ReportArchive {
    pub dir: PathBuf,
    /// How long a report document stays in Redis after its last write.
    pub redis_ttl: Duration,
}

/// Streams are trimmed at most this often (from appends).
const TRIM_EVERY: Duration = Duration::from_secs(60);

/// Streams whose entries no consumer group tracks (none of this process's groups); trimmed by
/// retention alone, unless a group was made on them.
const UNGROUPED_STREAMS: [&str; 1] = [super::REJECTIONS_STREAM];

/// The consumer groups this process uses. Every append to a stream re-creates the stream's
/// groups that are missing (in the append's script), so a group lost with its stream (a `DEL`, a
/// restart without persistence) exists again with the next entry, before anyone claims it; a
/// claim that still meets NOGROUP (`XGROUP DESTROY`) re-creates the group and retries once.
#[derive(Default)]
struct Groups {
    /// stream → its groups.
    known: BTreeMap<String, BTreeSet<String>>,
    /// (stream, group) created (or found) since the last NOGROUP.
    created: HashSet<(String, String)>,
}

struct Scripts {
    append: Script,
    append_numbered: Script,
    reclaim: Script,
    trim: Script,
    cas: Script,
    incr: Script,
    sliding_admit: Script,
    index_put: Script,
    index_range: Script,
    index_remove: Script,
    index_trim: Script,
}

fn state_key(key: &str) -> String {
    format!("{PREFIX}:state:{key}")
}

fn report_key(id: &str) -> String {
    format!("{PREFIX}:report:{id}")
}

/// The sorted set (member → score) and the hash (member → payload) of a scored index; both in
/// the index's hash slot.
fn index_keys(index: &str) -> (String, String) {
    (
        format!("{PREFIX}:{{ix:{index}}}:scores"),
        format!("{PREFIX}:{{ix:{index}}}:payloads"),
    )
}

/// A counter of [`RedisStore::append_numbered`]; in the stream's hash slot.
fn counter_key(stream: &str, counter: &str) -> String {
    format!("{PREFIX}:{{{stream}}}:counter:{counter}")
}

/// The once marker of [`RedisStore::append_numbered`]; in the stream's hash slot.
fn once_key(stream: &str, key: &str) -> String {
    format!("{PREFIX}:{{{stream}}}:once:{key}")
}

/// Marks that `report_id` was appended to `stream`; in the stream's hash slot.
fn marker_key(stream: &str, report_id: &str) -> String {
    format!("{PREFIX}:{{{stream}}}:enqueued:{report_id}")
}

impl RedisStore {
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreFailure> {
        // A WAIT answers within its own timeout: the response timeout leaves room for it.
        let wait = options.wait.map_or(Duration::ZERO, |(_, t)| t);
        let conn = match cluster_nodes(url) {
            Some(nodes) => {
                if options.wait.is_some() {
                    // WAIT counts the replicas of the one node it reaches, not of the node
                    // that took the write.
                    return Err(StoreFailure::Redis(redis::RedisError::from((
                        redis::ErrorKind::InvalidClientConfig,
                        "redis.durability = \"replicas\" is not supported on a Redis Cluster",
                    ))));
                }
                let client = redis::cluster::ClusterClient::builder(nodes)
                    .connection_timeout(Duration::from_secs(5))
                    .response_timeout(Duration::from_secs(10))
                    .retries(3)
                    .build()?;
                Conn::Cluster(client.get_async_connection().await?)
            }
            None => {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(5)))
                    .set_response_timeout(Some(Duration::from_secs(10) + wait));
                match sentinel::parse(url) {
                    // A failed reconnection asks the sentinels again instead of retrying the
                    // old master.
                    Some(spec) => Conn::Sentinel(
                        SentinelConn::connect(spec?, config.set_number_of_retries(1)).await?,
                    ),
                    None => {
                        let client = redis::Client::open(url)?;
                        let config = config.set_number_of_retries(3);
                        Conn::Single(ConnectionManager::new_with_config(client, config).await?)
                    }
                }
            }
        };
        Ok(RedisStore {
            conn,
            groups: Arc::new(Mutex::new(Groups::default())),
            options: Arc::new(options),
            last_trim: Arc::new(Mutex::new(None)),
            scripts: Arc::new(Scripts {
                append: Script::new(APPEND_LUA),
                // KEYS[1] the stream, KEYS[2] the counter, KEYS[3] (optional) the once
                // marker, all in the stream's hash slot; ARGV[1] the payload (a JSON object
                // with fields), ARGV[2] the number's field, ARGV[3] the counter's lifetime
                // (ms), ARGV[4] the marker's lifetime (ms), ARGV[5..] the stream's groups.
                // The number is taken and the entry appended in one step: no number without
                // its entry. A script is not rolled back when a command fails, so the XADD
                // comes before any write: if it fails, nothing was written. Returns
                // {entry id, number, 1 when the marker was found}.
                append_numbered: Script::new(
                    r#"if KEYS[3] then
                        local done = redis.call('GET', KEYS[3])
                        if done then
                          local id, n = string.match(done, '^(%S+) (%d+)$')
                          if id then return {id, tonumber(n), 1} end
                        end
                      end
                      local n = (tonumber(redis.call('GET', KEYS[2]) or '0') or 0) + 1
                      local number = string.format('%d', n)
                      local p = string.sub(ARGV[1], 1, -2) .. ',"' .. ARGV[2] .. '":' .. number
                        .. '}'
                      for i = 5, #ARGV do
                        redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[i], '0', 'MKSTREAM')
                      end
                      local id = redis.call('XADD', KEYS[1], '*', 'report_id', '', 'payload', p)
                      redis.call('SET', KEYS[2], number, 'PX', ARGV[3])
                      if KEYS[3] then
                        redis.call('SET', KEYS[3], id .. ' ' .. number, 'PX', ARGV[4])
                      end
                      return {id, n, 0}"#,
                ),
                // KEYS[1] the stream; ARGV: group, consumer, min idle (ms), count. XAUTOCLAIM
                // counts one more delivery of each entry it hands out; XPENDING reads that
                // count. Returns {id, fields, times delivered} per entry (deleted entries,
                // answered without fields, are left out).
                reclaim: Script::new(
                    r"local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0',
                        'COUNT', ARGV[4])
                      local out = {}
                      for _, e in ipairs(r[2]) do
                        if e and e[2] then
                          local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
                          local n = 1
                          if p[1] then n = p[1][4] end
                          out[#out + 1] = {e[1], e[2], n}
                        end
                      end
                      return out",
                ),
                // KEYS[1] the stream; ARGV[1] the retention (ms). Trims (XTRIM MINID) entries
                // older than the retention by Redis's clock, but never the oldest entry still
                // pending in a group nor any entry after a group's last delivered one.
                trim: Script::new(
                    r"local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
                      if type(groups) ~= 'table' or groups.err then return 0 end
                      local t = redis.call('TIME')
                      local min_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
                        - tonumber(ARGV[1])
                      local min_seq = 0
                      local function keep(ms, seq)
                        ms, seq = tonumber(ms), tonumber(seq)
                        if ms < min_ms or (ms == min_ms and seq < min_seq) then
                          min_ms, min_seq = ms, seq
                        end
                      end
                      for _, g in ipairs(groups) do
                        local name, last, pending
                        for i = 1, #g, 2 do
                          if g[i] == 'name' then name = g[i + 1]
                          elseif g[i] == 'last-delivered-id' then last = g[i + 1]
                          elseif g[i] == 'pending' then pending = g[i + 1] end
                        end
                        if name and tonumber(pending or 0) > 0 then
                          local p = redis.call('XPENDING', KEYS[1], name)
                          if p[2] then
                            local ms, seq = string.match(p[2], '^(%d+)-(%d+)$')
                            if ms then keep(ms, seq) end
                          end
                        end
                        local ms, seq = string.match(last or '0-0', '^(%d+)-(%d+)$')
                        if ms then keep(ms, tonumber(seq) + 1) end
                      end
                      if min_ms <= 0 then return 0 end
                      return redis.call('XTRIM', KEYS[1], 'MINID',
                        string.format('%d-%d', min_ms, min_seq))",
                ),
                cas: Script::new(
                    r"local cur = redis.call('GET', KEYS[1])
                      if ARGV[1] == '1' then
                        if cur ~= ARGV[2] then return 0 end
                      elseif cur then return 0 end
                      if ARGV[3] == '1' then
                        if tonumber(ARGV[5]) > 0 then
                          redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
                        else
                          redis.call('SET', KEYS[1], ARGV[4])
                        end
                      else
                        redis.call('DEL', KEYS[1])
                      end
                      return 1",
                ),
                incr: Script::new(
                    r"local n = redis.call('INCR', KEYS[1])
                      if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
                      return n",
                ),
                // KEYS[1] the current window's counter, KEYS[2] the previous one's, KEYS[3]
                // (optional) the submission's seen marker (one hash slot: the caller tags
                // them); ARGV[1] the previous window's weight (ppm), ARGV[2] the limit,
                // ARGV[3] the counter's time to live (ms), ARGV[4] the marker's.
                sliding_admit: Script::new(
                    r"local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
                      local prev = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
                      if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then
                        return {1, cur, prev, 1}
                      end
                      local estimate = prev * tonumber(ARGV[1]) / 1000000 + cur
                      if estimate + 1 > tonumber(ARGV[2]) then return {0, cur, prev, 0} end
                      cur = redis.call('INCR', KEYS[1])
                      if cur == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
                      if KEYS[3] then redis.call('SET', KEYS[3], '1', 'PX', ARGV[4]) end
                      return {1, cur, prev, 0}",
                ),
                index_put: Script::new(INDEX_PUT_LUA),
                index_range: Script::new(
                    r"local found = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[1],
                        'WITHSCORES', 'LIMIT', 0, ARGV[3])
                      local out = {}
                      for i = 1, #found, 2 do
                        local payload = redis.call('HGET', KEYS[2], found[i])
                        if payload then
                          out[#out + 1] = found[i]
                          out[#out + 1] = found[i + 1]
                          out[#out + 1] = payload
                        end
                      end
                      return out",
                ),
                index_remove: Script::new(
                    r"local n = redis.call('ZREM', KEYS[1], ARGV[1])
                      redis.call('HDEL', KEYS[2], ARGV[1])
                      return n",
                ),
                index_trim: Script::new(INDEX_TRIM_LUA),
            }),
        })
    }

    fn conn(&self) -> Conn {
        self.conn.clone()
    }

    pub async fn ping(&self) -> Result<(), StoreFailure> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn()).await?;
        Ok(())
    }

    // --- state ---------------------------------------------------------------------------

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFailure> {
        redis::cmd("GET")
            .arg(state_key(key))
            .query_async(&mut self.conn())
            .await
            .map_err(StoreFailure::Redis)
    }

    pub async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreFailure> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(state_key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        cmd.query_async::<()>(&mut self.conn())
            .await
            .map_err(StoreFailure::Redis)
    }

    pub async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreFailure> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(state_key(key)).arg(value).arg("NX");
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        let set: Option<String> = cmd.query_async(&mut self.conn()).await?;
        Ok(set.is_some())
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreFailure> {
        let swapped: i64 = self
            .scripts
            .cas
            .key(state_key(key))
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(if new.is_some() { "1" } else { "0" })
            .arg(new.unwrap_or_default())
            .arg(ttl.map_or(0, |d| d.as_millis().max(1) as u64))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(swapped == 1)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreFailure> {
        redis::cmd("DEL")
            .arg(state_key(key))
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(StoreFailure::Redis)
    }

    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreFailure> {
        self.scripts
            .incr
            .key(state_key(key))
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreFailure::Redis)
    }

    /// See [`super::Store::sliding_admit`]: one script.
    pub async fn sliding_admit(
        &self,
        current: &str,
        previous: &str,
        weight_ppm: u32,
        limit: i64,
        ttl: Duration,
        seen: Option<(&str, Duration)>,
    ) -> Result<super::SlidingCount, StoreFailure> {
        let mut invocation = self.scripts.sliding_admit.key(state_key(current));
        invocation
            .key(state_key(previous))
            .arg(weight_ppm)
            .arg(limit)
            .arg(ttl.as_millis().max(1) as u64);
        if let Some((marker, marker_ttl)) = seen {
            invocation
                .key(state_key(marker))
                .arg(marker_ttl.as_millis().max(1) as u64);
        }
        let (admitted, current, previous, repeat): (i64, i64, i64, i64) = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreFailure::Redis)?;
        Ok(super::SlidingCount {
            admitted: admitted == 1,
            current,
            previous,
            repeat: repeat == 1,
        })
    }

    // --- reports -------------------------------------------------------------------------

    pub async fn put_report_if_absent(&self, id: &str, json: &[u8]) -> Result<(), StoreFailure> {
        let Some(archive) = &self.options.archive else {
            return redis::cmd("SET")
                .arg(report_key(id))
                .arg(json)
                .arg("NX")
                .query_async::<Option<String>>(&mut self.conn())
                .await
                .map_err(StoreFailure::Redis)
                .map(|_| ());
        };
        // Archived already (and maybe expired from Redis): the first write won long ago.
        if archive.read(id).await?.is_some() {
            return Ok(());
        }
        let earlier: Option<Vec<u8>> = redis::cmd("SET")
            .arg(report_key(id))
            .arg(json)
            .arg("NX")
            .arg("GET")
            .arg("PX")
            .arg(archive.ttl_ms())
            .query_async(&mut self.conn())
            .await?;
        // The winner goes to the archive: this write, or the earlier one whose archiving a
        // crash may have interrupted.
        archive.write(id, earlier.as_deref().unwrap_or(json)).await
    }

    /// See [`super::Store::commit_report`]. The binding first (`SET NX GET`: nothing else is
    /// written when another id holds it); the document in the archive (when there is one);
    /// then the records in one pipeline (commands of one connection run in order; on a
    /// cluster, whose keys live on several nodes, one command after the other), `WAIT`, and
    /// only after all of them succeeded the binding marked committed.
    pub async fn commit_report(
        &self,
        c: &super::ReportCommit,
    ) -> Result<super::Committed, StoreFailure> {
        use super::{Binding, Committed};
        let mut bind = redis::cmd("SET");
        bind.arg(state_key(&c.binding))
            .arg(&c.id)
            .arg("NX")
            .arg("GET");
        if let Some(ttl) = c.binding_ttl {
            bind.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        let earlier: Option<Vec<u8>> = bind.query_async(&mut self.conn()).await?;
        if let Some(earlier) = earlier {
            let bound = Binding::parse(&earlier);
            if bound.id != c.id {
                return Ok(Committed::BoundElsewhere(bound));
            }
            // Bound to this id before (an interrupted commit): its document may be stored.
            if let Some(document) = self.get_report(&c.id).await? {
                return Ok(Committed::Earlier { document });
            }
        }
        if let Some(archive) = &self.options.archive {
            archive.write(&c.id, &c.document).await?;
        }
        let groups: Vec<String> = self
            .lock_groups()
            .known
            .get(c.stream)
            .map(|g| g.iter().cloned().collect())
            .unwrap_or_default();
        let mut pipe = redis::pipe();
        let report = pipe
            .cmd("SET")
            .arg(report_key(&c.id))
            .arg(&c.document)
            .arg("NX");
        if let Some(archive) = &self.options.archive {
            report.arg("PX").arg(archive.ttl_ms());
        }
        let append = pipe
            .cmd("EVAL")
            .arg(APPEND_LUA)
            .arg(2)
            .arg(c.stream)
            .arg(marker_key(c.stream, &c.id))
            .arg(&c.id)
            .arg(&c.document)
            .arg(
                self.options
                    .marker_ttl
                    .map_or(0, |t| t.as_millis().max(1) as u64),
            );
        for group in &groups {
            append.arg(group);
        }
        for (key, value) in &c.state {
            pipe.cmd("SET").arg(state_key(key)).arg(value);
        }
        for put in &c.index {
            let (scores, payloads) = index_keys(put.index);
            pipe.cmd("EVAL")
                .arg(INDEX_PUT_LUA)
                .arg(2)
                .arg(scores)
                .arg(payloads)
                .arg(&put.member)
                .arg(put.score)
                .arg(&put.payload);
        }
        for (index, below) in &c.trims {
            let (scores, payloads) = index_keys(index);
            pipe.cmd("EVAL")
                .arg(INDEX_TRIM_LUA)
                .arg(2)
                .arg(scores)
                .arg(payloads)
                .arg(*below)
                .arg(super::INDEX_TRIM_BATCH);
        }
        // Any command's error fails the whole call; every command is idempotent, so the retry
        // (the repeat path, the binding not being marked) completes what ran.
        if matches!(self.conn, Conn::Cluster(_)) {
            // The keys live on several nodes: each command in turn, in order.
            for cmd in pipe.cmd_iter() {
                cmd.query_async::<Value>(&mut self.conn()).await?;
            }
            self.wait_replicas().await?;
        } else {
            let waited = self.push_wait(&mut pipe);
            let values: Vec<Value> = pipe.query_async(&mut self.conn()).await?;
            if waited {
                let reached = match values.last() {
                    Some(Value::Int(n)) => *n,
                    _ => 0,
                };
                self.check_waited(reached)?;
            }
        }
        crate::failpoint::hit("after_report");
        self.mark_committed(&c.binding, &c.id).await?;
        self.trim_if_due();
        Ok(Committed::Stored {
            document: c.document.clone(),
        })
    }

    /// See [`super::Store::mark_committed`]: `SET … XX KEEPTTL` (a binding never changes its
    /// id, the first one wins; an expired one is not brought back).
    pub async fn mark_committed(&self, binding: &str, id: &str) -> Result<(), StoreFailure> {
        redis::cmd("SET")
            .arg(state_key(binding))
            .arg(super::Binding::committed_value(id))
            .arg("XX")
            .arg("KEEPTTL")
            .query_async::<Option<String>>(&mut self.conn())
            .await?;
        Ok(())
    }

    pub async fn replace_report(&self, id: &str, json: &[u8]) -> Result<(), StoreFailure> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(report_key(id)).arg(json);
        if let Some(archive) = &self.options.archive {
            archive.write(id, json).await?;
            cmd.arg("PX").arg(archive.ttl_ms());
        }
        let mut pipe = redis::pipe();
        pipe.add_command(cmd);
        if self.push_wait(&mut pipe) {
            let (_, reached): (Value, i64) = pipe.query_async(&mut self.conn()).await?;
            return self.check_waited(reached);
        }
        pipe.query_async::<Vec<Value>>(&mut self.conn()).await?;
        Ok(())
    }

    /// Every stored report's id: the documents in Redis (SCAN; on a cluster, those of the node
    /// the command reaches) and those in the archive (every report, when one is configured).
    pub async fn report_ids(&self) -> Result<Vec<String>, StoreFailure> {
        let mut ids = std::collections::BTreeSet::new();
        let prefix = report_key("");
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut self.conn())
                .await?;
            ids.extend(
                keys.into_iter()
                    .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string)),
            );
            if next == 0 {
                break;
            }
            cursor = next;
        }
        if let Some(archive) = &self.options.archive {
            let dir = archive.dir.clone();
            let archived = tokio::task::spawn_blocking(move || archived_ids(&dir)).await??;
            ids.extend(archived);
        }
        Ok(ids.into_iter().collect())
    }

    /// The document in Redis, else (expired) in the archive.
    pub async fn get_report(&self, id: &str) -> Result<Option<Vec<u8>>, StoreFailure> {
        let live: Option<Vec<u8>> = redis::cmd("GET")
            .arg(report_key(id))
            .query_async(&mut self.conn())
            .await?;
        match (live, &self.options.archive) {
            (Some(doc), _) => Ok(Some(doc)),
            (None, Some(archive)) => archive.read(id).await,
            (None, None) => Ok(None),
        }
    }

    /// A page of report documents. With an archive, its files are the complete set (every
    /// write goes through them, and Redis copies expire): the folders in name order, the ids
    /// in a folder in order, the cursor `folder/last id`. Without, `SCAN` over the report keys
    /// (the cursor is SCAN's; a page may hold more or fewer than `count`); on a Redis Cluster
    /// that needs an archive (SCAN covers one node).
    pub async fn scan_reports(
        &self,
        cursor: Option<&str>,
        count: usize,
    ) -> Result<super::ReportPage, StoreFailure> {
        if let Some(archive) = &self.options.archive {
            return archive.scan(cursor, count).await;
        }
        if matches!(self.conn, Conn::Cluster(_)) {
            return Err(StoreFailure::Unsupported(
                "reading every report of a Redis Cluster needs the report archive (redis.archive_reports)",
            ));
        }
        let (next, keys): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor.unwrap_or("0"))
            .arg("MATCH")
            .arg(report_key("*"))
            .arg("COUNT")
            .arg(count.max(1))
            .query_async(&mut self.conn())
            .await?;
        let mut documents = Vec::with_capacity(keys.len());
        if !keys.is_empty() {
            let docs: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut self.conn())
                .await?;
            // A key deleted between SCAN and MGET is simply gone.
            documents.extend(docs.into_iter().flatten());
        }
        Ok(super::ReportPage {
            documents,
            next: (next != "0").then_some(next),
        })
    }

    /// With `durability = "replicas"`: `WAIT` appended to the pipeline that made the writes, so
    /// it runs on the very connection that carried them. A separate `WAIT` could run on a new
    /// connection (the manager reconnected, or Sentinel moved to a new master) that carries none
    /// of the writes and answers at once. Returns whether a `WAIT` was added (its answer is the
    /// pipeline's last value, for [`Self::check_waited`]).
    fn push_wait(&self, pipe: &mut redis::Pipeline) -> bool {
        let Some((wanted, timeout)) = self.options.wait else {
            return false;
        };
        pipe.cmd("WAIT")
            .arg(wanted)
            .arg(timeout.as_millis().max(1) as u64);
        true
    }

    /// The answer of a `WAIT` added by [`Self::push_wait`]: the replicas it reached.
    fn check_waited(&self, reached: i64) -> Result<(), StoreFailure> {
        let Some((wanted, _)) = self.options.wait else {
            return Ok(());
        };
        if reached < i64::from(wanted) {
            return Err(StoreFailure::NotReplicated {
                reached: reached.max(0) as u32,
                wanted,
            });
        }
        Ok(())
    }

    /// With `durability = "replicas"`: wait until the configured replicas have every write of
    /// this connection so far; fewer is a failure (the caller acknowledges nothing). Only for
    /// writes that cannot share a pipeline with their `WAIT` ([`Self::push_wait`]).
    async fn wait_replicas(&self) -> Result<(), StoreFailure> {
        let Some((wanted, timeout)) = self.options.wait else {
            return Ok(());
        };
        let reached: i64 = redis::cmd("WAIT")
            .arg(wanted)
            .arg(timeout.as_millis().max(1) as u64)
            .query_async(&mut self.conn())
            .await?;
        if reached < i64::from(wanted) {
            return Err(StoreFailure::NotReplicated {
                reached: reached.max(0) as u32,
                wanted,
            });
        }
        Ok(())
    }

    /// Trim every stream this process knows (and the rejections) in the background when the
    /// last trim is older than [`TRIM_EVERY`]; a failure is logged, a later append tries again.
    fn trim_if_due(&self) {
        if self.options.stream_retention.is_none() {
            return;
        }
        let now = tokio::time::Instant::now();
        {
            let mut last = self.last_trim.lock().expect("not poisoned");
            if last.is_some_and(|t| now.duration_since(t) < TRIM_EVERY) {
                return;
            }
            *last = Some(now);
        }
        let store = self.clone();
        tokio::spawn(async move {
            if let Err(e) = store.trim_streams().await {
                tracing::warn!(error = %e, "trimming the streams failed");
            }
        });
    }

    /// Trim acknowledged entries older than the stream retention from every stream this process
    /// knows and the rejections; returns how many entries were removed.
    pub async fn trim_streams(&self) -> Result<u64, StoreFailure> {
        let Some(retention) = self.options.stream_retention else {
            return Ok(0);
        };
        let mut streams: BTreeSet<String> = self.lock_groups().known.keys().cloned().collect();
        streams.extend(UNGROUPED_STREAMS.iter().map(|s| s.to_string()));
        let mut removed = 0u64;
        for stream in streams {
            let n: i64 = self
                .scripts
                .trim
                .key(&stream)
                .arg(retention.as_millis() as u64)
                .invoke_async(&mut self.conn())
                .await?;
            removed += n.max(0) as u64;
        }
        if removed > 0 {
            tracing::info!(
                removed,
                "acknowledged stream entries past retention trimmed"
            );
        }
        Ok(removed)
    }

    // --- streams -------------------------------------------------------------------------

    pub async fn append(
        &self,
        stream: &str,
        dedup: Option<&str>,
        payload: &[u8],
    ) -> Result<String, StoreFailure> {
        let groups: Vec<String> = self
            .lock_groups()
            .known
            .get(stream)
            .map(|g| g.iter().cloned().collect())
            .unwrap_or_default();
        let marker_ttl = self
            .options
            .marker_ttl
            .map_or(0, |t| t.as_millis().max(1) as u64);
        if self.options.wait.is_some() {
            // The script and its WAIT in one pipeline, on one connection (`push_wait`).
            let mut pipe = redis::pipe();
            let eval = pipe
                .cmd("EVAL")
                .arg(APPEND_LUA)
                .arg(if dedup.is_some() { 2 } else { 1 })
                .arg(stream);
            if let Some(report_id) = dedup {
                eval.arg(marker_key(stream, report_id));
            }
            eval.arg(dedup.unwrap_or_default())
                .arg(payload)
                .arg(marker_ttl);
            for group in &groups {
                eval.arg(group);
            }
            self.push_wait(&mut pipe);
            let (id, reached): (String, i64) = pipe.query_async(&mut self.conn()).await?;
            self.check_waited(reached)?;
            self.trim_if_due();
            return Ok(id);
        }
        let mut invocation = self.scripts.append.key(stream);
        if let Some(report_id) = dedup {
            invocation.key(marker_key(stream, report_id));
        }
        invocation
            .arg(dedup.unwrap_or_default())
            .arg(payload)
            .arg(marker_ttl);
        for group in &groups {
            invocation.arg(group);
        }
        let id: String = invocation.invoke_async(&mut self.conn()).await?;
        self.trim_if_due();
        Ok(id)
    }

    /// See [`super::Store::append_numbered`]: one script (marker, INCR, XADD).
    pub async fn append_numbered(
        &self,
        stream: &str,
        numbering: &Numbering,
        payload: &[u8],
    ) -> Result<Numbered, StoreFailure> {
        let groups: Vec<String> = self
            .lock_groups()
            .known
            .get(stream)
            .map(|g| g.iter().cloned().collect())
            .unwrap_or_default();
        let mut invocation = self.scripts.append_numbered.key(stream);
        invocation.key(counter_key(stream, &numbering.counter));
        let once_ttl = match &numbering.once {
            Some((key, ttl)) => {
                invocation.key(once_key(stream, key));
                *ttl
            }
            None => Duration::ZERO,
        };
        invocation
            .arg(payload)
            .arg(numbering.field)
            .arg(numbering.counter_ttl.as_millis().max(1) as u64)
            .arg(once_ttl.as_millis().max(1) as u64);
        for group in &groups {
            invocation.arg(group);
        }
        let (entry_id, number, repeated): (String, u64, u8) = if self.options.wait.is_some() {
            // The script and its WAIT in one pipeline, on one connection (`push_wait`).
            let mut pipe = redis::pipe();
            pipe.load_script(&self.scripts.append_numbered).ignore();
            pipe.invoke_script(&invocation);
            self.push_wait(&mut pipe);
            let (numbered, reached): ((String, u64, u8), i64) =
                pipe.query_async(&mut self.conn()).await?;
            self.check_waited(reached)?;
            numbered
        } else {
            invocation.invoke_async(&mut self.conn()).await?
        };
        if repeated == 0 {
            self.trim_if_due();
        }
        Ok(Numbered {
            entry_id,
            number,
            repeated: repeated != 0,
        })
    }

    fn lock_groups(&self) -> std::sync::MutexGuard<'_, Groups> {
        self.groups.lock().expect("not poisoned")
    }

    /// Create these consumer groups now (a fresh deployment: the IOC can `XREADGROUP` before
    /// the gateway ever claimed), and keep them: appends re-create them when lost.
    pub async fn ensure_groups(&self, groups: &[(&str, &str)]) -> Result<(), StoreFailure> {
        for (stream, group) in groups {
            self.ensure_group(stream, group).await?;
        }
        Ok(())
    }

    async fn ensure_group(&self, stream: &str, group: &str) -> Result<(), StoreFailure> {
        let k = (stream.to_string(), group.to_string());
        {
            let mut groups = self.lock_groups();
            groups
                .known
                .entry(k.0.clone())
                .or_default()
                .insert(k.1.clone());
            if groups.created.contains(&k) {
                return Ok(());
            }
        }
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.conn())
            .await;
        match created {
            Ok(()) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(e.into()),
        }
        self.lock_groups().created.insert(k);
        Ok(())
    }

    /// After NOGROUP (the group or the stream was deleted, or Redis restarted without
    /// persistence): create the group again.
    async fn recreate_group(&self, stream: &str, group: &str) -> Result<(), StoreFailure> {
        tracing::warn!(stream, group, "consumer group lost: creating it again");
        self.lock_groups()
            .created
            .remove(&(stream.to_string(), group.to_string()));
        self.ensure_group(stream, group).await
    }

    pub async fn claim(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        max: usize,
        min_idle: Duration,
    ) -> Result<Vec<Entry>, StoreFailure> {
        with_group!(
            self,
            stream,
            group,
            self.claim_once(stream, group, consumer, max, min_idle)
        )
    }

    async fn claim_once(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        max: usize,
        min_idle: Duration,
    ) -> Result<Vec<Entry>, redis::RedisError> {
        let mut out = Vec::new();
        let reclaimed: Vec<Value> = self
            .scripts
            .reclaim
            .key(stream)
            .arg(group)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(max)
            .invoke_async(&mut self.conn())
            .await?;
        for item in &reclaimed {
            let Value::Array(parts) = item else { continue };
            let [id, fields, times] = parts.as_slice() else {
                continue;
            };
            // The count includes this delivery; `deliveries` counts the ones before it.
            let times = as_u64(times).unwrap_or(1);
            out.extend(entry_of(id, fields, times.saturating_sub(1)));
        }
        if out.len() < max {
            let fresh: Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(group)
                .arg(consumer)
                .arg("COUNT")
                .arg(max - out.len())
                .arg("STREAMS")
                .arg(stream)
                .arg(">")
                .query_async(&mut self.conn())
                .await?;
            match fresh {
                Value::Array(streams) => {
                    for s in streams {
                        if let Value::Array(pair) = s {
                            if let Some(entries) = pair.get(1) {
                                out.extend(parse_entries(entries, 0));
                            }
                        }
                    }
                }
                Value::Map(streams) => {
                    for (_, entries) in streams {
                        out.extend(parse_entries(&entries, 0));
                    }
                }
                _ => {}
            }
        }
        out.truncate(max);
        Ok(out)
    }

    pub async fn ack(
        &self,
        stream: &str,
        group: &str,
        entry_id: &str,
    ) -> Result<bool, StoreFailure> {
        if !is_stream_id(entry_id) {
            return Ok(false);
        }
        let n: i64 = with_group!(
            self,
            stream,
            group,
            redis::cmd("XACK")
                .arg(stream)
                .arg(group)
                .arg(entry_id)
                .query_async(&mut self.conn())
        )?;
        Ok(n > 0)
    }

    pub async fn pending(
        &self,
        stream: &str,
        group: &str,
        max: usize,
    ) -> Result<Vec<super::PendingEntry>, StoreFailure> {
        let listed: Value = with_group!(
            self,
            stream,
            group,
            redis::cmd("XPENDING")
                .arg(stream)
                .arg(group)
                .arg("-")
                .arg("+")
                .arg(max)
                .query_async(&mut self.conn())
        )?;
        let Value::Array(items) = listed else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in &items {
            let Value::Array(parts) = item else { continue };
            let [id, consumer, idle, times] = parts.as_slice() else {
                continue;
            };
            let (Some(id), Some(consumer)) = (as_string(id), as_string(consumer)) else {
                continue;
            };
            let found: Value = redis::cmd("XRANGE")
                .arg(stream)
                .arg(&id)
                .arg(&id)
                .query_async(&mut self.conn())
                .await?;
            let times = as_u64(times).unwrap_or(1);
            let Some(entry) = parse_entries(&found, times.saturating_sub(1))
                .into_iter()
                .next()
            else {
                continue;
            };
            out.push(super::PendingEntry {
                entry,
                consumer,
                idle: Duration::from_millis(as_u64(idle).unwrap_or(0)),
            });
        }
        Ok(out)
    }

    /// (length, pending, undelivered) without creating anything: a stream that does not exist
    /// is empty, and a group that does not exist has been handed nothing.
    pub async fn depth(&self, stream: &str, group: &str) -> Result<(u64, u64, u64), StoreFailure> {
        let len: u64 = redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut self.conn())
            .await?;
        let groups: Result<Value, redis::RedisError> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(stream)
            .query_async(&mut self.conn())
            .await;
        let groups = match groups {
            Ok(groups) => groups,
            // "no such key": the stream does not exist.
            Err(_) if len == 0 => return Ok((0, 0, 0)),
            Err(e) => return Err(e.into()),
        };
        let (mut pending, mut lag) = (0, len);
        if let Value::Array(groups) = groups {
            for g in groups {
                let fields = to_pairs(&g);
                if fields
                    .iter()
                    .any(|(k, v)| k == "name" && as_string(v).as_deref() == Some(group))
                {
                    for (k, v) in &fields {
                        match k.as_str() {
                            "pending" => pending = as_u64(v).unwrap_or(0),
                            "lag" => lag = as_u64(v).unwrap_or(0),
                            _ => {}
                        }
                    }
                }
            }
        }
        Ok((len, pending, lag))
    }

    // --- scored indexes ------------------------------------------------------------------

    pub async fn index_put(
        &self,
        index: &str,
        member: &str,
        score: i64,
        payload: &[u8],
    ) -> Result<(), StoreFailure> {
        let (scores, payloads) = index_keys(index);
        self.scripts
            .index_put
            .key(scores)
            .key(payloads)
            .arg(member)
            .arg(score)
            .arg(payload)
            .invoke_async::<i64>(&mut self.conn())
            .await
            .map(|_| ())
            .map_err(StoreFailure::Redis)
    }

    pub async fn index_range(
        &self,
        index: &str,
        min: i64,
        max: i64,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreFailure> {
        if min > max || limit == 0 {
            return Ok(Vec::new());
        }
        let (scores, payloads) = index_keys(index);
        let flat: Vec<Value> = self
            .scripts
            .index_range
            .key(scores)
            .key(payloads)
            .arg(min)
            .arg(max)
            .arg(limit)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(flat
            .chunks(3)
            .filter_map(|c| match c {
                [member, score, payload] => Some(IndexEntry {
                    member: as_string(member)?,
                    score: as_string(score)?.parse::<f64>().ok()? as i64,
                    payload: as_bytes(payload)?,
                }),
                _ => None,
            })
            .collect())
    }

    pub async fn index_remove(&self, index: &str, member: &str) -> Result<bool, StoreFailure> {
        let (scores, payloads) = index_keys(index);
        let n: i64 = self
            .scripts
            .index_remove
            .key(scores)
            .key(payloads)
            .arg(member)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(n > 0)
    }

    pub async fn index_trim(&self, index: &str, below: i64) -> Result<u64, StoreFailure> {
        let (scores, payloads) = index_keys(index);
        let n: i64 = self
            .scripts
            .index_trim
            .key(scores)
            .key(payloads)
            .arg(below)
            .arg(super::INDEX_TRIM_BATCH)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(n.max(0) as u64)
    }
}

impl ReportArchive {
    fn ttl_ms(&self) -> u64 {
        self.redis_ttl.as_millis().max(1) as u64
    }

    /// The file of report `id`; none for an id that is no report id (it comes from a URL).
    fn path(&self, id: &str) -> Option<PathBuf> {
        let valid = (2..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
        valid.then(|| {
            self.dir
                .join(&id[id.len() - 2..])
                .join(format!("{id}.json"))
        })
    }

    async fn read(&self, id: &str) -> Result<Option<Vec<u8>>, StoreFailure> {
        let Some(path) = self.path(id) else {
            return Ok(None);
        };
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Up to `count` archived documents after `cursor` (`folder/last id`); see
    /// [`RedisStore::scan_reports`].
    async fn scan(
        &self,
        cursor: Option<&str>,
        count: usize,
    ) -> Result<super::ReportPage, StoreFailure> {
        let dir = self.dir.clone();
        let cursor = cursor.map(str::to_string);
        let count = count.max(1);
        let page = tokio::task::spawn_blocking(move || -> std::io::Result<super::ReportPage> {
            let (from_folder, after_id) = match cursor.as_deref().and_then(|c| c.split_once('/')) {
                Some((f, id)) => (Some(f.to_string()), Some(id.to_string())),
                None => (None, None),
            };
            let mut folders = match std::fs::read_dir(&dir) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect::<Vec<_>>(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e),
            };
            folders.sort();
            let mut documents = Vec::new();
            for folder in folders {
                if from_folder.as_ref().is_some_and(|f| folder < *f) {
                    continue;
                }
                let mut ids: Vec<String> = std::fs::read_dir(dir.join(&folder))?
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
                    .filter(|id| !id.starts_with('.'))
                    .collect();
                ids.sort();
                for id in ids {
                    let same_folder = from_folder.as_deref() == Some(folder.as_str());
                    if same_folder && after_id.as_ref().is_some_and(|a| id <= *a) {
                        continue;
                    }
                    match std::fs::read(dir.join(&folder).join(format!("{id}.json"))) {
                        Ok(bytes) => documents.push(bytes),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    }
                    if documents.len() >= count {
                        return Ok(super::ReportPage {
                            documents,
                            next: Some(format!("{folder}/{id}")),
                        });
                    }
                }
            }
            Ok(super::ReportPage {
                documents,
                next: None,
            })
        })
        .await??;
        Ok(page)
    }

    async fn write(&self, id: &str, json: &[u8]) -> Result<(), StoreFailure> {
        let path = self.path(id).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a report id")
        })?;
        let json = json.to_vec();
        tokio::task::spawn_blocking(move || write_whole(&path, &json)).await??;
        Ok(())
    }
}

/// The ids of the archived report documents (`<dir>/<xx>/<id>.json`); none when the folder does
/// not exist yet.
fn archived_ids(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut ids = Vec::new();
    let shards = match std::fs::read_dir(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(e),
    };
    for shard in shards {
        let shard = shard?;
        if !shard.file_type()?.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(shard.path())? {
            let name = file?.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_suffix(".json") {
                if !id.starts_with('.') && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    ids.push(id.to_string());
                }
            }
        }
    }
    Ok(ids)
}

/// Write `bytes` to `path` whole or not at all, readable by the gateway's user only: a
/// temporary file of its own, flushed, renamed over `path`, the folder flushed.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("report"),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let written = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn is_stream_id(id: &str) -> bool {
    let mut parts = id.split('-');
    let ok =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

fn parse_entries(v: &Value, deliveries: u64) -> Vec<Entry> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::Array(pair) => match pair.as_slice() {
                [id, fields, ..] => entry_of(id, fields, deliveries),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// An entry from its id and its field list (`report_id`, `payload`).
fn entry_of(id: &Value, fields: &Value, deliveries: u64) -> Option<Entry> {
    let entry_id = as_string(id)?;
    let payload = to_pairs(fields)
        .into_iter()
        .find(|(k, _)| k == "payload")
        .and_then(|(_, v)| as_bytes(&v))?;
    Some(Entry {
        entry_id,
        payload,
        deliveries,
    })
}

fn to_pairs(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Array(flat) => flat
            .chunks(2)
            .filter_map(|c| match c {
                [k, v] => as_string(k).map(|k| (k, v.clone())),
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| as_string(k).map(|k| (k, v.clone())))
            .collect(),
        _ => Vec::new(),
    }
}

fn as_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.clone().into_bytes()),
        _ => None,
    }
}

fn as_string(v: &Value) -> Option<String> {
    as_bytes(v).and_then(|b| String::from_utf8(b).ok())
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => as_string(other).and_then(|s| s.parse().ok()),
    }
}
