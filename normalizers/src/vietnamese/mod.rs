//! Vietnamese text analysis for the R-VAL-TEXT checks (Đ6.1) and the content rules (Đ7.4–7.6).
//!
//! [`analyse`] reads a description once and says: is it Vietnamese, is it typed with its marks
//! (có dấu) or without them or as raw Telex/VNI keystrokes, which chat and administrative
//! abbreviations it uses, whether it raises a complaint or denunciation (khiếu nại, tố cáo),
//! vulgar words, or insults against a named person, and which field of Đ5 it belongs to. The
//! checks in `validate::checks::{language, content_rules, category}` turn the [`Analysis`] into
//! findings. Everything is pure and fast: the word lists are compiled in and parsed once.
//!
//! Input is normalised to NFC first, so text typed with combining marks (NFD) gives the same
//! answer as precomposed text.
//!
//! # Layout
//! - `keystrokes`: Telex and VNI keystroke decoding (marks, tones and words: [`crate::text`]).
//! - `lexicon`: the shipped word lists (`data/vietnamese/`), parsed once.
//! - `abbreviations`: chat and administrative abbreviations (viết tắt).
//! - `rules`: complaint/denunciation, offensive words, suspected defamation.
//! - `category`: suggestion of the Đ5 field and sub-category.
//! - `eval`: corpus evaluation (false rejections, recall), shared by the example and the tests.

mod abbreviations;
mod category;
pub mod eval;
mod keystrokes;
mod lexicon;
mod rules;

pub use category::{categories, field_name, subcategory_name, suggest_category};

use serde_json::json;

use crate::report::{Abbreviation, AbbreviationKind, LanguageFacts};
use crate::text::{is_latin, is_marked_letter, Shape, Word};
use crate::validate::{Action, Code};
use lexicon::Lexicon;

/// Share of marked words below which a Vietnamese text counts as typed without marks. Low
/// enough that a marked text with a few unmarked names, units or loanwords still passes.
const MIN_DIACRITIC_RATIO: f32 = 0.3;

/// Share of marked words from which a text counts as written with its marks: half, so that
/// the unmarked words are the exception (then "to cao", "cao lon" are read as the marked
/// text's own words, and a keystroke in a mostly unmarked text is not forgiven).
const ACCENTED_TEXT_RATIO: f32 = 0.5;

/// Marked words needed before a text is judged written with marks: one marked word may be a
/// name pasted in.
const MIN_ACCENTED_WORDS: usize = 2;

/// Words without marks quoted back to the citizen as examples: enough to show the problem,
/// short enough for a chat message.
const MAX_UNACCENTED_EXAMPLES: usize = 5;

/// Non-Latin letters from which a text may be in another script (one stray symbol is not).
const MIN_OTHER_SCRIPT_LETTERS: usize = 2;

/// Below this many judged words (Vietnamese or foreign) a text is too short to call foreign
/// unless it has [`MIN_FOREIGN_WORDS_SHORT`] foreign words and nothing Vietnamese ("ok", "hi").
const MIN_WORDS_TO_JUDGE_LANGUAGE: usize = 3;

/// Foreign words that make a short text with no Vietnamese word foreign.
const MIN_FOREIGN_WORDS_SHORT: usize = 2;

/// Strong keystroke words (letter-shape keys typed raw) that alone make a text lack marks: two
/// cannot be a coincidence of spelling.
const MIN_STRONG_KEYSTROKES: usize = 2;

/// Judged words needed before the share of marked words means anything.
const MIN_JUDGED_WORDS: usize = 2;

/// Judged words from which a single suspect unmarked syllable ("khong") is enough.
const MIN_JUDGED_WORDS_ONE_SUSPECT: usize = 3;

/// Suspect unmarked syllables ("khong", "nhung", "toi") that make a short text lack marks.
const MIN_SUSPECT_PLAIN: usize = 2;

/// Unmarked syllables that make a text lack marks even when each is valid unmarked: a long
/// text never happens to avoid every mark.
const MIN_PLAIN_WORDS: usize = 8;

/// Share of the words that should carry marks from which a text written partly without marks
/// is refused (CONTENT_NO_DIACRITICS): a third. Below it the words are flagged
/// (CONTENT_PARTIAL_DIACRITICS) for the IOC, and the citizen is not turned away.
const PARTIAL_REJECT_NUM: usize = 1;
const PARTIAL_REJECT_DEN: usize = 3;

/// Unmarked words needed before the share of a third rejects: one bare word in a three-word
/// text is a slip, flagged, not refused.
const MIN_UNMARKED_TO_REJECT: usize = 2;

/// Bare syllables usually written with marks ("toi", "giay") that flag a text on their own
/// (without a word that is no syllable at all): one may be a word of its own ("con cua").
const MIN_BARE_SYLLABLES_TO_FLAG: usize = 2;

/// Words without marks named in the CONTENT_PARTIAL_DIACRITICS finding.
const MAX_PARTIAL_WORDS: usize = 12;

/// Words around which a Vietnamese place name sits ("ấp 3", "xã Mỹ Yên", "đường Hùng Vương"),
/// with and without marks. In a text where foreign words outweigh the Vietnamese ones, these
/// and capitalised words are address, not evidence that the text is Vietnamese.
const PLACE_WORDS: &[&str] = &[
    "ấp",
    "xã",
    "phường",
    "huyện",
    "tỉnh",
    "quận",
    "thị",
    "trấn",
    "xóm",
    "khu",
    "phố",
    "thành",
    "đường",
    "hẻm",
    "kênh",
    "cầu",
    "chợ",
    "quốc",
    "lộ",
    "sông",
    "tp",
    "số",
    "ap",
    "xa",
    "phuong",
    "huyen",
    "tinh",
    "quan",
    "thi",
    "tran",
    "xom",
    "duong",
    "hem",
    "kenh",
    "cau",
    "quoc",
    "lo",
];

