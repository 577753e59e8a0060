//! The word lists, parsed once (on first use) from the files in `data/vietnamese/`, which are
//! compiled into the binary so the crate stays free of file I/O.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::Deserialize;

use crate::report::CategoryField;
use crate::text::{split_tone, strip_marks};

const SYLLABLES: &str = include_str!("../../data/vietnamese/syllables.txt");
const CHAT: &str = include_str!("../../data/vietnamese/chat_abbreviations.tsv");
const FORMAL: &str = include_str!("../../data/vietnamese/formal_abbreviations.txt");
const OFFENSIVE: &str = include_str!("../../data/vietnamese/offensive_words.txt");
const OFFENSIVE_IGNORE: &str = include_str!("../../data/vietnamese/offensive_ignore.txt");
const UNMARKED_COMMON: &str = include_str!("../../data/vietnamese/unmarked_common.txt");
const USUALLY_MARKED: &str = include_str!("../../data/vietnamese/usually_marked.txt");
const LOANWORDS: &str = include_str!("../../data/vietnamese/loanwords.txt");
const COMPLAINT: &str = include_str!("../../data/vietnamese/complaint_terms.txt");
const DEFAMATION: &str = include_str!("../../data/vietnamese/defamation_terms.txt");
const CATEGORIES: &str = include_str!("../../data/vietnamese/categories.json");

/// Frequent English words, several of which are also Vietnamese syllables written without
/// marks ("the", "to", "me", "in", "on"): in a text with no marked letters they count as
/// English. Also never taken for Telex keystrokes ("this" is not "thí").
const ENGLISH: &[&str] = &[
    "the",
    "a",
    "an",
    "to",
    "of",
    "in",
    "on",
    "at",
    "by",
    "for",
    "from",
    "with",
    "and",
    "or",
    "but",
    "not",
    "no",
    "yes",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "has",
    "have",
    "had",
    "do",
    "does",
    "did",
    "will",
    "would",
    "can",
    "could",
    "should",
    "may",
    "might",
    "must",
    "i",
    "me",
    "my",
    "you",
    "your",
    "he",
    "him",
    "his",
    "she",
    "her",
    "it",
    "its",
    "we",
    "us",
    "our",
    "they",
    "them",
    "their",
    "this",
    "that",
    "these",
    "those",
    "there",
    "here",
    "what",
    "which",
    "who",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "some",
    "many",
    "much",
    "more",
    "most",
    "very",
    "too",
    "so",
    "as",
    "if",
    "then",
    "than",
    "now",
    "new",
    "old",
    "good",
    "bad",
    "see",
    "saw",
    "seen",
    "look",
    "go",
    "went",
    "come",
    "came",
    "get",
    "got",
    "make",
    "made",
    "take",
    "took",
    "know",
    "think",
    "say",
    "said",
    "tell",
    "please",
    "thank",
    "thanks",
    "hello",
    "hi",
    "dear",
    "sir",
    "help",
    "need",
    "want",
    "like",
    "near",
    "front",
    "street",
    "road",
    "light",
    "lights",
    "house",
    "home",
    "water",
    "tree",
    "broken",
    "since",
    "days",
    "day",
    "week",
    "night",
    "today",
    "yesterday",
    "still",
    "again",
    "about",
    "after",
    "before",
    "because",
    "into",
    "out",
    "up",
    "down",
    "over",
    "under",
    "off",
    "one",
    "two",
    "three",
    "also",
    "just",
    "only",
    "other",
    "people",
    "man",
    "woman",
    "time",
    "year",
    "way",
    "work",
    "well",
    "long",
    "big",
    "small",
    "high",
    "low",
    "same",
    "each",
    "every",
    "such",
    "own",
    "see",
    "moon",
    "noon",
    "teen",
    "cow",
    "row",
    "law",
    "raw",
    "few",
    "bee",
    "boo",
    "wow",
    "sow",
    "tow",
    "bow",
    "mow",
    "vow",
    "know",
    "show",
    "new",
    "blue",
    "red",
    "true",
    "due",
];

