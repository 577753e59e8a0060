//! Media type from magic bytes.

use crate::report::MediaKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub media_type: &'static str,
    pub kind: Option<MediaKind>,
}

/// Sniff the media type of a file from its first bytes.
pub fn sniff(head: &[u8]) -> Sniffed {
    // AMR voice notes (Zalo's audio) are not known to `infer`.
    if head.starts_with(b"#!AMR\n") || head.starts_with(b"#!AMR-WB\n") {
        return Sniffed {
            media_type: "audio/amr",
            kind: Some(MediaKind::Audio),
        };
    }
    // ADTS AAC: sync word 0xFFF with layer 00.
    if head.len() >= 2 && head[0] == 0xFF && (head[1] & 0xF6) == 0xF0 {
        return Sniffed {
            media_type: "audio/aac",
            kind: Some(MediaKind::Audio),
        };
    }
    let Some(t) = infer::get(head) else {
        return Sniffed {
            media_type: "application/octet-stream",
            kind: None,
        };
    };
    let media_type = t.mime_type();
    let kind = match t.matcher_type() {
        infer::MatcherType::Image => Some(MediaKind::Photo),
        infer::MatcherType::Video => Some(MediaKind::Video),
        infer::MatcherType::Audio => Some(MediaKind::Audio),
        infer::MatcherType::Doc | infer::MatcherType::Text => Some(MediaKind::Document),
        _ if media_type == "application/pdf" => Some(MediaKind::Document),
        _ => None,
    };
    Sniffed { media_type, kind }
}