/// Letters of French, German or Spanish that Vietnamese never writes: a word with one is foreign.
const FOREIGN_ONLY_LETTERS: &str = "çœæëïüÿîûñöäßåøÇŒÆËÏÜŸÎÛÑÖÄÅØ";

/// Letters from which a word with marks that is no syllable, marked only with French accents
/// ("cassé", "réparé"), is read as French rather than as a Vietnamese typo ("đúg", "nhìu").
const MIN_FRENCH_MARKED_LETTERS: usize = 5;

/// Letter words from which a text written mostly in capitals counts as shouting.
const MIN_SHOUTING_WORDS: usize = 3;

/// Share of capitalised words (in tenths) from which a text counts as shouting: 70 %.
const SHOUTING_TENTHS: usize = 7;

/// Letters of an acronym in capitals ("UB", "UBND"): one capital letter is an initial.
const MIN_ACRONYM_LETTERS: usize = 2;

/// Letters of a word read as Telex keystrokes: shorter words ("as", "of") are too ambiguous.
const MIN_TELEX_LETTERS: usize = 3;

/// What one word is.
#[derive(Debug, Clone, PartialEq)]
enum WordClass {
    /// A valid syllable written with its marks ("đường").
    Accented,
    /// Carries Vietnamese marks but is no valid syllable (a typo, "đúg", "nhìu").
    MarkedOther,
    /// A valid syllable that has no marks ("cho", "con", "khong").
    Plain,
    /// A syllable with its marks dropped ("duong", "nguoi").
    Stripped,
    /// Raw Telex or VNI keystrokes of a syllable; `strong` when letter-shape keys were typed
    /// ("dduwowngf", "d9u7o72ng"), not only a tone key ("cos").
    Keystrokes { syllable: String, strong: bool },
    /// A frequent English or French word that is no Vietnamese syllable.
    English,
    /// A loanword or brand (wifi, camera, container, Zalo).
    Loanword,
    /// An acronym in capitals (UBND, CSGT, ATM).
    Acronym,
    /// A capitalised word that is no syllable (a foreign name: George, Kenneth).
    Name,
    /// A Latin word that is neither Vietnamese nor known.
    Foreign,
    /// Letters of another script (Chinese, Thai, Cyrillic…).
    OtherScript,
    /// Digits, or digits with letters (m2, 4G, QL1A).
    Number,
}

/// Everything [`analyse`] found in a text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Analysis {
    /// Word tokens (letters, with or without digits).
    pub words: usize,
    /// Words written with Vietnamese marks.
    pub accented: usize,
    /// Vietnamese syllables written without marks (valid as written, or with marks dropped).
    pub unaccented: usize,
    /// Words that only make sense with their marks ("duong", "nguoi").
    pub stripped: usize,
    /// Raw input-method keystrokes and the syllable meant: ("dduwowngf", "đường").
    pub keystrokes: Vec<(String, String)>,
    /// Latin words that are not Vietnamese (English or unknown), names and loanwords excluded.
    pub foreign: usize,
    /// Letters of non-Latin scripts.
    pub other_script_letters: usize,
    /// Letters of the Latin script.
    pub latin_letters: usize,
    /// Share of Vietnamese-looking words that carry marks (0..1).
    pub diacritic_ratio: f32,
    /// The text reads as Vietnamese (or is too short to tell).
    pub is_vietnamese: bool,
    /// Vietnamese typed wholly or mostly without marks, or as keystrokes (CONTENT_NO_DIACRITICS).
    pub lacks_diacritics: bool,
    /// Examples of words typed without marks, for the message.
    pub unaccented_examples: Vec<String>,
    /// Words that should carry marks and do not ("duyet", "khong", "toi"; names, numbers,
    /// codes, units, loanwords and foreign words never), with strong keystrokes: the numerator
    /// of the partial-diacritics share.
    pub unmarked_words: usize,
    /// Words that should carry marks: those written with them plus [`Self::unmarked_words`].
    pub markable_words: usize,
    /// Vietnamese with marks where a few words lack them (below a third): flagged
    /// CONTENT_PARTIAL_DIACRITICS, naming [`Self::partial_words`].
    pub partial_diacritics: bool,
    /// The words written without their marks, each once, in order.
    pub partial_words: Vec<String>,
    /// Abbreviations, each once, in order of appearance.
    pub abbreviations: Vec<Abbreviation>,
    /// Complaint or denunciation terms (as listed, with marks).
    pub complaint_terms: Vec<String>,
    /// Vulgar or offensive words found (as written).
    pub offensive_terms: Vec<String>,
    /// Suspected defamation: (person mentioned, insult or accusation).
    pub defamation: Vec<(String, String)>,
}

impl Analysis {
    /// The facts stored on the report (`content.language`).
    /// Share of the words that should carry marks written without them (0..1).
    pub fn unmarked_share(&self) -> f32 {
        if self.markable_words == 0 {
            0.0
        } else {
            self.unmarked_words as f32 / self.markable_words as f32
        }
    }

    pub fn language_facts(&self) -> LanguageFacts {
        LanguageFacts {
            diacritic_ratio: self.diacritic_ratio,
            is_vietnamese: self.is_vietnamese,
            abbreviations: self.abbreviations.clone(),
        }
    }

