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

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

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
        PartType::Message(_) => out.push(part_ref(part, true)),
        _ => {
            // A type without a subtype is invalid and read as text/plain (RFC 2045 §5.2).
            let declared = declared_type(part).filter(|t| t.contains('/'));
            let effective = declared.as_deref().unwrap_or("text/plain");
            let is_message_type = is_message_type(effective);
            let is_attachment = disposition_is_attachment(part)
                || part.attachment_name().is_some()
                || !effective.starts_with("text/");
            if is_attachment {
                out.push(part_ref(part, is_message_type));
            }
        }
    }
}

fn part_ref<'m, 'x>(part: &'m MessagePart<'x>, is_message: bool) -> PartRef<'m, 'x> {
    PartRef {
        part,
        file_name: part
            .attachment_name()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        claimed_type: declared_type(part),
        is_message,
        inline: part
            .content_disposition()
            .is_some_and(|cd| cd.ctype().eq_ignore_ascii_case("inline")),
        content_id: part
            .content_id()
            .map(|id| id.trim_matches(|c| c == '<' || c == '>').to_string()),
    }
}

fn disposition_is_attachment(part: &MessagePart<'_>) -> bool {
    part.content_disposition()
        .is_some_and(|cd| cd.ctype().eq_ignore_ascii_case("attachment"))
}

/// `type/subtype` as declared, lowercase; None when there is no Content-Type header.
pub fn declared_type(part: &MessagePart<'_>) -> Option<String> {
    let ct = part.content_type()?;
    let main = ct.ctype().trim().to_ascii_lowercase();
    if main.is_empty() {
        return None;
    }
    Some(match ct.subtype() {
        Some(sub) => format!("{main}/{}", sub.trim().to_ascii_lowercase()),
        None => main,
    })
}

fn is_message_type(t: &str) -> bool {
    t == "message/rfc822" || t == "message/global"
}
