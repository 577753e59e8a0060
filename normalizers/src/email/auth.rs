//! Sender verification (Đ6.4) from the `Authentication-Results` header (RFC 8601) written by the
//! trusted receiving host.
//!
//! Only the topmost header whose authserv-id is the configured host counts: that host adds its
//! header above every header the sender wrote, and RFC 8601 §5 requires it to remove forged
//! ones carrying its own id. The sender is verified when `dmarc=pass` names the From domain, or
//! when `dkim=pass` signs for a domain aligned with it (relaxed alignment: equal, or one a
//! subdomain of the other).

/// The outcome of reading the trusted Authentication-Results.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuthVerdict {
    pub verified: bool,
    /// The method that verified (`dmarc`, `dkim`), when one did.
    pub method: Option<&'static str>,
}

/// Evaluate `headers` (the raw values of every `Authentication-Results` header, top first) for
/// `from_domain`.
pub fn evaluate<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    trusted_authserv_id: &str,
    from_domain: &str,
) -> AuthVerdict {
    let unverified = AuthVerdict {
        verified: false,
        method: None,
    };
    let trusted = trusted_authserv_id.trim().to_ascii_lowercase();
    let from_domain = from_domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if trusted.is_empty() || from_domain.is_empty() {
        return unverified;
    }
    let Some(header) = headers
        .into_iter()
        .find(|h| authserv_id(h).is_some_and(|id| id == trusted))
    else {
        return unverified;
    };
    let results = resinfos(header);
    for r in &results {
        if r.method == "dmarc" && r.result == "pass" {
            if let Some(d) = r.prop("header.from") {
                if domain_of(d) == from_domain {
                    return AuthVerdict {
                        verified: true,
                        method: Some("dmarc"),
                    };
                }
            }
        }
    }
    for r in &results {
        if r.method == "dkim" && r.result == "pass" {
            let signer = r
                .prop("header.d")
                .or_else(|| r.prop("header.i"))
                .map(domain_of);
            if signer.is_some_and(|d| aligned(&d, &from_domain)) {
                return AuthVerdict {
                    verified: true,
                    method: Some("dkim"),
                };
            }
        }
    }
    unverified
}

/// The authserv-id: the first token of the header value, lowercase.
fn authserv_id(header: &str) -> Option<String> {
    let first = header.split(';').next()?;
    let id = strip_comments(first);
    let id = id.split_whitespace().next()?;
    Some(id.to_ascii_lowercase())
}

struct ResInfo {
    method: String,
    result: String,
    props: Vec<(String, String)>,
}

impl ResInfo {
    fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The `method=result prop=value…` statements after the authserv-id.
fn resinfos(header: &str) -> Vec<ResInfo> {
    let cleaned = strip_comments(header);
    cleaned
        .split(';')
        .skip(1)
        .filter_map(|stmt| {
            let mut tokens = stmt.split_whitespace();
            let (method, result) = tokens.next()?.split_once('=')?;
            let method = method.split('/').next()?.to_ascii_lowercase();
            let props = tokens
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.trim_matches('"').to_ascii_lowercase(),
                    )
                })
                .collect();
            Some(ResInfo {
                method,
                result: result.to_ascii_lowercase(),
                props,
            })
        })
        .collect()
}

/// Remove RFC 5322 comments `( … )`, nested, outside quoted strings.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The domain of `user@domain`, `@domain` or `domain`.
fn domain_of(s: &str) -> String {
    s.rsplit('@')
        .next()
        .unwrap_or(s)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn aligned(a: &str, b: &str) -> bool {
    a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "mx.longan.gov.vn";

    #[test]
    fn aligned_dkim_pass_of_the_trusted_host_verifies() {
        let h = "mx.longan.gov.vn; dkim=pass (2048-bit key) header.d=gmail.com header.s=20230601; spf=pass smtp.mailfrom=a@gmail.com";
        let v = evaluate([h], HOST, "gmail.com");
        assert_eq!(
            v,
            AuthVerdict {
                verified: true,
                method: Some("dkim")
            }
        );
    }

    #[test]
    fn dmarc_pass_for_the_from_domain_verifies() {
        let h = "mx.longan.gov.vn; dmarc=pass (p=NONE) header.from=yahoo.com.vn";
        assert!(evaluate([h], HOST, "yahoo.com.vn").verified);
    }

    #[test]
    fn a_header_from_another_host_is_not_trusted() {
        let h = "evil.example; dkim=pass header.d=gmail.com";
        assert!(!evaluate([h], HOST, "gmail.com").verified);
    }

    #[test]
    fn only_the_topmost_trusted_header_counts() {
        let ours = "mx.longan.gov.vn; dkim=fail header.d=gmail.com";
        let forged_below = "mx.longan.gov.vn; dkim=pass header.d=gmail.com";
        assert!(!evaluate([ours, forged_below], HOST, "gmail.com").verified);
    }

    #[test]
    fn unaligned_signature_or_failures_do_not_verify() {
        let other = "mx.longan.gov.vn; dkim=pass header.d=mailer.example";
        assert!(!evaluate([other], HOST, "gmail.com").verified);
        let spf_only = "mx.longan.gov.vn; spf=pass smtp.mailfrom=gmail.com; dkim=none";
        assert!(!evaluate([spf_only], HOST, "gmail.com").verified);
        let subdomain = "mx.longan.gov.vn; dkim=pass header.d=mail.gmail.com";
        assert!(evaluate([subdomain], HOST, "gmail.com").verified);
    }

    #[test]
    fn comments_do_not_hide_or_fake_results() {
        let h = "mx.longan.gov.vn (dkim=pass header.d=gmail.com); dkim=fail header.d=gmail.com";
        assert!(!evaluate([h], HOST, "gmail.com").verified);
    }

    #[test]
    fn a_pass_for_another_domain_does_not_authenticate_the_from_domain() {
        // A forger's own domain passes; the From it claims is someone else's.
        let dmarc = "mx.longan.gov.vn; dmarc=pass header.from=lua-dao.example";
        assert!(!evaluate([dmarc], HOST, "gmail.com").verified);
        let lookalike = "mx.longan.gov.vn; dkim=pass header.d=evilgmail.com";
        assert!(!evaluate([lookalike], HOST, "gmail.com").verified);
        let suffix = "mx.longan.gov.vn; dkim=pass header.d=gmail.com.evil.example";
        assert!(!evaluate([suffix], HOST, "gmail.com").verified);
        // Without a trusted authserv-id configured, nothing authenticates.
        let ok = "mx.longan.gov.vn; dmarc=pass header.from=gmail.com";
        assert!(!evaluate([ok], "", "gmail.com").verified);
        assert!(evaluate([ok], "MX.LONGAN.GOV.VN", "GMAIL.COM.").verified);
    }
}