    pub fn chat_abbreviations(&self) -> impl Iterator<Item = &Abbreviation> {
        self.abbreviations
            .iter()
            .filter(|a| a.kind == AbbreviationKind::Chat)
    }

    pub fn administrative_abbreviations(&self) -> impl Iterator<Item = &Abbreviation> {
        self.abbreviations
            .iter()
            .filter(|a| a.kind == AbbreviationKind::Administrative)
    }

    /// The text codes this analysis raises, each with the strongest action SPEC §5 allows it
    /// (administrative abbreviations alone are at most flagged). Category is not included: it
    /// depends on the category the citizen chose.
    pub fn findings(&self) -> Vec<(Code, Action)> {
        let mut out = Vec::new();
        if !self.is_vietnamese {
            out.push((
                Code::ContentNotVietnamese,
                Code::ContentNotVietnamese.default_action(),
            ));
        }
        if self.lacks_diacritics {
            out.push((
                Code::ContentNoDiacritics,
                Code::ContentNoDiacritics.default_action(),
            ));
        }
        if self.partial_diacritics {
            out.push((
                Code::ContentPartialDiacritics,
                Code::ContentPartialDiacritics.default_action(),
            ));
        }
        if self.chat_abbreviations().next().is_some() {
            out.push((
                Code::ContentAbbreviation,
                Code::ContentAbbreviation.default_action(),
            ));
        } else if self.administrative_abbreviations().next().is_some() {
            out.push((Code::ContentAbbreviation, Action::Flag));
        }
        if !self.complaint_terms.is_empty() {
            out.push((
                Code::ComplaintOrDenunciation,
                Code::ComplaintOrDenunciation.default_action(),
            ));
        }
        if !self.offensive_terms.is_empty() {
            out.push((
                Code::OffensiveContent,
                Code::OffensiveContent.default_action(),
            ));
        }
        if !self.defamation.is_empty() {
            out.push((
                Code::DefamationSuspected,
                Code::DefamationSuspected.default_action(),
            ));
        }
        out
    }

    pub fn codes(&self) -> Vec<Code> {
        self.findings().into_iter().map(|(c, _)| c).collect()
    }

    /// Whether, with SPEC §5's default actions, the text alone gets the report rejected.
    pub fn rejects(&self) -> bool {
        self.findings().iter().any(|(_, a)| *a == Action::Reject)
    }
}

