//! Intake rate limits (R-SEC-4) as the channels see them: whom a submission counts against and
//! the gateway's answer. The counting itself (shared counters in the store, keyed digests,
//! windows, metrics) is the gateway's, reached through [`Intake::admit`](crate::Intake::admit).
//!
//! Also the client address of an HTTP request ([`ClientIp`]), read from the connection or, behind
//! a trusted reverse proxy ([`TrustedProxies`]), from `X-Forwarded-For`.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use normalizers::identity::Identity;
use normalizers::report::Channel;

/// What a limit counts per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// One citizen: a phone number, an email address, a Zalo or app account.
    Sender,
    /// One source address: the client IP of an HTTP request, the sending domain of an email
    /// whose sender does not authenticate.
    Source,
    /// One API client (an API key).
    Client,
}

impl LimitKind {
    /// The metric label (`sender`, `source`, `client`).
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Sender => "sender",
            LimitKind::Source => "source",
            LimitKind::Client => "client",
        }
    }
}

/// Whom one submission counts against. The values are in clear only here, in memory: the
/// gateway keys its counters by keyed digests and never stores or logs them.
#[derive(Debug, Clone, Default)]
pub struct Subjects {
    /// Every identity of the sender (phone, email, channel account): each has its own counter.
    pub senders: Vec<Identity>,
    /// The source address (an IP address, or an email domain).
    pub source: Option<String>,
    /// The API client that relayed the submission.
    pub client: Option<String>,
}

/// One submission about to be ingested.
#[derive(Debug, Clone)]
pub struct AdmitRequest<'a> {
    pub channel: Channel,
    /// The submission's de-duplication key: a repeat of a submission already taken (a retry
    /// after a crash, a repeated `Idempotency-Key`) is admitted without being counted again.
    pub dedup_key: Option<&'a str>,
    pub subjects: Subjects,
}

/// The gateway's answer to [`AdmitRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    Limited(Limited),
}

/// Past a limit: the submission is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// The limit that was passed.
    pub kind: LimitKind,
    /// Until one more would be admitted (nothing else counted meanwhile).
    pub retry_after: Duration,
    /// The first refusal within a window's length: the one a chat or email citizen is told
    /// about (once, then silence).
    pub first: bool,
}

impl Limited {
    /// `Retry-After` in whole seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

/// An IP network (`10.0.0.0/8`, `::1/128`, or a bare address), written as text in the
/// configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), self.prefix, 128)
                    == masked(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u32::from(prefix.min(width));
    let shift = u32::from(width) - keep;
    (bits >> shift) << shift
}

/// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`, a dual-stack socket) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or network (10.0.0.0/8)"))?;
        let addr = canonical(addr);
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {width}"))?,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl serde::Serialize for IpNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for IpNet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed. The gateway puts them in every
/// request's extensions; without them no header is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Arc<Vec<IpNet>>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client of a request that reached the gateway from `peer`: `peer` itself, or, while
    /// the hop is a trusted proxy, the address that proxy says it forwarded for (the last
    /// `X-Forwarded-For` entry not added by a trusted proxy).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        // From the nearest hop back; an entry that is no address ends the walk.
        for hop in forwarded.into_iter().rev() {
            let Ok(hop) = hop.parse::<IpAddr>() else {
                break;
            };
            client = canonical(hop);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// The client address of an HTTP request; `None` when the connection's address is unknown (a
/// router called without a socket, as in some tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(ClientIp(None));
        };
        let proxies = parts
            .extensions
            .get::<TrustedProxies>()
            .cloned()
            .unwrap_or_default();
        let peer = canonical(addr.ip());
        if proxies.0.is_empty()
            && is_internal(peer)
            && parts.headers.contains_key("x-forwarded-for")
        {
            warn_untrusted_proxy();
        }
        Ok(ClientIp(Some(proxies.client_ip(peer, &parts.headers))))
    }
}

/// A loopback or private address: a reverse proxy in front of the gateway, most likely.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// Said once per process: behind an unconfigured proxy every citizen shares its address, and
/// the limit per address becomes a limit for everyone.
fn warn_untrusted_proxy() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "requests come through a proxy (X-Forwarded-For from an internal address) but \
             rate_limits.trusted_proxies is empty: the per-address limits count the proxy's \
             address for every client; list the proxy in rate_limits.trusted_proxies"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn networks_parse_and_match() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.1.2".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one: IpNet = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "example.org", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
        assert_eq!(
            "10.1.2.3/8".parse::<IpNet>().unwrap().to_string(),
            "10.1.2.3/8"
        );
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let proxies = TrustedProxies(Arc::new(vec!["10.0.0.0/8".parse().unwrap()]));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Straight from the client: the header is the client's own and is not believed.
        assert_eq!(
            proxies.client_ip(ip("203.0.113.5"), &headers(&["1.2.3.4"])),
            ip("203.0.113.5")
        );
        // Through the proxy: the last address the proxy did not add itself.
        assert_eq!(
            proxies.client_ip(ip("10.0.0.2"), &headers(&["1.2.3.4, 203.0.113.9"])),
            ip("203.0.113.9")
        );
        // Through two trusted proxies, in two header lines.
        assert_eq!(
            proxies.client_ip(ip("10.0.0.2"), &headers(&["198.51.100.7", "10.0.0.9"])),
            ip("198.51.100.7")
        );
        // A proxy that sends no header: the proxy is the client.
        assert_eq!(
            proxies.client_ip(ip("10.0.0.2"), &headers(&[])),
            ip("10.0.0.2")
        );
        // Nothing trusted: never the header.
        assert_eq!(
            TrustedProxies::default().client_ip(ip("10.0.0.2"), &headers(&["1.2.3.4"])),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        let l = |ms| Limited {
            kind: LimitKind::Sender,
            retry_after: Duration::from_millis(ms),
            first: true,
        };
        assert_eq!(l(0).retry_after_secs(), 1);
        assert_eq!(l(1500).retry_after_secs(), 2);
        assert_eq!(l(3000).retry_after_secs(), 3);
    }
}
