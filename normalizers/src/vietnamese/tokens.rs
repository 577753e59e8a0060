//! Splitting text into word tokens, keeping what sits between them (a dot after "P", a slash
//! in "3/2") because abbreviations and address parts are told apart by it.

/// What a token is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Letters only.
    Word,
    /// Digits only.
    Number,
    /// Letters and digits ("m2", "4G", "d9u7o72ng").
    Mixed,
}

#[derive(Debug, Clone)]
pub struct Token<'a> {
    /// As written (NFC).
    pub text: &'a str,
    pub lower: String,
    pub shape: Shape,
    /// Characters between the previous token and this one.
    pub before: &'a str,
    /// Characters between this token and the next one.
    pub after: &'a str,
    /// First token of a sentence (text start or after . ! ? : or a line break).
    pub sentence_start: bool,
}

impl Token<'_> {
    /// "Nguyễn", "Bến": first letter upper, rest lower.
    pub fn is_titlecase(&self) -> bool {
        let mut chars = self.text.chars();
        chars.next().is_some_and(char::is_uppercase) && chars.all(|c| !c.is_uppercase())
    }

    /// Every letter upper case ("UBND", "TP").
    pub fn is_uppercase(&self) -> bool {
        self.text.chars().any(char::is_alphabetic)
            && self
                .text
                .chars()
                .filter(|c| c.is_alphabetic())
                .all(char::is_uppercase)
    }

    pub fn is_lowercase(&self) -> bool {
        self.text.chars().all(|c| !c.is_uppercase())
    }

    pub fn letters(&self) -> usize {
        self.text.chars().filter(|c| c.is_alphabetic()).count()
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || ('\u{300}'..='\u{36F}').contains(&c)
}

/// Tokens of `text` (which should be NFC).
pub fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match (is_word_char(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    let mut tokens = Vec::with_capacity(spans.len());
    for (k, &(s, e)) in spans.iter().enumerate() {
        let prev_end = if k == 0 { 0 } else { spans[k - 1].1 };
        let next_start = spans.get(k + 1).map_or(text.len(), |n| n.0);
        let word = &text[s..e];
        let before = &text[prev_end..s];
        let has_alpha = word.chars().any(char::is_alphabetic);
        let has_digit = word.chars().any(|c| c.is_numeric());
        let shape = match (has_alpha, has_digit) {
            (true, false) => Shape::Word,
            (false, _) => Shape::Number,
            (true, true) => Shape::Mixed,
        };
        tokens.push(Token {
            text: word,
            lower: word.to_lowercase(),
            shape,
            before,
            after: &text[e..next_start],
            sentence_start: k == 0
                || before.contains(['.', '!', '?', ':', '\n', '"', '“', '(', '-', '…']),
        });
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_separators_for_address_parts() {
        let t = tokenize("P.5, đường 3/2");
        let words: Vec<&str> = t.iter().map(|t| t.text).collect();
        assert_eq!(words, ["P", "5", "đường", "3", "2"]);
        assert_eq!(t[0].after, ".");
        assert_eq!(t[3].after, "/");
        assert_eq!(t[1].shape, Shape::Number);
        assert!(t[0].sentence_start && !t[2].sentence_start);
    }

    #[test]
    fn mixed_tokens() {
        let t = tokenize("d9u7o72ng 4G");
        assert_eq!(t[0].shape, Shape::Mixed);
        assert_eq!(t[1].shape, Shape::Mixed);
    }
}