/// Frequent French words (function words and the words of a street report). Several are
/// also Vietnamese syllables without marks ("le", "la", "ma", "de") or Telex keystrokes ("est",
/// "les", "trois" would decode to "ét", "lé", "trói"): in a text where foreign words outweigh the
/// Vietnamese ones they count as French, and they are never taken for keystrokes. No single
/// letters: "a", "y", "j", "l" are Vietnamese words or chat shortcuts far more often.
const FRENCH: &[&str] = &[
    "le",
    "la",
    "les",
    "un",
    "une",
    "des",
    "du",
    "de",
    "au",
    "aux",
    "et",
    "ou",
    "est",
    "sont",
    "été",
    "etre",
    "être",
    "ai",
    "as",
    "avons",
    "avez",
    "ont",
    "ce",
    "cet",
    "cette",
    "ces",
    "ça",
    "il",
    "elle",
    "ils",
    "elles",
    "nous",
    "vous",
    "je",
    "on",
    "me",
    "moi",
    "mon",
    "ma",
    "mes",
    "ton",
    "ta",
    "tes",
    "son",
    "sa",
    "ses",
    "notre",
    "nos",
    "votre",
    "vos",
    "leur",
    "leurs",
    "qui",
    "que",
    "quoi",
    "dont",
    "où",
    "en",
    "dans",
    "sur",
    "sous",
    "par",
    "pour",
    "avec",
    "sans",
    "chez",
    "entre",
    "vers",
    "depuis",
    "devant",
    "derrière",
    "près",
    "après",
    "avant",
    "pendant",
    "ne",
    "pas",
    "plus",
    "non",
    "oui",
    "mais",
    "donc",
    "car",
    "si",
    "très",
    "trop",
    "aussi",
    "encore",
    "déjà",
    "toujours",
    "jamais",
    "rien",
    "tout",
    "tous",
    "toute",
    "toutes",
    "fait",
    "faire",
    "fais",
    "font",
    "dit",
    "dire",
    "peut",
    "peuvent",
    "doit",
    "veut",
    "vais",
    "va",
    "vont",
    "sommes",
    "êtes",
    "rue",
    "route",
    "chemin",
    "maison",
    "lampadaire",
    "lumière",
    "éclairage",
    "cassé",
    "cassée",
    "casse",
    "panne",
    "trou",
    "déchets",
    "ordures",
    "poubelle",
    "eau",
    "inondation",
    "inondée",
    "pont",
    "marché",
    "village",
    "quartier",
    "commune",
    "province",
    "arbre",
    "tombé",
    "tombée",
    "voiture",
    "camion",
    "moto",
    "bruit",
    "nuit",
    "jour",
    "jours",
    "semaine",
    "hier",
    "aujourd",
    "hui",
    "matin",
    "soir",
    "heure",
    "heures",
    "trois",
    "deux",
    "quatre",
    "cinq",
    "plusieurs",
    "beaucoup",
    "monsieur",
    "madame",
    "bonjour",
    "merci",
    "svp",
    "plaît",
    "plait",
    "réparer",
    "réparé",
    "réparée",
    "signaler",
    "problème",
    "personne",
    "gens",
    "quelqu",
    "quelque",
    "chose",
];

/// Payload of an abbreviation entry.
#[derive(Debug, Clone)]
pub struct Expansion {
    pub full_form: String,
}

/// A phrase list indexed by its first word, for whole-word matching on a token sequence.
#[derive(Debug)]
pub struct PhraseIndex<T> {
    by_first: HashMap<String, Vec<(Vec<String>, T)>>,
}

impl<T> Default for PhraseIndex<T> {
    fn default() -> Self {
        PhraseIndex {
            by_first: HashMap::new(),
        }
    }
}

impl<T> PhraseIndex<T> {
    pub fn insert(&mut self, phrase: &str, payload: T) {
        let words: Vec<String> = phrase.split_whitespace().map(str::to_lowercase).collect();
        if let Some(first) = words.first() {
            self.by_first
                .entry(first.clone())
                .or_default()
                .push((words, payload));
        }
    }

    /// Longest phrase starting at `words[at]`, with its length in words.
    pub fn longest_at<S: AsRef<str>>(&self, words: &[S], at: usize) -> Option<(usize, &T)> {
        let first = words.get(at)?.as_ref();
        let candidates = self.by_first.get(first)?;
        candidates
            .iter()
            .filter(|(phrase, _)| {
                phrase.len() <= words.len() - at
                    && phrase
                        .iter()
                        .zip(&words[at..])
                        .all(|(p, w)| p == w.as_ref())
            })
            .max_by_key(|(phrase, _)| phrase.len())
            .map(|(phrase, payload)| (phrase.len(), payload))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_first.values().map(Vec::len).sum()
    }
}