/// Analyse a description. Pure; a few microseconds per word once the lexicon is loaded
/// (`benches/text.rs`).
pub fn analyse(text: &str) -> Analysis {
    // Most input is already NFC: check quickly before copying.
    let text: std::borrow::Cow<'_, str> = match unicode_normalization::is_nfc_quick(text.chars()) {
        unicode_normalization::IsNormalized::Yes => std::borrow::Cow::Borrowed(text),
        _ => std::borrow::Cow::Owned(crate::text::nfc(text)),
    };
    let lx = lexicon::get();
    let tokens = crate::text::words(&text);
    let shouting = is_shouting(&tokens);
    let classes: Vec<WordClass> = tokens.iter().map(|t| classify(lx, t, shouting)).collect();

    let mut a = Analysis::default();
    let mut plain = 0usize;
    let mut plain_english = 0usize;
    // Unmarked syllables that are usually written with marks ("khong", "nhung", "toi").
    let mut plain_suspect = 0usize;
    let mut strong_keys = 0usize;
    let mut weak_keys = 0usize;
    // Vietnamese words that are neither place names nor also English/French words: the
    // evidence a text with many foreign words is Vietnamese all the same.
    let mut core = 0usize;
    // Unmarked words that are no syllable as written (stripped syllables, strong keystrokes).
    let mut unmarked_non_syllables = 0usize;
    // Bare syllables that are as often words of their own as words whose marks were dropped
    // ("ba", "nay", "ban"): each counts as half an unmarked word in the share that rejects.
    let mut maybe_unmarked = 0usize;
    for (i, (tok, class)) in tokens.iter().zip(&classes).enumerate() {
        if tok.shape != Shape::Number {
            a.words += 1;
        }
        for c in tok.text.chars().filter(|c| c.is_alphabetic()) {
            if is_latin(c) {
                a.latin_letters += 1;
            } else {
                a.other_script_letters += 1;
            }
        }
        // "a" (anh), "i" are Vietnamese far more often than English.
        let is_ambiguous = tok.letters() > 1
            && (lx.english.contains(tok.lower.as_str()) || lx.french.contains(tok.lower.as_str()));
        let vietnamese_word = matches!(
            class,
            WordClass::Accented
                | WordClass::MarkedOther
                | WordClass::Plain
                | WordClass::Stripped
                | WordClass::Keystrokes { strong: true, .. }
        );
        if vietnamese_word && !is_ambiguous && !is_place(&tokens, i) {
            core += 1;
        }
        // A capitalised word inside a sentence is a name ("Hung Vuong", "Long An"): its marks
        // are not judged one by one.
        let name = tok.is_titlecase() && !tok.sentence_start && !shouting;
        let unmarked = |a: &mut Analysis, non_syllables: &mut usize| {
            if !name {
                if !matches!(class, WordClass::Plain) {
                    *non_syllables += 1;
                }
                a.unmarked_words += 1;
                if a.partial_words.len() < MAX_PARTIAL_WORDS
                    && !a.partial_words.contains(&tok.lower)
                {
                    a.partial_words.push(tok.lower.clone());
                }
            }
        };
        match class {
            WordClass::Accented | WordClass::MarkedOther => a.accented += 1,
            WordClass::Plain => {
                plain += 1;
                if lx.english.contains(tok.lower.as_str()) {
                    plain_english += 1;
                }
                if lx.usually_marked.contains(&tok.lower) {
                    unmarked(&mut a, &mut unmarked_non_syllables);
                }
                if !lx.unmarked_common.contains(&tok.lower) && !lx.chat.contains_key(&tok.lower) {
                    plain_suspect += 1;
                    if !lx.usually_marked.contains(&tok.lower) && !name {
                        maybe_unmarked += 1;
                    }
                    if a.unaccented_examples.len() < MAX_UNACCENTED_EXAMPLES
                        && !a.unaccented_examples.contains(&tok.lower)
                    {
                        a.unaccented_examples.push(tok.lower.clone());
                    }
                }
            }
            WordClass::Stripped => {
                a.stripped += 1;
                unmarked(&mut a, &mut unmarked_non_syllables);
                if a.unaccented_examples.len() < MAX_UNACCENTED_EXAMPLES
                    && !a.unaccented_examples.contains(&tok.lower)
                {
                    a.unaccented_examples.push(tok.lower.clone());
                }
            }
            WordClass::Keystrokes { syllable, strong } => {
                if *strong {
                    strong_keys += 1;
                    unmarked(&mut a, &mut unmarked_non_syllables);
                } else {
                    weak_keys += 1;
                }
                if !a.keystrokes.iter().any(|(w, _)| w == &tok.lower) {
                    a.keystrokes.push((tok.lower.clone(), syllable.clone()));
                }
            }
            WordClass::English | WordClass::Foreign => a.foreign += 1,
            WordClass::Loanword
            | WordClass::Acronym
            | WordClass::Name
            | WordClass::OtherScript
            | WordClass::Number => {}
        }
    }

    // English (and French) function words that are also unmarked syllables ("the", "to", "in",
    // "le", "ma") count as foreign in a text that has no marked letter at all, or where foreign
    // words outweigh the Vietnamese words that are not place names ("The light at ấp 3, xã Mỹ
    // Yên is broken"); so do bare tone keystrokes there ("est", "trois" are not "ét", "trói").
    let foreign_dominant = a.foreign + weak_keys > core;
    let (vn_plain, english_plain) = if a.accented == 0 && a.stripped + strong_keys == 0 {
        (plain - plain_english, plain_english)
    } else {
        (plain, 0)
    };
    a.foreign += english_plain;
    a.unaccented = plain + a.stripped + strong_keys + weak_keys;
    let vietnamese = a.accented + a.stripped + strong_keys + vn_plain;
    let judged = a.accented + a.unaccented;
    a.diacritic_ratio = if judged == 0 {
        1.0
    } else {
        a.accented as f32 / judged as f32
    };

    a.is_vietnamese = if a.other_script_letters >= MIN_OTHER_SCRIPT_LETTERS
        && a.other_script_letters > a.latin_letters
    {
        false
    } else if vietnamese + a.foreign < MIN_WORDS_TO_JUDGE_LANGUAGE {
        !(a.foreign >= MIN_FOREIGN_WORDS_SHORT && vietnamese == 0)
    } else if foreign_dominant {
        // More foreign words than Vietnamese words that are neither addresses nor foreign too.
        false
    } else {
        a.foreign <= vietnamese
    };

    a.markable_words = a.accented + a.unmarked_words;
    // (unmarked + maybe / 2) / (markable + maybe) ≥ 1/3, in integers.
    let share_rejects = a.unmarked_words >= MIN_UNMARKED_TO_REJECT
        && (2 * a.unmarked_words + maybe_unmarked) * PARTIAL_REJECT_DEN
            >= 2 * (a.markable_words + maybe_unmarked) * PARTIAL_REJECT_NUM;
    a.lacks_diacritics = a.is_vietnamese
        && (strong_keys >= MIN_STRONG_KEYSTROKES
            || (strong_keys >= 1 && a.diacritic_ratio < ACCENTED_TEXT_RATIO)
            || share_rejects
            || (judged >= MIN_JUDGED_WORDS
                && a.diacritic_ratio < MIN_DIACRITIC_RATIO
                && (a.stripped + weak_keys >= 1
                    || plain_suspect >= MIN_SUSPECT_PLAIN
                    || (plain_suspect >= 1 && judged >= MIN_JUDGED_WORDS_ONE_SUSPECT)
                    || plain >= MIN_PLAIN_WORDS)));
    // One bare syllable that is also a word ("con cua", "va chạm", "quanh co") is not enough:
    // a word that is no syllable without its marks ("duyet"), a keystroke, or two bare words.
    let bare_syllables = a.unmarked_words - unmarked_non_syllables;
    a.partial_diacritics = a.is_vietnamese
        && !a.lacks_diacritics
        && (unmarked_non_syllables >= 1 || bare_syllables >= MIN_BARE_SYLLABLES_TO_FLAG);
    if !a.partial_diacritics {
        a.partial_words.clear();
    }

    let accented_text = !a.lacks_diacritics
        && a.accented >= MIN_ACCENTED_WORDS
        && a.diacritic_ratio >= ACCENTED_TEXT_RATIO;
    if a.is_vietnamese {
        a.abbreviations = abbreviations::find(lx, &tokens, &classes, accented_text, shouting);
    }
    let lowers: Vec<&str> = tokens.iter().map(|t| t.lower.as_str()).collect();
    a.complaint_terms = rules::complaint_terms(
        lx,
        &lowers,
        a.lacks_diacritics || a.diacritic_ratio < ACCENTED_TEXT_RATIO,
    );
    a.offensive_terms = rules::offensive_terms(lx, &tokens, accented_text);
    a.defamation = rules::defamation(lx, &tokens, &a.offensive_terms);
    a
}

