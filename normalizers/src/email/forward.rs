//! Forwarded reports: a citizen writes to 1022 with a cover note (or nothing) and the report
//! inside a forwarded message — a `message/rfc822` part, or an inline block under a separator
//! the mail client wrote:
//!
//! - explicit forwards: Gmail `---------- Forwarded message ---------`, Thunderbird
//!   `-------- Forwarded Message --------`, Yahoo/Zimbra `----- Forwarded Message -----`, Apple
//!   Mail `Begin forwarded message:`, and their Vietnamese versions (`Thư đã chuyển tiếp`,
//!   `Bắt đầu thư được chuyển tiếp:`…);
//! - separators used for replies and forwards alike: Outlook `-----Original Message-----`, Zimbra
//!   `----- Original Message -----` / `Thư gốc`, a line of underscores, or a bare header block
//!   (`From:` / `Từ:` followed by `Sent:` / `Đã gửi:`, `To:` / `Đến:`, `Subject:` / `Chủ đề:`).
//!   These are a forward only when the subject says so (`Fwd:`, `FW:`, `Chuyển tiếp:`) or
//!   when nothing is typed above them and the subject is not a reply's; otherwise they start a
//!   quoted reply chain, which is cut from the text and never read as a report.
//!
//! Each message of the chain is a [`Level`]; level 0 is the message 1022 received.

use std::rc::Rc;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use mail_parser::{Address, Message, PartType};

use super::parts;
use crate::text::{fold_phrase, nfc, nfc_owned};

/// A forwarded message nested deeper than this is not read.
pub const MAX_DEPTH: usize = 4;

/// One message of a forward chain: the text typed at that level (above any forward or quoted
/// chain), and who sent it when.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Level {
    /// NFC text typed at this level, line endings as LF.
    pub text: String,
    /// The HTML bodies of this level's MIME message (inline levels share their message's).
    pub html: Rc<str>,
    pub subject: Option<String>,
    /// Lowercase address of the sender.
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    /// When this level's message was written (its `Date`).
    pub date: Option<DateTime<Utc>>,
}

/// The chain of `message`: level 0 is `message` itself, each next level the message it forwards
/// (the innermost last).
pub fn chain(message: &Message<'_>) -> Vec<Level> {
    let mut out = Vec::new();
    message_levels(message, body_text(message), 0, &mut out);
    out
}

/// The levels of `message`, whose [`body_text`] is `body`.
fn message_levels(message: &Message<'_>, body: String, depth: usize, out: &mut Vec<Level>) {
    let text = nfc_owned(to_lf(body));
    let subject = message.subject().map(|s| nfc(s.trim()));
    let html: Rc<str> = {
        let mut html = String::new();
        for (i, part) in message
            .html_bodies()
            .filter_map(|p| p.text_contents())
            .enumerate()
        {
            if i > 0 {
                html.push('\n');
            }
            html.push_str(part);
        }
        html.into()
    };
    let from = first(message.from());
    let level = Level {
        text: String::new(),
        html: Rc::clone(&html),
        subject,
        from_address: from.0,
        from_name: from.1,
        date: message
            .date()
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
    };
    let inline_levels = inline_chain(level, &text, &html, depth);
    let has_inline = inline_levels.len() > 1;
    let last_depth = depth + inline_levels.len() - 1;
    out.extend(inline_levels);
    if has_inline || last_depth >= MAX_DEPTH {
        return;
    }
    // A message attached whole: the first one with a text, else the first.
    let inner = parts::forwarded_messages(message);
    let mut first_body = None;
    for m in &inner {
        let body = body_text(m);
        if !body.trim().is_empty() {
            return message_levels(m, body, depth + 1, out);
        }
        first_body.get_or_insert(body);
    }
    if let (Some(m), Some(body)) = (inner.first(), first_body) {
        message_levels(m, body, depth + 1, out);
    }
}