/// A phrase of a content rule; `ambiguous` phrases (unaccented spellings that are also ordinary
/// words written without marks, "to cao" = "to cao" / "tố cáo") only count where the writer
/// otherwise uses marks, or, for complaint terms, only where the whole text lacks them.
#[derive(Debug, Clone)]
pub struct RuleTerm {
    /// The phrase as listed (shown to the IOC operator, never to the citizen for vulgar words).
    pub term: String,
    pub ambiguous: bool,
    /// An ordinary compound containing a listed word ("phò mã"): matched only so that the
    /// word inside it is not taken alone.
    pub innocent: bool,
}

/// One category keyword.
#[derive(Debug, Clone)]
pub struct CategoryKeyword {
    pub subcategory: usize,
    pub weight: f32,
}

#[derive(Debug, Deserialize)]
struct CategoryFile {
    fields: Vec<FieldEntry>,
}

#[derive(Debug, Deserialize)]
struct FieldEntry {
    field: CategoryField,
    name: String,
    subcategories: Vec<SubcategoryEntry>,
}

#[derive(Debug, Deserialize)]
struct SubcategoryEntry {
    id: String,
    name: String,
    keywords: Vec<String>,
}

/// A sub-category of Đ5 as listed in `categories.json`.
#[derive(Debug, Clone)]
pub struct Subcategory {
    pub field: CategoryField,
    pub field_name: String,
    pub id: String,
    pub name: String,
}

/// Every list the analysis uses.
pub struct Lexicon {
    /// Valid syllables, lowercase NFC, with their marks.
    pub syllables: HashSet<String>,
    /// Valid syllables with every mark removed ("đường" → "duong").
    pub stripped: HashSet<String>,
    /// (shape, tone) of every valid syllable, to validate decoded keystrokes.
    pub shapes: HashMap<(String, u8), String>,
    pub chat: HashMap<String, Expansion>,
    /// Administrative abbreviations, case-sensitive as listed ("UBND", "TP.HCM").
    pub formal: HashMap<String, Expansion>,
    /// Lowercased administrative abbreviations whose listed form has capitals ("ubnd" → UBND).
    pub formal_lower: HashMap<String, Expansion>,
    /// Syllables usually written without marks (cho, con, trong, theo).
    pub unmarked_common: HashSet<String>,
    /// Syllables almost never written without marks ("khong", "toi", "cua"): bare in a text
    /// written with marks, they are words whose marks were dropped.
    pub usually_marked: HashSet<String>,
    pub loanwords: HashSet<String>,
    pub english: HashSet<&'static str>,
    pub french: HashSet<&'static str>,
    pub offensive: PhraseIndex<RuleTerm>,
    pub complaint: PhraseIndex<RuleTerm>,
    pub defamation: PhraseIndex<RuleTerm>,
    pub categories: PhraseIndex<CategoryKeyword>,
    /// Unaccented category keywords, matched on words typed without marks.
    pub categories_unaccented: PhraseIndex<CategoryKeyword>,
    pub subcategories: Vec<Subcategory>,
}

impl Lexicon {
    /// A word written as it is (with or without marks) is a valid syllable.
    pub fn is_syllable(&self, lower: &str) -> bool {
        self.syllables.contains(lower)
    }

    /// Decoded keystrokes name a real syllable: returns it.
    pub fn syllable_for(&self, shape: &str, tone: u8) -> Option<&str> {
        self.shapes
            .get(&(shape.to_string(), tone))
            .map(String::as_str)
    }