/// A word with marks that is no syllable and is marked the French way: only é or è among
/// otherwise plain letters, and long enough not to be a chat typo ("cassé", "réparée", "électrique").
fn is_french_spelling(lower: &str) -> bool {
    lower.chars().count() >= MIN_FRENCH_MARKED_LETTERS
        && lower.chars().any(|c| c == 'é' || c == 'è')
        && lower
            .chars()
            .all(|c| c.is_ascii_lowercase() || "éèêàâùûôî".contains(c))
}

/// `tokens[i]` is part of an address: a capitalised word inside a sentence ("Mỹ Yên"), or a
/// place word ("ấp", "xã", "thị trấn") followed by a number, a name or another place word.
/// A place word in ordinary use ("đường quyền", "chợ chiều") is not.
fn is_place(tokens: &[Word<'_>], i: usize) -> bool {
    let place_word = |t: &Word<'_>| PLACE_WORDS.contains(&t.lower.as_str());
    let tok = &tokens[i];
    if tok.is_titlecase() && !tok.sentence_start {
        return true;
    }
    place_word(tok)
        && tokens.get(i + 1).is_some_and(|n| {
            n.shape != Shape::Word || (n.is_titlecase() && !n.sentence_start) || place_word(n)
        })
}

/// Most letters are capitals: capitals then mean nothing (no acronyms, no names).
fn is_shouting(tokens: &[Word<'_>]) -> bool {
    let words: Vec<&Word<'_>> = tokens.iter().filter(|t| t.shape == Shape::Word).collect();
    words.len() >= MIN_SHOUTING_WORDS
        && words.iter().filter(|t| t.is_uppercase()).count() * 10 >= words.len() * SHOUTING_TENTHS
}

fn classify(lx: &Lexicon, tok: &Word<'_>, shouting: bool) -> WordClass {
    let lower = tok.lower.as_str();
    match tok.shape {
        Shape::Number => return WordClass::Number,
        Shape::Mixed => {
            return match keystrokes::vni(lower)
                .and_then(|(shape, tone)| lx.syllable_for(&shape, tone))
            {
                Some(s) if s != lower => WordClass::Keystrokes {
                    syllable: s.to_string(),
                    strong: true,
                },
                _ => WordClass::Number,
            };
        }
        Shape::Word => {}
    }
    if tok.text.is_ascii() {
        // No marks, no other script: the common case of unmarked words.
    } else if tok.text.chars().any(|c| c.is_alphabetic() && !is_latin(c)) {
        return WordClass::OtherScript;
    } else if tok.text.chars().any(|c| FOREIGN_ONLY_LETTERS.contains(c)) {
        return WordClass::Foreign;
    } else if tok.text.chars().any(is_marked_letter) {
        return if lx.is_syllable(lower) {
            WordClass::Accented
        } else if lx.french.contains(lower) || is_french_spelling(lower) {
            WordClass::Foreign
        } else {
            WordClass::MarkedOther
        };
    }
    if lx.loanwords.contains(lower) {
        return WordClass::Loanword;
    }
    if !shouting && tok.letters() >= MIN_ACRONYM_LETTERS && tok.is_uppercase() {
        return WordClass::Acronym;
    }
    if lx.is_syllable(lower) {
        return WordClass::Plain;
    }
    if lx.english.contains(lower) || lx.french.contains(lower) {
        return WordClass::English;
    }
    if lx.stripped.contains(lower) {
        return WordClass::Stripped;
    }
    if tok.letters() >= MIN_TELEX_LETTERS {
        if let Some((shape, tone)) = keystrokes::telex(lower) {
            if let Some(s) = lx.syllable_for(&shape, tone) {
                return WordClass::Keystrokes {
                    syllable: s.to_string(),
                    strong: shape.chars().any(is_marked_letter),
                };
            }
        }
    }
    if tok.is_titlecase() && !shouting {
        return WordClass::Name;
    }
    if lx.chat.contains_key(lower) || lx.formal_lower.contains_key(lower) {
        // Chat shortcuts are Vietnamese writing, not a foreign language.
        return WordClass::Plain;
    }
    WordClass::Foreign
}

/// The JSON the `gateway check-text` command prints for one line of text:
/// `{"codes":[…],"words":[…],…}` where `words` are the words a citizen would have to fix.
pub fn check_text_line(line: &str) -> serde_json::Value {
    let a = analyse(line);
    let mut words: Vec<String> = Vec::new();
    let mut push = |w: &str| {
        if !words.iter().any(|x| x == w) {
            words.push(w.to_string());
        }
    };
    if a.lacks_diacritics {
        for w in &a.unaccented_examples {
            push(w);
        }
        for (w, _) in &a.keystrokes {
            push(w);
        }
    }
    for w in &a.partial_words {
        push(w);
    }
    for ab in &a.abbreviations {
        push(&ab.word);
    }
    for t in &a.offensive_terms {
        push(t);
    }
    let suggestion = suggest_category(line);
    json!({
        "codes": a.codes().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "words": words,
        "rejected": a.rejects(),
        "diacritic_ratio": a.diacritic_ratio,
        "unmarked_share": a.unmarked_share(),
        "abbreviations": a.abbreviations.iter().map(|ab| json!({
            "word": ab.word, "full_form": ab.full_form, "kind": ab.kind,
        })).collect::<Vec<_>>(),
        "keystrokes": a.keystrokes.iter().map(|(w, s)| json!({"word": w, "meant": s})).collect::<Vec<_>>(),
        "complaint_terms": a.complaint_terms,
        "defamation": a.defamation.iter().map(|(who, what)| json!({"person": who, "words": what})).collect::<Vec<_>>(),
        "category": suggestion.map(|(field, subcategory, confidence)| json!({
            "field": field, "subcategory": subcategory, "confidence": confidence,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::UnicodeNormalization;

    fn words(a: &Analysis) -> Vec<&str> {
        a.abbreviations.iter().map(|x| x.word.as_str()).collect()
    }

    #[test]
    fn proper_vietnamese_passes() {
        let texts = [
            "Đèn đường trước nhà số 12 đường 3/2, phường 5, thành phố Tân An bị hỏng từ tối 28/11.",
            "Ông Nguyễn Văn Tư ở ấp 4, xã Mỹ Yên cho biết nước ngập sâu 0,5 m trên đoạn đường dài 200 m.",
            "Camera giám sát và wifi công cộng ở công viên không hoạt động; container đậu chắn lối đi.",
            "Hẻm 12/3 đường Hùng Vương, khu phố 2, lô B: cống bị nghẹt, bốc mùi hôi suốt tuần nay.",
            "Xe tải chở quá 20 tấn chạy trên cầu yếu ở Quốc lộ 1A lúc 5 g sáng.",
        ];
        for t in texts {
            let a = analyse(t);
            assert!(a.is_vietnamese, "{t}");
            assert!(!a.lacks_diacritics, "{t}: {a:?}");
            assert!(
                a.chat_abbreviations().next().is_none(),
                "{t}: {:?}",
                words(&a)
            );
            assert!(!a.rejects(), "{t}: {:?}", a.codes());
        }
    }

    #[test]
    fn nfd_input_gives_the_same_answer() {
        for t in [
            "Đèn đường hư, ko ai sửa",
            "Nước thải xả ra kênh, UBND xã chưa xử lý",
            "Ông Nguyễn Văn A là đồ ăn cướp, tố cáo",
        ] {
            let nfd: String = t.nfd().collect();
            assert_ne!(nfd, t);
            assert_eq!(analyse(&nfd), analyse(t), "{t}");
            assert_eq!(check_text_line(&nfd), check_text_line(t));
        }
    }

    #[test]
    fn unaccented_text_is_caught() {
        for t in [
            "Den duong truoc nha toi bi hu ba ngay nay",
            "Nuoc thai tu nha may chay ra kenh gay o nhiem",
            "Nhung khong ai sua",
        ] {
            let a = analyse(t);
            assert!(a.is_vietnamese, "{t}");
            assert!(a.lacks_diacritics, "{t}: {a:?}");
            assert_eq!(a.codes()[0], Code::ContentNoDiacritics);
        }
        // Mostly without marks: one marked word does not save it.
        assert!(analyse("Đường nay bi ngap nuoc rat sau, xe khong di duoc").lacks_diacritics);
    }

    #[test]
    fn telex_and_vni_keystrokes_are_caught() {
        let a = analyse("dduwowngf nayf bij ngaapj nuwowcs");
        assert!(a.lacks_diacritics, "{a:?}");
        assert!(a
            .keystrokes
            .contains(&("dduwowngf".to_string(), "đường".to_string())));
        assert!(a
            .keystrokes
            .contains(&("nuwowcs".to_string(), "nước".to_string())));
        let a = analyse("d9u7o72ng na2y bi5 nga65p nu7o71c");
        assert!(a.lacks_diacritics, "{a:?}");
        assert!(a
            .keystrokes
            .contains(&("d9u7o72ng".to_string(), "đường".to_string())));
    }

    #[test]
    fn chat_abbreviations_are_rejected_with_full_forms() {
        let a = analyse("Đèn đường hư mấy ngày rồi mà ko ai sửa, đc thì mn báo giúp");
        let chat: Vec<(&str, &str)> = a
            .chat_abbreviations()
            .map(|x| (x.word.as_str(), x.full_form.as_str()))
            .collect();
        assert_eq!(chat, [("ko", "không"), ("đc", "được"), ("mn", "mọi người")]);
        assert!(a.rejects());
        let a = analyse("sao t gửi đc bây, làm j bọn nó");
        assert_eq!(words(&a), ["t", "đc", "j"]);
    }

    #[test]
    fn administrative_abbreviations_are_only_flagged() {
        let a = analyse("UBND xã và CSGT đã đến hiện trường tại TP.HCM và P.5, TP. Tân An.");
        let admin: Vec<&str> = a
            .administrative_abbreviations()
            .map(|x| x.word.as_str())
            .collect();
        assert_eq!(admin, ["UBND", "CSGT", "TP.HCM", "P", "TP"]);
        assert!(a.chat_abbreviations().next().is_none());
        assert_eq!(a.findings(), [(Code::ContentAbbreviation, Action::Flag)]);
        assert!(!a.rejects());
    }

    #[test]
    fn single_letters_in_addresses_and_units_pass() {
        for t in [
            "Số 12 đường 3/2, ấp 4, P.5: mặt đường lún sâu 2 m.",
            "Lô B khu A chung cư bị mất nước, cột đèn số 7 nghiêng.",
            "Bà con e ngại đi qua đoạn đường này vào ban đêm.",
            "Giá 50.000 đ / kg, cách 10 m.",
        ] {
            let a = analyse(t);
            assert!(
                a.chat_abbreviations().next().is_none(),
                "{t}: {:?}",
                words(&a)
            );
        }
        assert_eq!(words(&analyse("xem r nè, t lạy m")), ["r", "t", "m"]);
    }

    #[test]
    fn foreign_text_is_not_vietnamese() {
        for t in [
            "The street light in front of my house has been broken for three days.",
            "路灯坏了三天了，请尽快修理。",
            "Уличный фонарь не работает.",
        ] {
            let a = analyse(t);
            assert!(!a.is_vietnamese, "{t}: {a:?}");
            assert_eq!(a.codes(), [Code::ContentNotVietnamese], "{t}");
        }
        // Short or mixed texts are not judged foreign.
        assert!(analyse("ok").is_vietnamese);
        assert!(analyse("Wifi công cộng hỏng").is_vietnamese);
    }

    #[test]
    fn a_few_words_without_marks_are_flagged_by_name() {
        // Each written the way citizens write: mostly with marks, a few words left bare.
        let cases: &[(&str, &[&str])] = &[
            (
                "Tôi đến xã làm thủ tuc cấp giay tờ đất nhưng hồ sơ vẫn chưa được duyet.",
                &["tuc", "giay", "duyet"],
            ),
            (
                "Đèn đường trước nhà tôi bị hư, nguoi dân phải đi trong bóng tối.",
                &["nguoi"],
            ),
            (
                "Rác thải đổ bừa bãi ở đầu hẻm, bốc mùi hôi thoi suốt cả tuần, khong ai dọn.",
                &["thoi", "khong"],
            ),
            (
                "Nước ngập sâu trên đường Hùng Vương, xe máy chết máy hàng loat, người dân rất khổ.",
                &["loat"],
            ),
        ];
        for (text, words) in cases {
            let a = analyse(text);
            assert!(a.partial_diacritics, "{text}: {a:?}");
            assert!(!a.lacks_diacritics, "{text}");
            assert_eq!(a.partial_words, *words, "{text}");
            assert_eq!(
                a.findings(),
                [(Code::ContentPartialDiacritics, Action::Flag)],
                "{text}"
            );
            assert!(!a.rejects(), "{text}");
        }
    }

    #[test]
    fn from_a_third_of_the_words_without_marks_it_is_rejected() {
        let a = analyse("Tôi đến xã làm thu tuc cấp giay to đất nhưng ho so nộp từ tháng trước chua duoc duyet.");
        assert!(a.lacks_diacritics, "{a:?}");
        assert!(!a.partial_diacritics);
        assert!(a.unmarked_share() >= 1.0 / 3.0, "{}", a.unmarked_share());
        // Just under a third: flagged, not refused.
        let a = analyse(
            "Người dân phản ánh đoạn đường trước chợ bị ngập sâu, rác trôi khap noi, xe cộ không đi được.",
        );
        assert!(a.partial_diacritics && !a.lacks_diacritics, "{a:?}");
        assert!(a.unmarked_share() < 1.0 / 3.0);
    }

    #[test]
    fn names_numbers_codes_units_and_loanwords_are_not_judged_for_marks() {
        for t in [
            "Ông Nguyen Van Tu ở ấp 3 phản ánh đèn đường hỏng.",
            "Xe tải chạy 80 km/h trên QL1A và ĐT.830, UBND xã chưa xử lý.",
            "Camera và wifi ở công viên hỏng, container đậu chắn lối đi.",
            "Cây xanh trên đường Long An bị đổ, chắn ngang lối đi lúc 5 giờ sáng.",
            // One bare syllable that is a word of its own. (Two in one text are flagged: the
            // rule cannot tell "con cua" from "của" without a dictionary of compounds.)
            "Con cua, con cá chết nổi trên kênh bốc mùi hôi thối.",
            "Người dân nhặt ve chai bị chó cắn ở đầu hẻm.",
        ] {
            let a = analyse(t);
            assert!(!a.partial_diacritics && !a.lacks_diacritics, "{t}: {a:?}");
        }
    }

    #[test]
    fn money_time_and_weekday_shorthands_are_named_with_their_full_form() {
        let pairs = |t: &str| -> Vec<(String, String)> {
            analyse(t)
                .chat_abbreviations()
                .map(|x| (x.word.clone(), x.full_form.clone()))
                .collect()
        };
        let p = |w: &str, f: &str| (w.to_string(), f.to_string());
        assert_eq!(
            pairs("Sáng t7 tôi gửi xe mất 10k, đến 10h30 mới lấy được xe."),
            [
                p("t7", "thứ bảy"),
                p("10k", "10 nghìn đồng"),
                p("10h30", "10 giờ 30")
            ]
        );
        assert_eq!(
            pairs("Bãi xe thu 50k một đêm, mở từ 5h đến 22h, phạt 1,5tr nếu quá 30p."),
            [
                p("50k", "50 nghìn đồng"),
                p("5h", "5 giờ"),
                p("22h", "22 giờ"),
                p("1,5tr", "1,5 triệu đồng"),
                p("30p", "30 phút")
            ]
        );
        assert_eq!(
            pairs("Vk ck tôi bít là cống nghẹt từ cn tuần trước mà hok ai sửa."),
            [
                p("vk", "vợ"),
                p("ck", "chồng / chuyển khoản"),
                p("bít", "biết"),
                p("cn", "chủ nhật"),
                p("hok", "không")
            ]
        );
        assert_eq!(
            pairs("Bx nhà tôi kêu ox ra xem, ko ai dọn rác."),
            [p("bx", "bà xã"), p("ox", "ông xã"), p("ko", "không")]
        );
        assert!(analyse("Sáng t7 tôi gửi xe mất 10k.").rejects());
    }

    #[test]
    fn proper_forms_are_not_shorthands() {
        for t in [
            "Xe tải chạy 80 km/h trên ĐT.830, ĐT 827, QL 1A và QL1A.",
            "Cống bị bít kín, nước tràn vào nhà ở hẻm 12.",
            "Mạng 4G yếu, diện tích 20 m2, lô T7 khu B.",
            "Tuyến xe buýt số 5 chạy lúc 5 giờ 30 sáng thứ bảy và chủ nhật.",
        ] {
            let a = analyse(t);
            assert!(
                a.chat_abbreviations().next().is_none(),
                "{t}: {:?}",
                words(&a)
            );
            assert!(!a.rejects(), "{t}: {:?}", a.codes());
        }
        let admin: Vec<String> = analyse("UBND xã và QL1A")
            .administrative_abbreviations()
            .map(|x| x.word.clone())
            .collect();
        assert_eq!(admin, ["UBND"]);
    }

    #[test]
    fn english_and_french_with_vietnamese_place_names_are_not_vietnamese() {
        for t in [
            "The street light in front of my house at ấp 3, xã Mỹ Yên has been broken for a week.",
            "The street light at ap 3, xa My Yen is broken since last week, please fix it.",
            "There is garbage on the road near Chợ Tân An, phường 1, nobody has cleaned it.",
            "Le lampadaire devant ma maison à ấp 3, xã Mỹ Yên est cassé depuis trois jours.",
            "Le lampadaire devant ma maison a ap 3 xa My Yen est casse depuis trois jours.",
            "Il y a des ordures dans la rue près du marché de Tân An depuis une semaine.",
            "La route est inondée devant l'école de xã Bình Đức, huyện Bến Lức.",
        ] {
            let a = analyse(t);
            assert!(!a.is_vietnamese, "{t}: {a:?}");
            assert_eq!(a.codes(), [Code::ContentNotVietnamese], "{t}");
        }
        // Vietnamese with a few English words still passes.
        for t in [
            "Camera an ninh và wifi công cộng ở ấp 3 bị hỏng từ tuần trước.",
            "Có người livestream cảnh container chắn ngang đường Hùng Vương.",
            "Quán bar Happy Night mở nhạc quá to sau 12 giờ đêm, cả xóm không ngủ được.",
        ] {
            let a = analyse(t);
            assert!(a.is_vietnamese, "{t}: {a:?}");
            assert!(!a.rejects(), "{t}: {:?}", a.codes());
        }
    }

    #[test]
    fn complaints_are_flagged_even_when_mentioned() {
        assert_eq!(
            analyse("Gia đình tôi có tranh chấp lối đi với hàng xóm.").complaint_terms,
            ["tranh chấp"]
        );
        assert_eq!(
            analyse("Tôi làm đơn khiếu nại và tố cáo cán bộ xã.").complaint_terms,
            ["khiếu nại", "tố cáo"]
        );
        assert_eq!(
            analyse("toi muon khieu nai viec nay").complaint_terms,
            ["khiếu nại"]
        );
        // "to cao" is "tall and big" in a text written with marks.
        assert!(analyse("Cây xanh to cao bị nghiêng sắp đổ ra đường.")
            .complaint_terms
            .is_empty());
    }

    #[test]
    fn offensive_words_match_whole_words_only() {
        assert!(!analyse("Chúng tôi cặp xe sát lề đường, đủ chỗ cho xe khác.").rejects());
        assert!(
            analyse("Chúng tôi cặp xe sát lề đường, đủ chỗ cho xe khác.")
                .offensive_terms
                .is_empty()
        );
        assert_eq!(
            analyse("Bọn nó đụ mẹ chửi bới cả xóm").offensive_terms,
            ["đụ mẹ"]
        );
        assert_eq!(analyse("Thằng đó nói vcl cả ngày").offensive_terms, ["vcl"]);
        // Unaccented text: "cao lon", "cac" are ordinary words there.
        assert!(analyse("cay cao lon nga ra duong, cac ho dan phai tranh")
            .offensive_terms
            .is_empty());
        // "phò mã" is a royal son-in-law.
        assert!(analyse("Tay \"phò mã\" đáng ngờ.")
            .offensive_terms
            .is_empty());
        // "ranh lon" = rãnh lớn.
        assert!(analyse("Rãnh thoát nước bị nghẹt, ranh lon tràn ra đường")
            .offensive_terms
            .is_empty());
    }

    #[test]
    fn defamation_needs_a_named_person() {
        let a = analyse("Ông Nguyễn Văn A là đồ ăn cướp, chiếm đất công.");
        assert_eq!(
            a.defamation,
            [("Ông Nguyễn Văn A".to_string(), "ăn cướp".to_string())]
        );
        let a = analyse("Chủ tịch xã ăn hối lộ nên không xử lý.");
        assert_eq!(a.defamation.len(), 1);
        assert!(analyse("Có kẻ ăn trộm dây điện trên cột ở ấp 3.")
            .defamation
            .is_empty());
        assert!(analyse("Ông Tư báo là đèn đường hỏng, xin sửa giúp.")
            .defamation
            .is_empty());
    }

    #[test]
    fn check_text_line_json() {
        let v = check_text_line("den duong ko sang");
        let codes: Vec<&str> = v["codes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        assert_eq!(codes, ["CONTENT_NO_DIACRITICS", "CONTENT_ABBREVIATION"]);
        assert!(v["words"].as_array().unwrap().iter().any(|w| w == "ko"));
        let v = check_text_line("Đèn đường trước nhà bị hỏng.");
        assert_eq!(v["codes"], serde_json::json!([]));
        assert_eq!(v["category"]["field"], "urban_order");
    }
}
