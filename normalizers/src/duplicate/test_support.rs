//! Reports and fingerprints the duplicate tests compare.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{find, DuplicateConfig, Fingerprint, Matches};
use crate::report::{AdminMatch, Attachment, Channel, Coordinates, Envelope, Report};

pub(super) const PEPPER: &str = "test-pepper";

pub(super) fn at(hours_after: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap() + Duration::hours(hours_after)
}

pub(super) fn report(id: &str, hours_after: i64, text: &str) -> Report {
    let mut r = Report::new(Envelope {
        id: id.into(),
        tracking_code: format!("LA-{id}"),
        channel: Channel::App,
        channel_ref: None,
        received_at: at(hours_after),
    });
    r.content.text = text.into();
    r
}

pub(super) fn at_place(mut r: Report, lat: f64, lon: f64) -> Report {
    r.location.coordinates = Some(Coordinates { lat, lon });
    r
}

pub(super) fn in_commune(mut r: Report, address: &str) -> Report {
    r.location.address = Some(address.into());
    r.location.admin = Some(AdminMatch {
        old_district: Some("Huyện Bến Lức".into()),
        old_district_code: Some("80506".into()),
        old_commune: Some("Xã Mỹ Yên".into()),
        old_commune_code: Some("27832".into()),
        new_commune: Some("Xã Bến Lức".into()),
        new_commune_code: Some("27817".into()),
        confidence: 0.9,
    });
    r
}

/// `r` with a readable photo whose bytes hash to `sha`, the fields not given left empty.
pub(super) fn with_media(mut r: Report, sha: &str) -> Report {
    let photo = serde_json::json!({
        "kind": "photo",
        "media_type": "image/jpeg",
        "size": 1000,
        "sha256": sha,
        "captured_at_source": "none",
        "storage_key": format!("sha256/{sha}"),
    });
    let photo: Attachment = serde_json::from_value(photo).expect("an attachment");
    r.attachments.push(photo);
    r
}

pub(super) fn fp(r: &Report) -> Fingerprint {
    Fingerprint::of(r, &[], PEPPER)
}

pub(super) fn find_in(new: &Report, open: &[&Report]) -> Matches {
    let open: Vec<Fingerprint> = open.iter().map(|r| fp(r)).collect();
    find(&fp(new), &open, &DuplicateConfig::default())
}

pub(super) const LIGHT: &str = "Đèn đường trước nhà văn hóa ấp 3 bị hỏng, cả đoạn đường tối om từ tối qua, rất nguy hiểm cho người đi xe máy.";
pub(super) const LIGHT_AGAIN: &str = "Đèn đường trước nhà văn hóa ấp 3 hỏng rồi, buổi tối cả đoạn đường tối om, người đi xe máy rất nguy hiểm.";
pub(super) const LIGHT_UNMARKED: &str = "Den duong truoc nha van hoa ap 3 bi hong, ca doan duong toi om tu toi qua, rat nguy hiem cho nguoi di xe may.";
pub(super) const GARBAGE: &str = "Rác thải sinh hoạt đổ thành đống trước nhà văn hóa ấp 3 đã một tuần chưa có ai thu gom, bốc mùi hôi thối.";
