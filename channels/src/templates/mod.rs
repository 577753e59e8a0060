//! Every sentence the channels say to the citizen, in Vietnamese, kept out of the channel logic
//! (the validator's own findings come from `normalizers::messages`).
//!
//! # Layout
//! - `conversation`: the IOC's messages to the citizen, framed for email and Zalo.
//! - `email`: acknowledgement and rejection replies (text and HTML).
//! - `zalo`: the OA conversation, its summary and answers, and the mini app.

pub mod conversation;
pub mod email;
pub mod zalo;

/// A wait as people say it, rounded up: `45 giây`, `3 phút`, `1 giờ`.
pub fn wait(secs: u64) -> String {
    match secs {
        0..=59 => format!("{} giây", secs.max(1)),
        60..=3599 => format!("{} phút", secs.div_ceil(60)),
        _ => format!("{} giờ", secs.div_ceil(3600)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn waits_are_rounded_up() {
        assert_eq!(super::wait(0), "1 giây");
        assert_eq!(super::wait(45), "45 giây");
        assert_eq!(super::wait(61), "2 phút");
        assert_eq!(super::wait(3600), "1 giờ");
        assert_eq!(super::wait(3601), "2 giờ");
    }
}
