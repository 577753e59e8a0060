//! CONTENT_MISSING (Đ6.1): the report must describe what happened.

use crate::messages;
use crate::report::Report;
use crate::validate::{Check, Code, Context, Hit};

/// Fewer letters than this is not a description ("ok", ".", an emoji).
const MIN_LETTERS: usize = 3;

pub struct ContentMissing;

impl Check for ContentMissing {
    fn code(&self) -> Code {
        Code::ContentMissing
    }

    fn run(&self, report: &Report, _ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let letters = report
            .content
            .text
            .chars()
            .filter(|c| c.is_alphabetic())
            .take(MIN_LETTERS)
            .count();
        if letters < MIN_LETTERS {
            hits.push(Hit::new("content.text", messages::CONTENT_MISSING));
        }
    }
}