/// Line endings to LF: CRLF and lone CR alike (the text unchanged when it has no CR).
pub(crate) fn to_lf(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(pos) = rest.find('\r') {
        out.push_str(&rest[..pos]);
        out.push('\n');
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('\n') {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `level` with its text, followed by the levels forwarded inline in `text`.
fn inline_chain(mut level: Level, text: &str, html: &Rc<str>, depth: usize) -> Vec<Level> {
    let split = split(text, level.subject.as_deref());
    level.text = split.own;
    let mut out = vec![level];
    if let Some(inner) = split.inner {
        if depth < MAX_DEPTH {
            let next = Level {
                text: String::new(),
                html: Rc::clone(html),
                subject: inner.subject,
                from_address: inner.from_address,
                from_name: inner.from_name,
                date: inner.date,
            };
            out.extend(inline_chain(next, &inner.body, html, depth + 1));
        }
    }
    out
}

/// The text of the body parts (text/plain, else HTML as text), joined.
pub fn body_text(message: &Message<'_>) -> String {
    let mut out = String::new();
    for part in message.text_bodies() {
        let html;
        let text = match &part.body {
            PartType::Text(t) => t.as_ref(),
            PartType::Html(h) => {
                html = html_text(h);
                html.as_str()
            }
            _ => continue,
        };
        if !text.trim().is_empty() {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(text);
        }
    }
    out
}

/// HTML as text, one line per block: mail-parser's conversion breaks lines only at `<br>` and
/// `</p>`, so the blocks webmail writes in (`<div>`, a `<hr>` above a forwarded header block)
/// would run together on one line and no separator or header label would start a line.
fn html_text(html: &str) -> String {
    const BLOCKS: &[&str] = &[
        "div",
        "p",
        "tr",
        "li",
        "table",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "pre",
    ];
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut rest = html;
    while let Some(pos) = rest.find('<') {
        out.push_str(&rest[..pos]);
        let tag = &rest[pos + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name == "hr" {
            out.push_str("<br>________________________________<br>");
        } else if BLOCKS.contains(&name.as_str()) {
            out.push_str("<br>");
        }
        out.push('<');
        rest = tag;
    }
    out.push_str(rest);
    mail_parser::decoders::html::html_to_text(&out)
}

fn first(address: Option<&Address<'_>>) -> (Option<String>, Option<String>) {
    let Some(a) = address.and_then(|a| a.first()) else {
        return (None, None);
    };
    (
        a.address()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty()),
        a.name()
            .map(|n| n.trim().trim_matches(['"', '\'']).trim().to_string())
            .filter(|n| !n.is_empty()),
    )
}

/// A message forwarded inline: its header block and its body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inline {
    pub subject: Option<String>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub date: Option<DateTime<Utc>>,
    pub body: String,
}

/// A text cut at its first forward or quoted reply chain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    /// What was typed above (the whole text when there is neither).
    pub own: String,
    /// The message forwarded below, when the chain is a forward.
    pub inner: Option<Inline>,
}

/// Cut `text` (LF line endings) at its first forward or quoted reply chain. `subject` is the
/// subject of the message the text belongs to.
pub fn split(text: &str, subject: Option<&str>) -> Split {
    let lines: Vec<&str> = text.lines().collect();
    for i in 0..lines.len() {
        let line = lines[i].trim();
        if line.starts_with('>') {
            continue;
        }
        let own = || lines[..i].join("\n");
        if is_forward_marker(line) {
            let rest = unquote(&lines[i + 1..]);
            let rest: Vec<&str> = rest.lines().collect();
            let (headers, next) = header_block(&rest, 0);
            return Split {
                own: own(),
                inner: Some(inline(headers, &rest[next..])),
            };
        }
        // Without a separator line, a header block must look like one beyond doubt: a sender
        // and two more of date, recipient and subject.
        let block = if is_ambiguous_marker(line) {
            Some((header_block(&lines, i + 1), 2))
        } else if header_label(line) == Some(Label::From)
            && (i == 0 || lines[i - 1].trim().is_empty())
        {
            Some((header_block(&lines, i), 3))
        } else {
            None
        };
        let Some(((headers, next), min_labels)) = block else {
            continue;
        };
        if !headers.is_message_header(min_labels) {
            continue;
        }
        let above = own();
        let forward =
            subject_is_forward(subject) || (!subject_is_reply(subject) && above.trim().is_empty());
        return Split {
            own: above,
            inner: forward.then(|| inline(headers, &lines[next..])),
        };
    }
    Split {
        own: text.to_string(),
        inner: None,
    }
}

fn inline(headers: Headers, body: &[&str]) -> Inline {
    let (from_address, from_name) = headers.from.as_deref().map(parse_from).unwrap_or_default();
    Inline {
        subject: headers.subject,
        from_address,
        from_name,
        date: headers.date.as_deref().and_then(parse_date),
        body: body.join("\n"),
    }
}

/// The body lines, one quoting level removed when the client quoted the whole forwarded body
/// (some clients prefix every line with `>`).
fn unquote(lines: &[&str]) -> String {
    let non_empty: Vec<&&str> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
    let quoted = non_empty
        .iter()
        .filter(|l| l.trim_start().starts_with('>'))
        .count();
    if quoted == 0 || quoted * 10 < non_empty.len() * 9 {
        return lines.join("\n");
    }
    lines
        .iter()
        .map(|l| {
            let t = l.trim_start();
            t.strip_prefix("> ")
                .or_else(|| t.strip_prefix('>'))
                .unwrap_or(t)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The phrase of a separator line: lowercase, unmarked, without the dashes, stars, underscores
/// and colon that decorate it.
fn separator_phrase(line: &str) -> String {
    let folded = fold_phrase(line);
    folded
        .trim_matches(|c: char| matches!(c, '-' | '_' | '*' | '=' | ':' | ' ' | '<' | '>'))
        .to_string()
}

/// Separators written only by a forward.
const FORWARD_PHRASES: &[&str] = &[
    "forwarded message",
    "forwarded message follows",
    "begin forwarded message",
    "forwarded mail",
    "thu da chuyen tiep",
    "thu duoc chuyen tiep",
    "thu chuyen tiep",
    "tin nhan da chuyen tiep",
    "tin nhan duoc chuyen tiep",
    "bat dau thu duoc chuyen tiep",
    "bat dau thu chuyen tiep",
    "bat dau tin nhan duoc chuyen tiep",
];

/// Separators written above a reply's quoted message and above a forward alike.
const AMBIGUOUS_PHRASES: &[&str] = &["original message", "thu goc", "tin nhan goc", "thu ban dau"];

fn is_forward_marker(line: &str) -> bool {
    // A separator is a short line of its own: decorated, or ending with a colon (Apple Mail).
    let decorated = line.starts_with('-') || line.ends_with(':') || line.starts_with('=');
    decorated && FORWARD_PHRASES.contains(&separator_phrase(line).as_str())
}

fn is_ambiguous_marker(line: &str) -> bool {
    let underscores = line.len() >= 8 && line.chars().all(|c| c == '_');
    underscores
        || (line.starts_with('-') && AMBIGUOUS_PHRASES.contains(&separator_phrase(line).as_str()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    From,
    Date,
    To,
    Cc,
    Subject,
    ReplyTo,
}

/// Header labels of forwarded and quoted blocks, folded, in the clients' English and Vietnamese.
const LABELS: &[(&str, Label)] = &[
    ("from", Label::From),
    ("tu", Label::From),
    ("nguoi gui", Label::From),
    ("date", Label::Date),
    ("sent", Label::Date),
    ("ngay", Label::Date),
    ("da gui", Label::Date),
    ("gui luc", Label::Date),
    ("ngay gui", Label::Date),
    ("thoi gian", Label::Date),
    ("to", Label::To),
    ("den", Label::To),
    ("gui toi", Label::To),
    ("gui den", Label::To),
    ("nguoi nhan", Label::To),
    ("cc", Label::Cc),
    ("bcc", Label::Cc),
    ("subject", Label::Subject),
    ("chu de", Label::Subject),
    ("tieu de", Label::Subject),
    ("reply-to", Label::ReplyTo),
    ("tra loi toi", Label::ReplyTo),
];

/// The label of a `Label: value` line, when it is a header label.
fn header_label(line: &str) -> Option<Label> {
    header_line(line).map(|(l, _)| l)
}

fn header_line(line: &str) -> Option<(Label, String)> {
    let line = line.trim().trim_start_matches('*');
    let (label, value) = line.split_once(':')?;
    if label.chars().count() > 20 {
        return None;
    }
    let folded = fold_phrase(label.trim_matches('*'));
    let (_, kind) = LABELS.iter().find(|(l, _)| *l == folded)?;
    let value = value.trim().trim_matches('*').trim().to_string();
    Some((*kind, value))
}

#[derive(Debug, Default)]
struct Headers {
    from: Option<String>,
    date: Option<String>,
    to: bool,
    subject: Option<String>,
}

impl Headers {
    /// A header block of a mail client's: a sender (an address, or a date that reads as one)
    /// and at least `min_labels` labels in all among sender, date, recipient and subject.
    fn is_message_header(&self, min_labels: usize) -> bool {
        let Some(from) = &self.from else {
            return false;
        };
        let dated = self.date.as_deref().and_then(parse_date).is_some();
        let labels = 1
            + usize::from(self.date.is_some())
            + usize::from(self.to)
            + usize::from(self.subject.is_some());
        (from.contains('@') || dated) && labels >= min_labels
    }
}

/// Read the `Label: value` lines from `start` (after at most two blank lines); returns them and
/// the index of the first body line.
fn header_block(lines: &[&str], start: usize) -> (Headers, usize) {
    let mut headers = Headers::default();
    let mut i = start;
    let mut blanks = 0;
    while i < lines.len() && lines[i].trim().is_empty() && blanks < 2 {
        i += 1;
        blanks += 1;
    }
    let mut seen_any = false;
    let mut last: Option<Label> = None;
    while i < lines.len() {
        let line = lines[i];
        if let Some((label, value)) = header_line(line) {
            seen_any = true;
            last = Some(label);
            match label {
                Label::From => {
                    headers.from.get_or_insert(value);
                }
                Label::Date => {
                    headers.date.get_or_insert(value);
                }
                Label::To => headers.to = true,
                Label::Subject => {
                    headers.subject.get_or_insert(value);
                }
                Label::Cc | Label::ReplyTo => {}
            }
            i += 1;
        } else if seen_any
            && (line.starts_with(' ') || line.starts_with('\t'))
            && !line.trim().is_empty()
            && last.is_some_and(|l| l != Label::Subject)
        {
            // A folded continuation of a long recipient list.
            i += 1;
        } else {
            break;
        }
    }
    if !seen_any {
        return (headers, start);
    }
    (headers, i)
}

/// `Name <address>`, `Name [mailto:address]`, `"Name" address` or a bare address.
fn parse_from(value: &str) -> (Option<String>, Option<String>) {
    let value = value.trim();
    let (address, name) = if let (Some(s), Some(e)) = (value.find('<'), value.rfind('>')) {
        (value.get(s + 1..e), value[..s].to_string())
    } else if let Some(s) = value.find("[mailto:") {
        let rest = &value[s + 8..];
        (rest.split(']').next(), value[..s].to_string())
    } else {
        let at = value.split_whitespace().find(|w| w.contains('@'));
        let name = value
            .split_whitespace()
            .filter(|w| !w.contains('@'))
            .collect::<Vec<_>>()
            .join(" ");
        (at, name)
    };
    let address = address
        .map(|a| a.trim().trim_start_matches("mailto:").to_ascii_lowercase())
        .filter(|a| a.contains('@'));
    let name = name.trim().trim_matches(['"', '\'']).trim().to_string();
    (
        address,
        Some(name).filter(|n| !n.is_empty() && !n.contains('@')),
    )
}

/// Subject prefixes of a forward.
const FORWARD_PREFIXES: &[&str] = &["fwd", "fw", "chuyen tiep", "ct"];
/// Subject prefixes of a reply.
const REPLY_PREFIXES: &[&str] = &["re", "tra loi", "tl", "aw", "sv"];

fn subject_prefix(subject: Option<&str>) -> Option<String> {
    let s = subject?.trim();
    // A tag in brackets first ("[1022] Re: …") is skipped.
    let s = if s.starts_with('[') {
        s.split_once(']').map_or(s, |(_, rest)| rest.trim_start())
    } else {
        s
    };
    let (prefix, _) = s.split_once(':')?;
    if prefix.chars().count() > 12 {
        return None;
    }
    Some(fold_phrase(prefix))
}

/// The subject says the message is a forward ("Fwd:", "FW:", "Chuyển tiếp:").
pub fn subject_is_forward(subject: Option<&str>) -> bool {
    subject_prefix(subject).is_some_and(|p| FORWARD_PREFIXES.contains(&p.as_str()))
}

/// The subject says the message is a reply ("Re:", "Trả lời:").
pub fn subject_is_reply(subject: Option<&str>) -> bool {
    subject_prefix(subject).is_some_and(|p| REPLY_PREFIXES.contains(&p.as_str()))
}

/// `subject` without its forward and reply prefixes ("Fwd: Re: Đèn hỏng" → "Đèn hỏng").
pub fn bare_subject(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let Some((prefix, rest)) = s.split_once(':') else {
            return s;
        };
        let folded = fold_phrase(prefix);
        if prefix.chars().count() <= 12
            && (FORWARD_PREFIXES.contains(&folded.as_str())
                || REPLY_PREFIXES.contains(&folded.as_str()))
        {
            s = rest.trim_start();
        } else {
            return s;
        }
    }
}

/// Local time of Long An, assumed when a forwarded header's date names no zone (clients write
/// it in the reader's local time).
fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset")
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The date of a forwarded header block, as the clients write it: RFC 5322 (Thunderbird), Gmail
/// `Sat, Nov 28, 2026 at 8:00 AM`, Outlook `Saturday, November 28, 2026 8:00 AM`, Apple Mail
/// `November 28, 2026 at 8:00:00 AM GMT+7`, Vietnamese `Thứ Bảy, 28 tháng 11, 2026 8:00 SA` or
/// `Th 7, 28 thg 11, 2026 lúc 08:00`, numeric `28/11/2026 08:00`. Without a zone: UTC+7.
pub fn parse_date(value: &str) -> Option<DateTime<Utc>> {
    if let Some(d) = mail_parser::DateTime::parse_rfc822(value) {
        if d.is_valid() {
            return DateTime::from_timestamp(d.to_timestamp(), 0);
        }
    }
    let folded = fold_phrase(value);
    let tokens: Vec<&str> = folded
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let mut day = None;
    let mut month = None;
    let mut year = None;
    let mut time: Option<(u32, u32, u32)> = None;
    let mut pm = None;
    let mut offset: Option<i32> = None;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        let next = tokens.get(i + 1).copied();
        if (t == "thang" || t == "thg") && next.is_some_and(|n| n.parse::<u32>().is_ok()) {
            month = next.and_then(|n| n.parse().ok());
            i += 2;
            continue;
        }
        if t == "th" || t == "thu" {
            // "Th 7" / "Thứ 7": the weekday, not a day of the month.
            i += if next.is_some_and(|n| n.parse::<u32>().is_ok()) {
                2
            } else {
                1
            };
            continue;
        }
        if let Some(m) = MONTHS.iter().position(|m| t.starts_with(m) && t.len() >= 3) {
            month = Some(m as u32 + 1);
        } else if t.contains(':') {
            let nums: Vec<u32> = t.split(':').filter_map(|n| n.parse().ok()).collect();
            if nums.len() >= 2 {
                time = Some((nums[0], nums[1], nums.get(2).copied().unwrap_or(0)));
            }
        } else if t.contains('/') || (t.contains('-') && t.len() >= 8) {
            let nums: Vec<u32> = t.split(['/', '-']).filter_map(|n| n.parse().ok()).collect();
            if nums.len() == 3 {
                if nums[0] > 31 {
                    (year, month, day) = (Some(nums[0] as i32), Some(nums[1]), Some(nums[2]));
                } else {
                    (day, month, year) = (Some(nums[0]), Some(nums[1]), Some(nums[2] as i32));
                }
            }
        } else if matches!(t, "am" | "sa" | "a.m.") {
            pm = Some(false);
        } else if matches!(t, "pm" | "ch" | "p.m.") {
            pm = Some(true);
        } else if matches!(t, "gmt" | "utc" | "z") {
            offset = Some(0);
        } else if let Some(z) = t
            .strip_prefix("gmt")
            .or_else(|| t.strip_prefix("utc"))
            .filter(|z| !z.is_empty())
            .or_else(|| Some(t).filter(|t| t.starts_with('+') || t.starts_with('-')))
        {
            offset = parse_offset(z);
        } else if let Ok(n) = t.trim_end_matches('.').parse::<u32>() {
            if t.len() == 4 {
                year = Some(n as i32);
            } else if day.is_none() && (1..=31).contains(&n) {
                day = Some(n);
            }
        }
        i += 1;
    }
    let (mut h, m, s) = time.unwrap_or((0, 0, 0));
    match pm {
        Some(true) if h < 12 => h += 12,
        Some(false) if h == 12 => h = 0,
        _ => {}
    }
    let date = NaiveDate::from_ymd_opt(year?, month?, day?)?;
    let local = date.and_hms_opt(h, m, s)?;
    let zone = offset
        .and_then(FixedOffset::east_opt)
        .unwrap_or_else(vietnam);
    zone.from_local_datetime(&local)
        .single()
        .map(|d| d.with_timezone(&Utc))
}

/// `+7`, `+07:00`, `+0700`, `-5` in seconds.
fn parse_offset(z: &str) -> Option<i32> {
    let (sign, rest) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        3 | 4 => {
            let split = digits.len() - 2;
            (
                digits[..split].parse::<i32>().ok()?,
                digits[split..].parse::<i32>().ok()?,
            )
        }
        _ => return None,
    };
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<String> {
        parse_date(s).map(|d| d.to_rfc3339())
    }

    #[test]
    fn forwarded_header_dates_in_every_client_format() {
        let expected = Some("2026-11-28T01:00:00+00:00".to_string());
        for s in [
            "Sat, 28 Nov 2026 08:00:00 +0700",
            "Sat, Nov 28, 2026 at 8:00 AM",
            "Saturday, November 28, 2026 8:00 AM",
            "November 28, 2026 at 8:00:00 AM GMT+7",
            "Thứ Bảy, 28 tháng 11, 2026 8:00 SA",
            "Th 7, 28 thg 11, 2026 lúc 08:00",
            "28/11/2026 08:00",
            "Saturday, November 28, 2026, 01:00:00 AM GMT",
            "Sat, 28 Nov 2026 01:00:00 UTC",
        ] {
            assert_eq!(at(s), expected, "{s}");
        }
        assert_eq!(
            at("Thứ Bảy, 28 tháng 11, 2026 2:30 CH").as_deref(),
            Some("2026-11-28T07:30:00+00:00")
        );
        assert_eq!(at("hôm qua"), None);
    }

    #[test]
    fn senders_in_every_client_format() {
        let cases = [
            "Nguyễn Văn An <an@gmail.com>",
            "\"Nguyễn Văn An\" <AN@gmail.com>",
            "Nguyễn Văn An [mailto:an@gmail.com]",
            "Nguyễn Văn An an@gmail.com",
        ];
        for c in cases {
            assert_eq!(
                parse_from(c),
                (
                    Some("an@gmail.com".to_string()),
                    Some("Nguyễn Văn An".to_string())
                ),
                "{c}"
            );
        }
        assert_eq!(
            parse_from("an@gmail.com"),
            (Some("an@gmail.com".to_string()), None)
        );
    }

    #[test]
    fn subject_prefixes() {
        assert!(subject_is_forward(Some("Fwd: Đèn hỏng")));
        assert!(subject_is_forward(Some("FW: Đèn hỏng")));
        assert!(subject_is_forward(Some("Chuyển tiếp: Đèn hỏng")));
        assert!(subject_is_forward(Some("[Ext] Fwd: Đèn hỏng")));
        assert!(!subject_is_forward(Some("RE: Đèn hỏng")));
        assert!(subject_is_reply(Some("Trả lời: Đèn hỏng")));
        assert!(!subject_is_forward(Some("Đèn hỏng: đường tối")));
        assert_eq!(bare_subject("Fwd: RE: FW: Đèn hỏng"), "Đèn hỏng");
        assert_eq!(bare_subject("Đèn: hỏng"), "Đèn: hỏng");
    }

    #[test]
    fn a_reply_chain_is_cut_and_not_a_forward() {
        let text = "Tôi bổ sung: đèn vẫn chưa sửa.\n\n-----Original Message-----\nFrom: 1022 <1022@longan.gov.vn>\nSent: Saturday, November 28, 2026 8:00 AM\nTo: an@gmail.com\nSubject: Đã tiếp nhận\n\nMã phản ánh: ABCD\n";
        let s = split(text, Some("RE: Đã tiếp nhận"));
        assert_eq!(s.inner, None);
        assert_eq!(s.own.trim(), "Tôi bổ sung: đèn vẫn chưa sửa.");
        let s = split(text, Some("FW: Đã tiếp nhận"));
        assert_eq!(s.inner.unwrap().body.trim(), "Mã phản ánh: ABCD");
    }

    #[test]
    fn a_citizen_form_is_not_a_header_block() {
        let text = "Họ tên: Nguyễn Văn An\nĐịa chỉ: ấp 3, xã Mỹ Yên\nNội dung: đèn hỏng\n";
        assert_eq!(split(text, None).inner, None);
        let text = "Từ: hôm qua đến nay đường bị ngập.\nĐến: nay vẫn chưa rút.\n";
        let s = split(text, None);
        assert_eq!(s.inner, None);
        assert_eq!(s.own, text);
    }

    #[test]
    fn an_apple_mail_forward_quoted_line_by_line_is_unquoted() {
        let text = "Begin forwarded message:\n\n> From: An <an@gmail.com>\n> Subject: Đèn hỏng\n>\n> Đèn đường hỏng.\n";
        let inner = split(text, None).inner.unwrap();
        assert_eq!(inner.body.trim(), "Đèn đường hỏng.");
        assert_eq!(inner.from_address.as_deref(), Some("an@gmail.com"));
        assert_eq!(inner.subject.as_deref(), Some("Đèn hỏng"));
    }
}