    /// Every token of an ASCII phrase could be an ordinary word typed without marks.
    fn all_plain_words(&self, phrase: &str) -> bool {
        phrase.split_whitespace().all(|w| {
            let w = w.to_lowercase();
            w.is_ascii() && (self.stripped.contains(&w) || self.syllables.contains(&w))
        })
    }
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// A listed phrase can be matched on word tokens (the offensive list also holds spellings with
/// punctuation, "đ'" and "b`", which a token never equals).
fn tokenisable(phrase: &str) -> bool {
    phrase.chars().all(|c| c.is_alphanumeric() || c == ' ')
}

/// A listed word or phrase as tokens compare it: NFC, lowercase.
fn listed(line: &str) -> String {
    crate::text::nfc(line).to_lowercase()
}

fn build() -> Lexicon {
    let syllables = syllables();
    let (formal, formal_lower) = formal_abbreviations();
    let mut lexicon = Lexicon {
        stripped: syllables.iter().map(|s| strip_marks(s)).collect(),
        shapes: syllables
            .iter()
            .map(|s| (split_tone(s), s.clone()))
            .collect(),
        syllables,
        chat: chat_abbreviations(),
        formal,
        formal_lower,
        unmarked_common: lines(UNMARKED_COMMON).map(str::to_lowercase).collect(),
        loanwords: lines(LOANWORDS).map(str::to_lowercase).collect(),
        usually_marked: lines(USUALLY_MARKED).map(str::to_lowercase).collect(),
        english: ENGLISH.iter().copied().collect(),
        french: FRENCH.iter().copied().collect(),
        offensive: PhraseIndex::default(),
        complaint: PhraseIndex::default(),
        defamation: PhraseIndex::default(),
        categories: PhraseIndex::default(),
        categories_unaccented: PhraseIndex::default(),
        subcategories: Vec::new(),
    };
    lexicon.offensive = offensive_terms(&lexicon);
    lexicon.complaint = complaint_terms(&lexicon.syllables);
    lexicon.defamation = defamation_terms();
    let (categories, categories_unaccented, subcategories) = categories();
    lexicon.categories = categories;
    lexicon.categories_unaccented = categories_unaccented;
    lexicon.subcategories = subcategories;
    lexicon
}

/// The syllable list. It also holds the names of the consonant letters ("b", "k", "r"): as
/// words they are shortcuts, not syllables, so one-letter entries other than vowels are left out.
fn syllables() -> HashSet<String> {
    lines(SYLLABLES)
        .map(listed)
        .filter(|s| {
            s.chars().count() > 1
                || s.chars()
                    .all(|c| "aeiouyàáảãạèéẻẽẹìíỉĩịòóỏõọùúủũụỳýỷỹỵ".contains(c))
        })
        .collect()
}

/// Chat shortcuts: `word<TAB>full form`, keyed lowercase.
fn chat_abbreviations() -> HashMap<String, Expansion> {
    let mut chat = HashMap::new();
    for line in lines(CHAT) {
        let mut cols = line.split('\t');
        if let (Some(word), Some(full)) = (cols.next(), cols.next()) {
            chat.insert(
                listed(word),
                Expansion {
                    full_form: full.to_string(),
                },
            );
        }
    }
    chat
}

/// Administrative abbreviations (`ABBR: full form, variants…`) with capitals, as listed and
/// lowercased; the first listing of an abbreviation wins.
fn formal_abbreviations() -> (HashMap<String, Expansion>, HashMap<String, Expansion>) {
    let mut formal = HashMap::new();
    let mut formal_lower = HashMap::new();
    for line in lines(FORMAL) {
        if let Some((abbr, full)) = line.split_once(':') {
            let abbr = crate::text::nfc(abbr.trim());
            let full = full.split(',').next().unwrap_or(full).trim().to_string();
            if abbr.is_empty() || full.is_empty() {
                continue;
            }
            if abbr.chars().any(char::is_uppercase) {
                formal_lower
                    .entry(abbr.to_lowercase())
                    .or_insert_with(|| Expansion {
                        full_form: full.clone(),
                    });
                formal.entry(abbr).or_insert(Expansion { full_form: full });
            }
        }
    }
    (formal, formal_lower)
}

/// The offensive list, minus the ignored phrases; the ignored compounds that contain a listed
/// word are indexed as innocent so that the word inside them is not taken alone. Needs the
/// syllables to mark unmarked phrases that are also ordinary words as ambiguous.
fn offensive_terms(lexicon: &Lexicon) -> PhraseIndex<RuleTerm> {
    let ignore: HashSet<String> = lines(OFFENSIVE_IGNORE).map(listed).collect();
    let mut offensive = PhraseIndex::default();
    for phrase in lines(OFFENSIVE) {
        let phrase = listed(phrase);
        if ignore.contains(&phrase) || !tokenisable(&phrase) {
            continue;
        }
        let ambiguous = phrase.is_ascii() && lexicon.all_plain_words(&phrase);
        offensive.insert(
            &phrase,
            RuleTerm {
                term: phrase.clone(),
                ambiguous,
                innocent: false,
            },
        );
    }
    let listed_phrases: HashSet<String> = lines(OFFENSIVE).map(listed).collect();
    for phrase in &ignore {
        if phrase.contains(' ') && !listed_phrases.contains(phrase) {
            offensive.insert(
                phrase,
                RuleTerm {
                    term: phrase.clone(),
                    ambiguous: false,
                    innocent: true,
                },
            );
        }
    }
    offensive
}

/// Complaint terms, each also under its unmarked spelling (ambiguous when every word of that
/// spelling is itself a syllable: "to cao").
fn complaint_terms(syllables: &HashSet<String>) -> PhraseIndex<RuleTerm> {
    let mut complaint = PhraseIndex::default();
    for phrase in lines(COMPLAINT) {
        let phrase = listed(phrase);
        complaint.insert(
            &phrase,
            RuleTerm {
                term: phrase.clone(),
                ambiguous: false,
                innocent: false,
            },
        );
        let bare = strip_marks(&phrase);
        if bare != phrase {
            let ambiguous = bare.split_whitespace().all(|w| syllables.contains(w));
            complaint.insert(
                &bare,
                RuleTerm {
                    term: phrase.clone(),
                    ambiguous,
                    innocent: false,
                },
            );
        }
    }
    complaint
}

/// Insults and accusations that make a mention of a person suspected defamation.
fn defamation_terms() -> PhraseIndex<RuleTerm> {
    let mut defamation = PhraseIndex::default();
    for phrase in lines(DEFAMATION) {
        let phrase = listed(phrase);
        defamation.insert(
            &phrase,
            RuleTerm {
                term: phrase.clone(),
                ambiguous: false,
                innocent: false,
            },
        );
    }
    defamation
}

/// The category keywords (with marks and unmarked), weighted by their number of words, and the
/// sub-categories they point to.
fn categories() -> (
    PhraseIndex<CategoryKeyword>,
    PhraseIndex<CategoryKeyword>,
    Vec<Subcategory>,
) {
    let mut keywords = PhraseIndex::default();
    let mut unaccented = PhraseIndex::default();
    let mut subcategories = Vec::new();
    // The file is part of the source tree and checked by a unit test: a broken file is a
    // build defect, not an input error, so it leaves the category lists empty here.
    let file: CategoryFile =
        serde_json::from_str(CATEGORIES).unwrap_or(CategoryFile { fields: Vec::new() });
    for field in file.fields {
        for sub in field.subcategories {
            let index = subcategories.len();
            for keyword in &sub.keywords {
                let keyword = listed(keyword);
                let weight = keyword.split_whitespace().count() as f32;
                let payload = CategoryKeyword {
                    subcategory: index,
                    weight,
                };
                let bare = strip_marks(&keyword);
                keywords.insert(&keyword, payload.clone());
                unaccented.insert(&bare, payload);
            }
            subcategories.push(Subcategory {
                field: field.field,
                field_name: field.name.clone(),
                id: sub.id,
                name: sub.name,
            });
        }
    }
    (keywords, unaccented, subcategories)
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(build);

/// The lexicon, built on first use (about 20 ms) and shared by every thread.
pub fn get() -> &'static Lexicon {
    &LEXICON
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_lists_load() {
        let lx = get();
        assert!(lx.syllables.len() > 18_000, "MIT syllable list");
        assert!(lx.is_syllable("đường") && lx.is_syllable("không"));
        assert!(lx.stripped.contains("duong"));
        assert_eq!(lx.chat["ko"].full_form, "không");
        assert_eq!(lx.formal["UBND"].full_form, "Ủy ban Nhân dân");
        assert!(lx.offensive.len() > 300);
        assert!(lx.complaint.len() >= 8);
        assert!(lx.usually_marked.contains("khong") && lx.usually_marked.contains("toi"));
        // A usually-marked syllable is never one of the usually-unmarked ones.
        assert!(lx.usually_marked.is_disjoint(&lx.unmarked_common));
        assert!(lx.usually_marked.iter().all(|s| lx.is_syllable(s)));
        assert!(lx.french.contains("depuis") && lx.french.contains("cassé"));
    }

    #[test]
    fn categories_file_parses_with_every_field() {
        let file: CategoryFile =
            serde_json::from_str(CATEGORIES).expect("categories.json is valid");
        let fields: HashSet<_> = file.fields.iter().map(|f| f.field).collect();
        assert_eq!(fields.len(), 5, "the five fields of Đ5");
        assert!(get().subcategories.len() >= 10);
    }
}
