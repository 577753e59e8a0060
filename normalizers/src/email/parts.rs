//! Which MIME parts of a message are attachments, and their decoded names.
//!
//! The rule, shared with `tests/email/email_conformance.py` (which applies it to CPython's `email`
//! parser so both MIME parsers can be compared part for part):
//! - multiparts are descended into;
//! - a `message/rfc822` (or `message/global`) part is one attachment and is not descended into;
//! - any other leaf part is an attachment when its disposition is `attachment`, when it carries
//!   a file name (`Content-Disposition: filename` or `Content-Type: name`, RFC 2047/2231
//!   decoded), or when it is not `text/*`.
//!
//! Text leaves without a name and without `attachment` disposition are the message body.

use mail_parser::{ContentType, Message, MessagePart, MimeHeaders, PartType};

/// Nesting bound: a message nested deeper than this is not descended into (decompression-bomb
/// style recursion, R-SEC-3).
const MAX_DEPTH: usize = 16;

/// One attachment of a message, borrowed from the parsed message.
pub struct PartRef<'m, 'x> {
    pub part: &'m MessagePart<'x>,
    /// Decoded file name, when the part has one.
    pub file_name: Option<String>,
    /// `type/subtype` as declared, lowercase.
    pub claimed_type: Option<String>,
    /// The part is a forwarded message (`message/rfc822`).
    pub is_message: bool,
    /// Declared `Content-Disposition: inline` (an inline image of an HTML body).
    pub inline: bool,
    pub content_id: Option<String>,
}

/// The attachments of `message` in document order, forwarded messages as single entries.
pub fn attachments<'m, 'x>(message: &'m Message<'x>) -> Vec<PartRef<'m, 'x>> {
    let mut out = Vec::new();
    if let Some(root) = message.parts.first() {
        walk(message, root, 0, &mut out);
    }
    out
}

fn walk<'m, 'x>(
    message: &'m Message<'x>,
    part: &'m MessagePart<'x>,
    depth: usize,
    out: &mut Vec<PartRef<'m, 'x>>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match &part.body {
        PartType::Multipart(children) => {
            for id in children {
                if let Some(child) = message.parts.get(*id as usize) {
                    walk(message, child, depth + 1, out);
                }
            }
        }
        PartType::Message(_) => out.push(part_ref(part, true, declared_type(part))),
        _ => {
            // Each header is looked up once per part (a lookup scans the part's headers).
            let declared = declared_type(part);
            let disposition = part.content_disposition();
            let named = attachment_name(part, disposition).is_some();
            // A type without a subtype is invalid and read as text/plain (RFC 2045 §5.2).
            let effective = declared
                .as_deref()
                .filter(|t| t.contains('/'))
                .unwrap_or("text/plain");
            let is_message_type = is_message_type(effective);
            let is_attachment = disposition
                .is_some_and(|cd| cd.ctype().eq_ignore_ascii_case("attachment"))
                || named
                || !effective.starts_with("text/");
            if is_attachment {
                out.push(part_ref(part, is_message_type, declared));
            }
        }
    }
}

/// The forwarded messages (`message/rfc822` parts parsed as messages) of `message`, in the
/// order of [`attachments`], without reading any attachment's names or types.
pub fn forwarded_messages<'m, 'x>(message: &'m Message<'x>) -> Vec<&'m Message<'x>> {
    fn walk_messages<'m, 'x>(
        message: &'m Message<'x>,
        part: &'m MessagePart<'x>,
        depth: usize,
        out: &mut Vec<&'m Message<'x>>,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        match &part.body {
            PartType::Multipart(children) => {
                for id in children {
                    if let Some(child) = message.parts.get(*id as usize) {
                        walk_messages(message, child, depth + 1, out);
                    }
                }
            }
            PartType::Message(inner) => out.push(inner),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(root) = message.parts.first() {
        walk_messages(message, root, 0, &mut out);
    }
    out
}

/// `MimeHeaders::attachment_name` with the Content-Disposition already looked up.
fn attachment_name<'m>(
    part: &'m MessagePart<'_>,
    disposition: Option<&'m ContentType<'_>>,
) -> Option<&'m str> {
    disposition
        .and_then(|cd| cd.attribute("filename"))
        .or_else(|| part.content_type().and_then(|ct| ct.attribute("name")))
}

fn part_ref<'m, 'x>(
    part: &'m MessagePart<'x>,
    is_message: bool,
    claimed_type: Option<String>,
) -> PartRef<'m, 'x> {
    let disposition = part.content_disposition();
    PartRef {
        part,
        file_name: attachment_name(part, disposition)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        claimed_type,
        is_message,
        inline: disposition.is_some_and(|cd| cd.ctype().eq_ignore_ascii_case("inline")),
        content_id: part
            .content_id()
            .map(|id| id.trim_matches(|c| c == '<' || c == '>').to_string()),
    }
}

/// `type/subtype` as declared, lowercase; None when there is no Content-Type header.
pub fn declared_type(part: &MessagePart<'_>) -> Option<String> {
    let ct = part.content_type()?;
    let main = ct.ctype().trim();
    if main.is_empty() {
        return None;
    }
    let sub = ct.subtype().map(str::trim);
    let mut out = String::with_capacity(main.len() + sub.map_or(0, |s| s.len() + 1));
    out.push_str(main);
    if let Some(sub) = sub {
        out.push('/');
        out.push_str(sub);
    }
    out.make_ascii_lowercase();
    Some(out)
}

fn is_message_type(t: &str) -> bool {
    t == "message/rfc822" || t == "message/global"
}
