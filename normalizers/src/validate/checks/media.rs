//! MEDIA_MISSING and MEDIA_UNREADABLE (Đ6.3): a photo, audio or video, and every file readable.

use crate::messages;
use crate::report::{MediaKind, Report};
use crate::validate::{Check, Code, Context, Hit};

pub struct MediaMissing;

impl Check for MediaMissing {
    fn code(&self) -> Code {
        Code::MediaMissing
    }

    fn run(&self, report: &Report, _ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let has_evidence = report
            .attachments
            .iter()
            .any(|a| a.unreadable.is_none() && a.kind != MediaKind::Document);
        let has_any = !report.attachments.is_empty();
        // A corrupt photo is reported as MEDIA_UNREADABLE; MEDIA_MISSING only when nothing
        // that claims to be evidence was sent at all.
        let only_unreadable = has_any
            && report
                .attachments
                .iter()
                .all(|a| a.unreadable.is_some() || a.kind == MediaKind::Document)
            && report.attachments.iter().any(|a| a.unreadable.is_some());
        if !has_evidence && !only_unreadable {
            hits.push(Hit::new("attachments", messages::MEDIA_MISSING));
        }
    }
}

pub struct MediaUnreadable;

impl Check for MediaUnreadable {
    fn code(&self) -> Code {
        Code::MediaUnreadable
    }

    fn run(&self, report: &Report, _ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        for (i, a) in report.attachments.iter().enumerate() {
            if let Some(why) = &a.unreadable {
                hits.push(
                    Hit::new(
                        format!("attachments[{i}]"),
                        messages::media_unreadable(i, a.file_name.as_deref(), why),
                    )
                    .with_detail(serde_json::json!({
                        "claimed_type": a.claimed_type,
                        "sniffed_type": a.media_type,
                    })),
                );
            }
        }
    }
}
