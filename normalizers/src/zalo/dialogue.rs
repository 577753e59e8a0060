//! The OA conversation as a pure state machine (teloxide style): a [`Dialogue`] enum whose
//! variants carry the draft collected so far, and [`step`], which applies one webhook event and
//! says what to tell the citizen ([`Prompt`]) and whether to submit. [`step`] dispatches to one
//! handler per state (`on_idle`, `on_collecting`, `on_confirming`); an answer that does not fit
//! keeps the question and says what is expected.
//!
//! It does no I/O: the channel loads the state, calls [`step`] with the injected instant, renders
//! the prompts with its Vietnamese templates, stores the new state and submits. The same function
//! replays a saved conversation for `gateway check` ([`super::conversation_to_report`]), so the CLI
//! and the live chat reach the same verdict.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::geo::Geo;
use crate::pipeline;
use crate::report::{CaptureSource, Coordinates, MediaKind, Report};
use crate::text::{fold_phrase, nfc, split_tone};
use crate::validate::{Context, Finding, ValidationConfig, Validator, Verdict};

use super::draft::{Draft, MediaRef, MAX_EVENTS};
use super::event::{Event, EventKind, Inspection, Message};

/// What the OA is waiting for. Answers are read in the light of the question asked: a text
/// sent while the OA asked for the place is the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The description (nội dung). After a fix request the next text replaces it.
    Description,
    /// A photo, video or voice recording.
    Media,
    /// Shared location or a typed address.
    Location,
    /// When it happened, asked only when neither the media nor the text say it.
    Time,
    /// Name and phone (a `request_user_info` form, or typed).
    Contact,
}

impl Step {
    const ORDER: [Step; 5] = [
        Step::Description,
        Step::Media,
        Step::Location,
        Step::Time,
        Step::Contact,
    ];

    /// The step a validator finding belongs to, by the report field it names.
    pub fn of_field(field: &str) -> Option<Step> {
        let root = field.split(['.', '[']).next().unwrap_or(field);
        match root {
            "content" => Some(Step::Description),
            "attachments" => Some(Step::Media),
            "occurred_at" => Some(Step::Time),
            "location" => Some(Step::Location),
            "reporter" => Some(Step::Contact),
            _ => None,
        }
    }
}

/// The conversation of one citizen with one OA. Stored as
/// `{"state": "collecting" | "confirming", "draft": …, …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Dialogue {
    /// Collecting the report.
    Collecting(Collecting),
    /// Everything is there; the summary was shown and the OA waits for "Gửi" or "Hủy".
    Confirming { draft: Draft },
}

/// The draft being collected and the question the citizen is answering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collecting {
    pub draft: Draft,
    /// The last question put to the citizen.
    pub asked: Option<Step>,
    /// The description was refused: the next text replaces it instead of adding to it.
    #[serde(default)]
    pub replace_description: bool,
    /// The citizen is owed an answer that waits for the inspection of a medium just sent (its
    /// GPS may give the place): said when the inspection arrives.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub owed: bool,
}

impl Collecting {
    /// A draft that was already summarised or never asked about: no question pending.
    fn unasked(draft: Draft) -> Collecting {
        Collecting {
            draft,
            asked: None,
            replace_description: false,
            owed: false,
        }
    }
}

impl Dialogue {
    pub fn draft(&self) -> &Draft {
        match self {
            Dialogue::Collecting(Collecting { draft, .. }) | Dialogue::Confirming { draft } => {
                draft
            }
        }
    }
}

/// What to tell the citizen; the channel renders each in Vietnamese.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Greeting and what a report needs (on follow, on a greeting).
    Welcome,
    /// Ask for a missing part.
    Ask(Step),
    /// A part was given but does not pass the checks: the validator's messages, to fix.
    Fix {
        step: Step,
        messages: Vec<String>,
    },
    /// All there: the summary, the remaining flags (not blocking), and the confirm keywords.
    Summary {
        description: String,
        media: usize,
        coordinates: Option<Coordinates>,
        address: Option<String>,
        name: Option<String>,
        phone: Option<String>,
        notes: Vec<String>,
    },
    /// "Gửi" before the report is complete.
    NotReady,
    Cancelled,
    Restarted,
    /// The previous conversation was idle longer than the TTL; a new one starts.
    Expired,
    /// The draft holds the most media (or events) it can.
    DraftFull,
    /// Sticker, link or another event a report cannot use.
    Unsupported,
    /// The event was taken but the draft is still incomplete: what is still missing, in order.
    StillMissing(Vec<Step>),
    /// A medium was read and cannot be evidence; it was taken out of the draft.
    MediaRefused(Refusal),
}

/// Why a medium the citizen sent was taken out of the draft.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Captured longer ago than the maximum age (Đ6.3): how long ago.
    Stale { kind: MediaKind, age: Duration },
    /// Not a readable photo, video or recording: the reader's message (Vietnamese).
    Unreadable(String),
}

/// The result of one [`step`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The state to store; `None` deletes it (submitted, cancelled, unfollowed).
    pub state: Option<Dialogue>,
    pub prompts: Vec<Prompt>,
    /// The citizen confirmed: submit this draft (the confirming message's msg_id is the
    /// de-duplication key).
    pub submit: Option<Submit>,
    /// The event had been applied already (a Zalo retry): nothing changed, nothing to say.
    pub duplicate: bool,
    /// Media the event added, to download and inspect now (their result comes back as an
    /// [`super::event::INSPECTED_EVENT`]).
    pub inspect: Vec<MediaRef>,
    /// Staged files no longer needed (the draft was cancelled, restarted, expired or left, or
    /// the medium was refused): the channel deletes them once the state is stored.
    pub discard: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Submit {
    pub draft: Draft,
    pub dedup_key: String,
}

/// Everything [`step`] needs besides the state and the event.
pub struct StepEnv<'a> {
    pub now: DateTime<Utc>,
    /// A conversation idle longer than this is over.
    pub ttl: Duration,
    pub validator: &'a Validator,
    pub config: &'a ValidationConfig,
    /// Gazetteer and boundary, as the gateway validates with (a place named in the description
    /// locates the report).
    pub geo: Option<&'a Geo>,
}

/// A citizen's message reduced to a keyword, when it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Confirm,
    Cancel,
    Restart,
    Greeting,
}

/// Recognise a keyword typed with or without diacritics ("Gửi", "gui", "Huỷ", "HỦY"), and a short
/// message whose only intent is to confirm ("ok gửi", "Tôi xác nhận gửi phản ánh", "đồng ý ạ")
/// or to cancel ("thôi không gửi nữa", "tôi muốn hủy"). A message with any word of substance
/// ("gửi thêm ảnh", "ok nhưng đèn vẫn chập chờn") is not a keyword: it changes the report.
pub fn keyword(text: &str) -> Option<Keyword> {
    let folded = fold_phrase(text);
    let folded = folded.trim_matches(|c: char| !c.is_alphanumeric());
    match folded {
        "lam lai" | "bat dau lai" | "tao moi" | "phan anh moi" => return Some(Keyword::Restart),
        "xin chao" | "chao" | "hi" | "hello" | "alo" | "chao ban" => {
            return Some(Keyword::Greeting)
        }
        _ => {}
    }
    intent(text)
}

/// What a word of a short answer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Confirm,
    Cancel,
    /// "không", "đừng": turns a confirmation into a refusal.
    Negation,
    /// Politeness, pronouns, particles: no content.
    Filler,
}

/// The vocabulary of short answers; two-word units first. Written with diacritics: a word typed
/// with marks must match them (so "ảnh" is not "anh"), one typed without matches by its letters.
const VOCABULARY: &[(&str, Role)] = &[
    ("xác nhận", Role::Confirm),
    ("đồng ý", Role::Confirm),
    ("phản ánh", Role::Filler),
    ("bây giờ", Role::Filler),
    ("cảm ơn", Role::Filler),
    ("hủy bỏ", Role::Cancel),
    ("gửi", Role::Confirm),
    ("ok", Role::Confirm),
    ("oke", Role::Confirm),
    ("okay", Role::Confirm),
    ("oki", Role::Confirm),
    ("okie", Role::Confirm),
    ("được", Role::Confirm),
    ("đúng", Role::Confirm),
    ("hủy", Role::Cancel),
    ("thôi", Role::Cancel),
    ("dừng", Role::Cancel),
    ("bỏ", Role::Cancel),
    ("không", Role::Negation),
    ("ko", Role::Negation),
    ("k", Role::Negation),
    ("đừng", Role::Negation),
    ("khỏi", Role::Negation),
    ("tôi", Role::Filler),
    ("em", Role::Filler),
    ("mình", Role::Filler),
    ("anh", Role::Filler),
    ("chị", Role::Filler),
    ("cháu", Role::Filler),
    ("con", Role::Filler),
    ("bác", Role::Filler),
    ("cô", Role::Filler),
    ("chú", Role::Filler),
    ("bạn", Role::Filler),
    ("ad", Role::Filler),
    ("admin", Role::Filler),
    ("ạ", Role::Filler),
    ("à", Role::Filler),
    ("nhé", Role::Filler),
    ("nha", Role::Filler),
    ("nhá", Role::Filler),
    ("luôn", Role::Filler),
    ("giúp", Role::Filler),
    ("dùm", Role::Filler),
    ("giùm", Role::Filler),
    ("hộ", Role::Filler),
    ("đi", Role::Filler),
    ("vâng", Role::Filler),
    ("dạ", Role::Filler),
    ("ừ", Role::Filler),
    ("ừm", Role::Filler),
    ("rồi", Role::Filler),
    ("xin", Role::Filler),
    ("hãy", Role::Filler),
    ("cho", Role::Filler),
    ("này", Role::Filler),
    ("ngay", Role::Filler),
    ("lên", Role::Filler),
    ("đã", Role::Filler),
    ("muốn", Role::Filler),
    ("nữa", Role::Filler),
    ("vậy", Role::Filler),
    ("thế", Role::Filler),
    ("là", Role::Filler),
    ("nhiều", Role::Filler),
    ("lại", Role::Filler),
    ("đó", Role::Filler),
];

/// At most this many words in a message read as a bare confirmation or cancellation.
const MAX_INTENT_WORDS: usize = 10;

/// One word's comparison key: its letters and tone when it has marks (tone placement as typed
/// does not matter: "huỷ" = "hủy"), else its bare letters.
fn word_key(word: &str) -> (bool, String) {
    let lower = nfc(&word.to_lowercase());
    let folded = fold_phrase(&lower);
    if folded == lower {
        (false, folded)
    } else {
        let (shape, tone) = split_tone(&lower);
        (true, format!("{shape}{tone}"))
    }
}

fn vocabulary_matches(typed: &[(bool, String)], entry: &str) -> bool {
    let words: Vec<&str> = entry.split(' ').collect();
    words.len() == typed.len()
        && words.iter().zip(typed).all(|(e, (marked, key))| {
            let (_, entry_key) = word_key(e);
            if *marked {
                *key == entry_key
            } else {
                *key == fold_phrase(e)
            }
        })
}

/// The intent of a short message made only of confirmation, cancellation, negation and filler
/// words; `None` as soon as one word is anything else.
fn intent(text: &str) -> Option<Keyword> {
    let keys: Vec<(bool, String)> = text
        .split(|c: char| !c.is_alphanumeric() && !unicode_normalization::char::is_combining_mark(c))
        .filter(|w| !w.is_empty())
        .map(word_key)
        .collect();
    if keys.is_empty() || keys.len() > MAX_INTENT_WORDS {
        return None;
    }
    let (mut confirm, mut cancel, mut negation) = (false, false, false);
    let mut i = 0;
    while i < keys.len() {
        let unit = [2, 1].into_iter().find_map(|n| {
            let typed = keys.get(i..i + n)?;
            VOCABULARY
                .iter()
                .find(|(entry, _)| vocabulary_matches(typed, entry))
                .map(|(_, role)| (n, *role))
        });
        let (n, role) = unit?;
        match role {
            Role::Confirm => confirm = true,
            Role::Cancel => cancel = true,
            Role::Negation => negation = true,
            Role::Filler => {}
        }
        i += n;
    }
    match (confirm, cancel, negation) {
        // "thôi không gửi nữa", "không đồng ý", "hủy", "tôi muốn hủy bỏ".
        (true, _, true) | (false, true, _) => Some(Keyword::Cancel),
        (true, false, false) => Some(Keyword::Confirm),
        // "gửi hay hủy": ask again rather than guess.
        (true, true, false) => None,
        (false, false, _) => None,
    }
}

/// Apply one event to the conversation. `raw` is the event's exact body (kept for audit).
///
/// Events that are not the citizen speaking leave the state as it is; a Zalo retry of an event
/// already applied changes nothing; a conversation idle past the TTL is over. The gateway's own
/// [`super::event::INSPECTED_EVENT`] brings what a medium turned out to be. Everything else goes
/// to the handler of the current state.
pub fn step(state: Option<Dialogue>, event: &Event, raw: &str, env: &StepEnv<'_>) -> Transition {
    match event.kind() {
        EventKind::Echo | EventKind::Receipt | EventKind::Other => return Transition::keep(state),
        EventKind::Unfollow => {
            let mut out = Transition::end();
            out.discard_draft(state.as_ref().map(Dialogue::draft));
            return out;
        }
        EventKind::Follow => return Transition::keep(state).say(Prompt::Welcome),
        EventKind::Inspected => return on_inspected(state, event, env),
        EventKind::UserMessage | EventKind::UserSubmitInfo => {}
    }
    let input = Input {
        event,
        raw,
        key: event.dedup_key(),
        env,
    };
    if state
        .as_ref()
        .is_some_and(|s| s.draft().applied.contains(&input.key))
    {
        return Transition {
            duplicate: true,
            ..Transition::keep(state)
        };
    }
    let mut out = Transition::end();
    // An idle conversation is over: say so, and read this event as the start of a new one.
    let state = state.filter(|s| {
        let idle = s
            .draft()
            .last_activity
            .is_some_and(|last| env.now - last > env.ttl);
        if idle {
            out.prompts.push(Prompt::Expired);
            out.discard_draft(Some(s.draft()));
        }
        !idle
    });
    match state {
        None => on_idle(input, out),
        Some(Dialogue::Collecting(collecting)) => on_collecting(collecting, input, out),
        Some(Dialogue::Confirming { draft }) => on_confirming(draft, input, out),
    }
}

impl Transition {
    /// Nothing to store: the conversation is over or never started.
    fn end() -> Transition {
        Transition {
            state: None,
            prompts: Vec::new(),
            submit: None,
            duplicate: false,
            inspect: Vec::new(),
            discard: Vec::new(),
        }
    }

    /// The state stays as it was.
    fn keep(state: Option<Dialogue>) -> Transition {
        Transition {
            state,
            ..Transition::end()
        }
    }

    fn say(mut self, prompt: Prompt) -> Transition {
        self.prompts.push(prompt);
        self
    }

    /// The staged files of a draft that ends here.
    fn discard_draft(&mut self, draft: Option<&Draft>) {
        if let Some(draft) = draft {
            self.discard.extend(draft.staged_files());
        }
    }
}

/// The citizen's event being applied.
struct Input<'a> {
    event: &'a Event,
    raw: &'a str,
    /// The event's de-duplication key, recorded in the draft once the event is applied.
    key: String,
    env: &'a StepEnv<'a>,
}

impl Input<'_> {
    /// The message text, trimmed, when there is one.
    fn text(&self) -> Option<&str> {
        self.event
            .message
            .as_ref()
            .and_then(|m| m.text.as_deref())
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// The keyword the citizen typed, if the event is a typed text that is one.
    fn keyword(&self) -> Option<Keyword> {
        let typed = self.event.kind() == EventKind::UserMessage
            && self.event.event_name == "user_send_text";
        self.text().filter(|_| typed).and_then(keyword)
    }

    fn new_draft(&self) -> Draft {
        let oa_id = self.event.oa_id().unwrap_or_default();
        let user_id = self.event.user_id().unwrap_or_default();
        Draft::new(oa_id, user_id, self.env.now)
    }

    /// Mark the event applied (a retry changes nothing) and the conversation active.
    fn touch(&self, draft: &mut Draft) {
        draft.applied.push(self.key.clone());
        draft.last_activity = Some(self.env.now);
    }

    /// [`Input::touch`], and keep the event in the draft's raw original.
    fn record(&self, draft: &mut Draft) {
        self.touch(draft);
        draft.events.push(self.raw.to_string());
    }
}

/// How the answer to an event is worded when a part is still missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// The citizen answered with text: ask for the missing part (again).
    Text,
    /// Any other event: ask, or say what is still missing when that was asked already.
    Other,
    /// The event brought media being inspected: when only their GPS could still give the
    /// place, wait for the inspection before asking for it.
    AwaitInspection,
}

/// No conversation (none yet, or it just expired).
fn on_idle(input: Input<'_>, mut out: Transition) -> Transition {
    match input.keyword() {
        Some(Keyword::Restart) => restart(input, out),
        // Nothing to confirm, cancel or continue: say how a report starts.
        Some(Keyword::Confirm | Keyword::Cancel | Keyword::Greeting) => out.say(Prompt::Welcome),
        None => {
            if !out.prompts.contains(&Prompt::Expired) {
                out.prompts.push(Prompt::Welcome);
            }
            let draft = input.new_draft();
            collect(Collecting::unasked(draft), input, out)
        }
    }
}

/// Collecting: anything but a keyword is (part of) the answer to the question asked.
fn on_collecting(mut collecting: Collecting, input: Input<'_>, mut out: Transition) -> Transition {
    match input.keyword() {
        Some(Keyword::Cancel) => {
            out.discard_draft(Some(&collecting.draft));
            out.say(Prompt::Cancelled)
        }
        Some(Keyword::Restart) => {
            out.discard_draft(Some(&collecting.draft));
            restart(input, out)
        }
        // A greeting in the middle of a report is not part of it: repeat the question.
        Some(Keyword::Greeting) => {
            input.touch(&mut collecting.draft);
            collecting.asked = None;
            evaluate(collecting, Reply::Other, input.env, out)
        }
        Some(Keyword::Confirm) => {
            input.record(&mut collecting.draft);
            collecting.asked = None;
            evaluate(
                collecting,
                Reply::Other,
                input.env,
                out.say(Prompt::NotReady),
            )
        }
        None => collect(collecting, input, out),
    }
}

/// The summary was shown: a confirmation submits; anything else changes the report.
fn on_confirming(mut draft: Draft, input: Input<'_>, mut out: Transition) -> Transition {
    match input.keyword() {
        Some(Keyword::Cancel) => {
            out.discard_draft(Some(&draft));
            out.say(Prompt::Cancelled)
        }
        Some(Keyword::Restart) => {
            out.discard_draft(Some(&draft));
            restart(input, out)
        }
        Some(Keyword::Greeting) => {
            input.touch(&mut draft);
            evaluate(Collecting::unasked(draft), Reply::Other, input.env, out)
        }
        Some(Keyword::Confirm) => {
            input.record(&mut draft);
            let dedup_key = match input.event.msg_id() {
                Some(msg_id) => msg_id.to_string(),
                None => input.key,
            };
            out.submit = Some(Submit { draft, dedup_key });
            out
        }
        // A message after the summary is a change to the report: collect it and summarise again.
        None => collect(Collecting::unasked(draft), input, out),
    }
}

/// "Làm lại", whatever the state: a new, empty draft, starting with the description.
fn restart(input: Input<'_>, out: Transition) -> Transition {
    let mut draft = input.new_draft();
    draft.applied.push(input.key);
    let mut out = out.say(Prompt::Restarted);
    out.state = Some(Dialogue::Collecting(Collecting {
        draft,
        asked: Some(Step::Description),
        replace_description: false,
        owed: false,
    }));
    out.say(Prompt::Ask(Step::Description))
}

/// What a medium of the draft turned out to be. A medium that cannot be evidence (stale,
/// unreadable) leaves the draft at once with a message; a GPS position may give the place; an
/// answer that waited for the inspection is given now. An inspection of a medium the draft no
/// longer holds (cancelled, submitted, expired) only frees its staged file.
fn on_inspected(state: Option<Dialogue>, event: &Event, env: &StepEnv<'_>) -> Transition {
    let Some(inspection) = event.inspection.clone() else {
        return Transition::keep(state);
    };
    let orphan = |state: Option<Dialogue>, inspection: &Inspection| {
        let mut out = Transition::keep(state);
        out.discard.extend(inspection.staged.clone());
        out
    };
    let Some(mut dialogue) = state else {
        return orphan(None, &inspection);
    };
    let draft = match &mut dialogue {
        Dialogue::Collecting(Collecting { draft, .. }) | Dialogue::Confirming { draft } => draft,
    };
    let Some(index) = draft
        .media
        .iter()
        .position(|m| m.msg_id == inspection.media)
    else {
        return orphan(Some(dialogue), &inspection);
    };
    if let Some(done) = &draft.media[index].inspection {
        // Inspected already (a redelivered result): keep the first, free a second file.
        let extra = inspection
            .staged
            .clone()
            .filter(|s| done.staged.as_ref() != Some(s));
        let mut out = Transition::keep(Some(dialogue));
        out.discard.extend(extra);
        return out;
    }
    let refusal = refusal_of(&draft.media[index], &inspection, env);
    draft.media[index].inspection = Some(inspection);
    let mut out = Transition::end();
    if let Some(refusal) = refusal {
        let refused = draft.media.remove(index);
        out.discard.extend(refused.staged().map(str::to_string));
        out.prompts.push(Prompt::MediaRefused(refusal));
        let collecting = match dialogue {
            // Asked afresh: the part the refused medium stood for may be missing again.
            Dialogue::Collecting(c) => Collecting {
                owed: false,
                asked: None,
                ..c
            },
            Dialogue::Confirming { draft } => Collecting::unasked(draft),
        };
        return evaluate(collecting, Reply::Other, env, out);
    }
    match dialogue {
        // What the medium said may answer the question asked (the GPS gives the place) or
        // raise another (no capture time): speak when the question changes, or when an answer
        // waited for this inspection.
        Dialogue::Collecting(c) => {
            let (owed, before) = (c.owed, c.asked);
            let c = Collecting {
                owed: false,
                asked: if owed { None } else { c.asked },
                ..c
            };
            let mut t = evaluate(c, Reply::Other, env, out);
            let same = matches!(&t.state, Some(Dialogue::Collecting(n)) if n.asked == before);
            if same && !owed {
                t.prompts.clear();
            }
            t
        }
        // After the summary: silent unless the medium leaves a part missing (no capture time
        // after all), which is then asked for.
        Dialogue::Confirming { draft } => {
            let t = evaluate(Collecting::unasked(draft), Reply::Other, env, out);
            match t.state {
                Some(Dialogue::Confirming { draft }) => {
                    Transition::keep(Some(Dialogue::Confirming { draft }))
                }
                _ => t,
            }
        }
    }
}

/// Why an inspected medium cannot be evidence, if it cannot. Documents are not evidence and are
/// not judged.
fn refusal_of(media: &MediaRef, inspection: &Inspection, env: &StepEnv<'_>) -> Option<Refusal> {
    if inspection.failed || media.kind == MediaKind::Document {
        return None;
    }
    if let Some(why) = &inspection.unreadable {
        return Some(Refusal::Unreadable(why.clone()));
    }
    let from_file = matches!(
        inspection.captured_at_source,
        Some(CaptureSource::Exif | CaptureSource::Container)
    );
    let at = inspection.captured_at.filter(|_| from_file)?;
    let age = env.now - at;
    (age > Duration::hours(env.config.media_max_age_hours)).then(|| Refusal::Stale {
        kind: inspection.kind.unwrap_or(media.kind),
        age,
    })
}

/// Add what the event carries to the draft, then ask for what is still missing.
fn collect(mut collecting: Collecting, input: Input<'_>, mut out: Transition) -> Transition {
    if collecting.draft.events.len() >= MAX_EVENTS {
        out.state = Some(Dialogue::Collecting(collecting));
        return out.say(Prompt::DraftFull);
    }
    input.record(&mut collecting.draft);
    let mut reply = Reply::Other;
    if input.event.kind() == EventKind::UserSubmitInfo {
        if let Some(info) = &input.event.info {
            collecting.draft.set_submitted_info(info);
        }
    } else if let Some(message) = &input.event.message {
        let before = collecting.draft.media.len();
        if collect_message(&mut collecting, message, &input, &mut out) {
            reply = Reply::Text;
        }
        let added = &collecting.draft.media[before.min(collecting.draft.media.len())..];
        out.inspect.extend(added.iter().cloned());
        if reply == Reply::Other
            && added
                .iter()
                .any(|m| matches!(m.kind, MediaKind::Photo | MediaKind::Video))
        {
            reply = Reply::AwaitInspection;
        }
    }
    evaluate(collecting, reply, input.env, out)
}

/// Take the place, media and text of a message; returns whether it had text.
fn collect_message(
    collecting: &mut Collecting,
    message: &Message,
    input: &Input<'_>,
    out: &mut Transition,
) -> bool {
    let draft = &mut collecting.draft;
    let sent_at = input.event.time();
    let mut used = false;
    for (i, a) in message.attachments.iter().enumerate() {
        if a.kind == "location" {
            if let Some(c) = a.payload.coordinates.as_ref().and_then(|c| c.parse()) {
                draft.coordinates = Some(c);
                used = true;
            }
        } else if let Some(m) = MediaRef::from_attachment(&message.msg_id, i, a, sent_at) {
            if !draft.add_media(m) {
                out.prompts.push(Prompt::DraftFull);
            }
            used = true;
        }
    }
    let text = input.text();
    if let Some(text) = text {
        collect_text(collecting, message, text);
        used = true;
    }
    if !used {
        out.prompts.push(Prompt::Unsupported);
    }
    text.is_some()
}

/// A text is read in the light of the question asked: the place when the OA asked for it, the
/// contact when it asked for that, else (more of) the description.
fn collect_text(collecting: &mut Collecting, message: &Message, text: &str) {
    let draft = &mut collecting.draft;
    let is_location = message.attachments.iter().any(|a| a.kind == "location");
    if is_location {
        // Zalo may put the place name of a shared location in the text.
        if draft.address.is_none() {
            draft.set_address(text);
        }
    } else if !message.attachments.is_empty() {
        // A caption describes the photo.
        draft.add_description(text);
    } else {
        match collecting.asked {
            Some(Step::Location) => draft.set_address(text),
            // "khoảng 7 giờ tối qua": the time is part of the description (việc gì, ở đâu,
            // lúc nào), where the pipeline reads it.
            Some(Step::Time) => draft.add_description(text),
            Some(Step::Contact) => {
                if !draft.set_typed_contact(text) {
                    draft.add_description(text);
                }
            }
            _ if collecting.replace_description => {
                draft.replace_description(text);
                collecting.replace_description = false;
            }
            _ => draft.add_description(text),
        }
    }
}

/// Whether the draft's report locates the incident: in this order a shared location, the GPS
/// of a photo or video, an address typed when asked, a place of the area named in the
/// description (the citizen's home address in `user_submit_info` never counts).
/// A place in the description counts when it names a commune or ward ("ấp 3, xã Mỹ Yên"): a
/// district alone ("gần cầu Bến Lức") is too wide to send anyone to, so the place is asked for.
fn located(draft: &Draft, geo: Option<&Geo>) -> bool {
    draft.coordinates.is_some()
        || draft.media_gps().is_some()
        || draft.address.is_some()
        || geo
            .and_then(|g| g.locate_in_text(&draft.description_text()))
            .is_some_and(|m| m.new_commune.is_some() || m.old_commune.is_some())
}

/// Whether a photo or video of the draft is still being inspected (its capture time may come).
fn time_may_come(draft: &Draft) -> bool {
    draft
        .media
        .iter()
        .any(|m| m.inspection_pending() && matches!(m.kind, MediaKind::Photo | MediaKind::Video))
}

/// Validate the draft and decide the next question, or the summary. A part missing is asked
/// for (again, if the citizen answered with text) or, when it was asked already, named with
/// every other part still missing: the citizen always hears what the report still needs. A part
/// that fails the checks keeps the state on that part and says what is wrong.
fn evaluate(
    collecting: Collecting,
    reply: Reply,
    env: &StepEnv<'_>,
    mut out: Transition,
) -> Transition {
    let (report, verdict) = preview(&collecting.draft, env);
    let Collecting {
        draft,
        asked,
        replace_description: was_replacing,
        owed: _,
    } = collecting;
    let present = |s: Step| match s {
        Step::Description => draft.has_description(),
        Step::Media => !draft.media.is_empty(),
        Step::Location => located(&draft, env.geo),
        // A photo or video being inspected may carry the capture time: wait for it.
        Step::Time => report.occurred_at.is_some() || time_may_come(&draft),
        Step::Contact => draft.name.is_some() || draft.phone.is_some(),
    };
    let missing: Vec<Step> = Step::ORDER.into_iter().filter(|s| !present(*s)).collect();
    for s in Step::ORDER {
        let reasons: Vec<&Finding> = verdict
            .reasons
            .iter()
            .filter(|f| Step::of_field(&f.field) == Some(s))
            .collect();
        if !present(s) {
            let mut owed = false;
            if reply == Reply::AwaitInspection && s == Step::Location {
                // The photo's GPS may answer this: the inspection says it.
                owed = true;
            } else if asked != Some(s) || reply == Reply::Text {
                out.prompts.push(Prompt::Ask(s));
            } else {
                out.prompts.push(Prompt::StillMissing(missing.clone()));
            }
            out.state = Some(Dialogue::Collecting(Collecting {
                draft,
                asked: if owed { asked } else { Some(s) },
                replace_description: was_replacing,
                owed,
            }));
            return out;
        }
        // A time finding while a medium may still bring the capture time is not said yet.
        let time_may_follow = s == Step::Time && time_may_come(&draft);
        if !reasons.is_empty() && !time_may_follow {
            out.prompts.push(Prompt::Fix {
                step: s,
                messages: reasons.iter().map(|f| f.message.clone()).collect(),
            });
            out.state = Some(Dialogue::Collecting(Collecting {
                draft,
                asked: Some(s),
                replace_description: s == Step::Description,
                owed: false,
            }));
            return out;
        }
    }
    let mut notes: Vec<String> = verdict
        .reasons
        .iter()
        .chain(&verdict.flags)
        .map(|f| f.message.clone())
        .collect();
    notes.dedup();
    out.prompts.push(Prompt::Summary {
        description: draft.description_text(),
        media: draft.media.len(),
        coordinates: report.location.coordinates,
        address: draft.address.clone(),
        name: draft.name.clone(),
        phone: draft.phone.clone(),
        notes,
    });
    out.state = Some(Dialogue::Confirming { draft });
    out
}

/// The draft's report as the gateway would derive it now (media standing in by what is known
/// of them) and its verdict.
fn preview(draft: &Draft, env: &StepEnv<'_>) -> (Report, Verdict) {
    let mut report = draft.preview_report(env.now);
    let mut ctx = Context::new(env.now, env.config);
    ctx.geo = env.geo;
    let verdict = pipeline::finish(&mut report, env.validator, &ctx);
    (report, verdict)
}

/// The verdict the draft would get now (with stand-ins for the media not downloaded yet).
pub fn validate_draft(draft: &Draft, env: &StepEnv<'_>) -> Verdict {
    preview(draft, env).1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(now: DateTime<Utc>, v: &'a Validator, c: &'a ValidationConfig) -> StepEnv<'a> {
        StepEnv {
            now,
            ttl: Duration::hours(2),
            validator: v,
            config: c,
            geo: Some(Geo::embedded()),
        }
    }

    fn ev(json: serde_json::Value) -> (Event, String) {
        let raw = json.to_string();
        (Event::parse(raw.as_bytes()).unwrap(), raw)
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn text(id: &str, t: &str, at: DateTime<Utc>) -> (Event, String) {
        ev(
            serde_json::json!({"app_id":"1","event_name":"user_send_text",
            "sender":{"id":"U1"},"recipient":{"id":"OA1"},
            "message":{"msg_id":id,"text":t},"timestamp":at.timestamp_millis().to_string()}),
        )
    }

    fn image(id: &str, at: DateTime<Utc>) -> (Event, String) {
        ev(
            serde_json::json!({"app_id":"1","event_name":"user_send_image",
            "sender":{"id":"U1"},"recipient":{"id":"OA1"},
            "message":{"msg_id":id,"attachments":[{"type":"image","payload":{"url":"https://f1.photo.talk.zdn.vn/a.jpg","thumbnail":"https://t"}}]},
            "timestamp":at.timestamp_millis().to_string()}),
        )
    }

    #[test]
    fn the_stored_state_keeps_its_shape() {
        let collecting = Dialogue::Collecting(Collecting {
            draft: Draft::default(),
            asked: Some(Step::Location),
            replace_description: true,
            owed: false,
        });
        let json = serde_json::to_value(&collecting).unwrap();
        assert_eq!(json["state"], "collecting");
        assert_eq!(json["asked"], "location");
        assert_eq!(json["replace_description"], true);
        assert!(json["draft"].is_object(), "{json}");
        // Saved before `replace_description` existed.
        let saved =
            serde_json::json!({"state": "collecting", "draft": json["draft"], "asked": null});
        let back: Dialogue = serde_json::from_value(saved).unwrap();
        assert_eq!(
            back,
            Dialogue::Collecting(Collecting::unasked(Draft::default()))
        );
        let confirming = Dialogue::Confirming {
            draft: Draft::default(),
        };
        let json = serde_json::to_value(&confirming).unwrap();
        assert_eq!(json["state"], "confirming");
        assert_eq!(
            serde_json::from_value::<Dialogue>(json).unwrap(),
            confirming
        );
    }

    #[test]
    fn keywords_are_recognised_with_and_without_diacritics() {
        for s in ["Gửi", "gui", "GỬI!", " gửi đi "] {
            assert_eq!(keyword(s), Some(Keyword::Confirm), "{s}");
        }
        for s in ["Hủy", "huỷ", "huy", "HỦY BỎ"] {
            assert_eq!(keyword(s), Some(Keyword::Cancel), "{s}");
        }
        assert_eq!(keyword("Làm lại"), Some(Keyword::Restart));
        assert_eq!(keyword("gửi ảnh cho anh"), None);
    }

    #[test]
    fn a_photo_first_then_text_asks_for_the_description_then_the_place() {
        let v = Validator::default();
        let c = ValidationConfig::default();
        let e = env(t0(), &v, &c);
        let (img, raw) = image("m1", t0());
        let t = step(None, &img, &raw, &e);
        assert!(
            t.prompts.contains(&Prompt::Ask(Step::Description)),
            "{:?}",
            t.prompts
        );
        let (txt, raw) = text("m2", "Đèn đường trước nhà số 12 bị hỏng từ tối qua.", t0());
        let t = step(t.state, &txt, &raw, &e);
        assert_eq!(t.prompts, vec![Prompt::Ask(Step::Location)]);
        let d = t.state.as_ref().unwrap().draft();
        assert_eq!(d.media.len(), 1);
        assert_eq!(d.events.len(), 2);
    }

    #[test]
    fn the_same_event_twice_changes_nothing() {
        let v = Validator::default();
        let c = ValidationConfig::default();
        let e = env(t0(), &v, &c);
        let (img, raw) = image("m1", t0());
        let first = step(None, &img, &raw, &e);
        let again = step(first.state.clone(), &img, &raw, &e);
        assert!(again.duplicate);
        assert!(again.prompts.is_empty());
        assert_eq!(again.state, first.state);
    }

    #[test]
    fn an_idle_conversation_expires() {
        let v = Validator::default();
        let c = ValidationConfig::default();
        let (img, raw) = image("m1", t0());
        let first = step(None, &img, &raw, &env(t0(), &v, &c));
        let later = t0() + Duration::hours(3);
        let (txt, raw) = text("m2", "Rác thải đổ trộm ven đường.", later);
        let t = step(first.state, &txt, &raw, &env(later, &v, &c));
        assert_eq!(t.prompts[0], Prompt::Expired);
        let d = t.state.unwrap();
        assert!(
            d.draft().media.is_empty(),
            "the old photo belongs to the expired draft"
        );
        assert_eq!(d.draft().events.len(), 1);
    }

    #[test]
    fn a_greeting_in_the_middle_repeats_the_question_and_is_not_description() {
        let v = Validator::default();
        let c = ValidationConfig::default();
        let e = env(t0(), &v, &c);
        let (txt, raw) = text("g1", "Cống thoát nước bị tắc gây ngập cả con hẻm.", t0());
        let t = step(None, &txt, &raw, &e);
        let (hi, raw) = text("g2", "Xin chào", t0());
        let t = step(t.state, &hi, &raw, &e);
        assert_eq!(t.prompts, vec![Prompt::Ask(Step::Media)]);
        assert_eq!(
            t.state.unwrap().draft().description_text(),
            "Cống thoát nước bị tắc gây ngập cả con hẻm."
        );
    }

    fn ev_at(json: serde_json::Value) -> (Event, String) {
        ev(json)
    }

    fn with_user(mut json: serde_json::Value, at: DateTime<Utc>) -> (Event, String) {
        json["app_id"] = "1".into();
        json["sender"] = serde_json::json!({"id": "U1"});
        json["recipient"] = serde_json::json!({"id": "OA1"});
        json["timestamp"] = at.timestamp_millis().to_string().into();
        ev_at(json)
    }

    fn media(id: &str, kind: &str, at: DateTime<Utc>) -> (Event, String) {
        with_user(
            serde_json::json!({"event_name": format!("user_send_{kind}"),
            "message":{"msg_id":id,"attachments":[{"type":kind,"payload":{"url":format!("https://f1.photo.talk.zdn.vn/{id}")}}]}}),
            at,
        )
    }

    fn location(id: &str, at: DateTime<Utc>) -> (Event, String) {
        with_user(
            serde_json::json!({"event_name":"user_send_location",
            "message":{"msg_id":id,"attachments":[{"type":"location","payload":{"coordinates":{"latitude":"10.5366","longitude":"106.4138"}}}]}}),
            at,
        )
    }

    fn sticker(id: &str, at: DateTime<Utc>) -> (Event, String) {
        with_user(
            serde_json::json!({"event_name":"user_send_sticker",
            "message":{"msg_id":id,"attachments":[{"type":"sticker","payload":{"id":"a1","url":"https://zalo.me/s"}}]}}),
            at,
        )
    }

    fn info_flat(at: DateTime<Utc>) -> (Event, String) {
        with_user(
            serde_json::json!({"event_name":"user_submit_info","info":{"name":"Lê Thị Cúc",
            "phone":84912345678u64,"address":"Ấp 3","ward":"Mỹ Yên","district":"Bến Lức","city":"Long An"}}),
            at,
        )
    }

    fn info_full(at: DateTime<Utc>) -> (Event, String) {
        with_user(
            serde_json::json!({"event_name":"user_submit_info","info":{"name":"Lê Thị Cúc",
            "phone":"84912345678","full_address":{"user_address":"Ấp 3","user_ward":"Xã Mỹ Yên","user_city":"Tỉnh Long An"}}}),
            at,
        )
    }

    fn inspected(media: &str, inspection: Inspection, at: DateTime<Utc>) -> (Event, String) {
        let mut inspection = inspection;
        inspection.media = media.to_string();
        with_user(
            serde_json::json!({"event_name": super::super::event::INSPECTED_EVENT,
            "inspection": inspection}),
            at,
        )
    }

    fn fresh_photo(gps: Option<Coordinates>) -> Inspection {
        Inspection {
            staged: Some("zalo-0a1b.part".into()),
            kind: Some(MediaKind::Photo),
            media_type: Some("image/jpeg".into()),
            captured_at: Some(t0() - Duration::hours(2)),
            captured_at_source: Some(CaptureSource::Exif),
            gps,
            ..Inspection::default()
        }
    }

    /// Run events through [`step`] at their own time; the last transition and every prompt.
    fn run(state: Option<Dialogue>, events: &[(Event, String)]) -> (Transition, Vec<Prompt>) {
        let v = Validator::default();
        let c = ValidationConfig::default();
        let mut state = state;
        let mut all = Vec::new();
        let mut last = None;
        for (e, raw) in events {
            let t = step(state, e, raw, &env(e.time().unwrap(), &v, &c));
            all.extend(t.prompts.clone());
            state = t.state.clone();
            last = Some(t);
        }
        (last.unwrap(), all)
    }

    const DESC: &str =
        "Đèn đường trước nhà số 12 đường Nguyễn Huệ bị hỏng từ tối qua, cả đoạn đường tối om.";

    fn asked_place(prompts: &[Prompt]) -> bool {
        prompts.iter().any(|p| {
            matches!(p, Prompt::Ask(Step::Location))
                || matches!(p, Prompt::StillMissing(m) if m.first() == Some(&Step::Location))
        })
    }

    #[test]
    fn every_short_confirmation_confirms() {
        for s in [
            "Gửi",
            "gửi đi",
            "ok gửi",
            "OK GỬI!!",
            "Tôi xác nhận gửi phản ánh",
            "đồng ý",
            "Đồng ý ạ",
            "ok",
            "Oke",
            "vâng, gửi giúp em nhé",
            "xác nhận",
            "gui di",
            "dong y",
            "dạ đồng ý gửi luôn ạ",
            "được rồi gửi đi",
            "đúng rồi, gửi đi",
            "Gửi lại giúp tôi",
            "xác nhận gửi phản ánh này",
        ] {
            assert_eq!(keyword(s), Some(Keyword::Confirm), "{s}");
        }
    }

    #[test]
    fn a_message_with_substance_is_not_a_confirmation() {
        for s in [
            "gửi thêm ảnh",
            "gửi ảnh cho anh",
            "ok nhưng đèn vẫn còn chập chờn",
            "Tôi xác nhận đèn đường bị hỏng 3 hôm nay",
            "đồng ý, bổ sung: cống bị vỡ",
            "gửi đi, ở ấp 3 xã Mỹ Yên",
            "gửi hay hủy",
            "chưa gửi được",
            "Gửi anh chị phản ánh về tình trạng rác thải ở chợ Bến Lức",
            "",
        ] {
            assert_eq!(keyword(s), None, "{s}");
        }
    }

    #[test]
    fn every_short_cancellation_cancels_and_substance_does_not() {
        for s in [
            "Hủy",
            "huỷ",
            "HỦY BỎ",
            "thôi",
            "thôi không gửi nữa",
            "không gửi nữa",
            "tôi muốn hủy phản ánh này",
            "không đồng ý",
            "huy",
            "dừng",
        ] {
            assert_eq!(keyword(s), Some(Keyword::Cancel), "{s}");
        }
        for s in [
            "hủy hợp đồng thu gom rác rồi mà vẫn thu tiền",
            "thôi việc",
            "bỏ rác bừa bãi",
            "dừng xe giữa đường",
        ] {
            assert_eq!(keyword(s), None, "{s}");
        }
    }

    /// A draft with description, photo, location and contact: the summary was shown.
    fn confirming() -> Option<Dialogue> {
        let (t, _) = run(
            None,
            &[
                text("c1", DESC, t0()),
                media("c2", "image", t0()),
                location("c3", t0()),
                info_full(t0()),
            ],
        );
        assert!(
            matches!(t.state, Some(Dialogue::Confirming { .. })),
            "{:?}",
            t.prompts
        );
        t.state
    }

    #[test]
    fn after_the_summary_a_confirmation_submits_and_substance_is_added_and_summarised_again() {
        for s in ["ok gửi", "Tôi xác nhận gửi phản ánh", "đồng ý"] {
            let (t, _) = run(confirming(), &[text("c9", s, t0())]);
            assert!(t.submit.is_some(), "{s}: {:?}", t.prompts);
        }
        let (t, _) = run(
            confirming(),
            &[text("c9", "ok nhưng đèn còn chập chờn cả đêm", t0())],
        );
        assert!(t.submit.is_none());
        assert!(
            matches!(t.prompts.as_slice(), [Prompt::Summary { description, .. }] if description.ends_with("chập chờn cả đêm")),
            "{:?}",
            t.prompts
        );
        let (t, _) = run(confirming(), &[text("c9", "thôi không gửi nữa", t0())]);
        assert_eq!(t.prompts, vec![Prompt::Cancelled]);
        assert!(t.state.is_none() && t.submit.is_none());
    }

    #[test]
    fn a_shared_location_comes_first_then_photo_gps_then_a_commune_in_the_text() {
        let gps = Coordinates {
            lat: 10.54,
            lon: 106.41,
        };
        // All three: the shared location is the report's place.
        let (t, prompts) = run(
            None,
            &[
                text(
                    "p1",
                    "Rác thải đổ trộm ở ấp 3, xã Mỹ Yên, bốc mùi hôi.",
                    t0(),
                ),
                media("p2", "image", t0()),
                location("p3", t0()),
                inspected("p2", fresh_photo(Some(gps)), t0()),
            ],
        );
        assert!(!asked_place(&prompts), "{prompts:?}");
        let d = t.state.unwrap().draft().clone();
        let r = d.preview_report(t0());
        assert_eq!(r.location.coordinates.unwrap().lat, 10.5366);
        // Photo GPS, no shared location: no place question, the GPS is the place.
        let (t, prompts) = run(
            None,
            &[
                text("q1", DESC, t0()),
                media("q2", "image", t0()),
                inspected("q2", fresh_photo(Some(gps)), t0()),
            ],
        );
        assert!(!asked_place(&prompts), "{prompts:?}");
        assert_eq!(t.prompts, vec![Prompt::Ask(Step::Contact)]);
        assert_eq!(t.state.unwrap().draft().media_gps(), Some(gps));
        // A commune named in the description: no place question.
        let (t, prompts) = run(
            None,
            &[
                text(
                    "r1",
                    "Cống thoát nước ở ấp 3, xã Mỹ Yên bị vỡ, nước tràn ra đường.",
                    t0(),
                ),
                media("r2", "image", t0()),
                inspected("r2", fresh_photo(None), t0()),
            ],
        );
        assert!(!asked_place(&prompts), "{prompts:?}");
        assert!(prompts.contains(&Prompt::Ask(Step::Contact)), "{prompts:?}");
        assert!(t.prompts.is_empty(), "said already when the photo came");
        // Nothing locates it: the place is asked once the photo turned out to have no GPS.
        let (t, prompts) = run(
            None,
            &[
                text("s1", DESC, t0()),
                media("s2", "image", t0()),
                inspected("s2", fresh_photo(None), t0()),
            ],
        );
        assert!(asked_place(&prompts), "{prompts:?}");
        assert_eq!(t.prompts, vec![Prompt::Ask(Step::Location)]);
        // A district alone ("gần cầu Bến Lức") is too wide: asked.
        let (_, prompts) = run(
            None,
            &[
                text(
                    "u1",
                    "Rác thải đổ trộm ven kênh gần cầu Bến Lức, bốc mùi hôi.",
                    t0(),
                ),
                media("u2", "image", t0()),
                inspected("u2", fresh_photo(None), t0()),
            ],
        );
        assert!(asked_place(&prompts), "{prompts:?}");
    }

    #[test]
    fn the_home_address_of_a_submitted_form_never_places_the_incident_and_both_shapes_are_answered()
    {
        for info in [info_flat, info_full] {
            let (t, _) = run(
                None,
                &[
                    text("h1", DESC, t0()),
                    media("h2", "image", t0()),
                    inspected("h2", fresh_photo(None), t0()),
                ],
            );
            assert_eq!(t.prompts, vec![Prompt::Ask(Step::Location)]);
            let (t, _) = run(t.state, &[info(t0())]);
            assert_eq!(
                t.prompts,
                vec![Prompt::StillMissing(vec![Step::Location])],
                "the form answered, the place still missing"
            );
            let d = t.state.unwrap().draft().clone();
            assert_eq!(d.name.as_deref(), Some("Lê Thị Cúc"));
            assert_eq!(d.phone.as_deref(), Some("+84912345678"));
            assert_eq!(d.address, None);
        }
    }

    #[test]
    fn no_event_of_the_citizen_leaves_an_incomplete_draft_unanswered() {
        let started = run(None, &[text("n1", DESC, t0())]).0.state;
        let cases: Vec<(&str, (Event, String))> = vec![
            ("text", text("n2", "Đèn tắt cả tuần nay rồi.", t0())),
            ("sticker", sticker("n3", t0())),
            ("location", location("n4", t0())),
            ("audio", media("n5", "audio", t0())),
            ("file", media("n6", "file", t0())),
            ("info flat", info_flat(t0())),
            ("info full_address", info_full(t0())),
            ("greeting", text("n7", "Xin chào", t0())),
            ("confirmation too early", text("n8", "ok gửi", t0())),
        ];
        for (what, event) in cases {
            // Twice in a row: a part asked for already is named again, not passed over.
            let (t, _) = run(started.clone(), std::slice::from_ref(&event));
            assert!(!t.prompts.is_empty(), "{what}: nothing said");
            assert!(t.state.is_some(), "{what}");
            let second = match &event.0.message {
                Some(_) => {
                    let mut json: serde_json::Value = serde_json::from_str(&event.1).unwrap();
                    json["message"]["msg_id"] =
                        format!("{}-again", event.0.msg_id().unwrap()).into();
                    ev(json)
                }
                None => {
                    let mut json: serde_json::Value = serde_json::from_str(&event.1).unwrap();
                    json["timestamp"] = (t0().timestamp_millis() + 1).to_string().into();
                    ev(json)
                }
            };
            let (t2, _) = run(t.state, &[second]);
            assert!(!t2.prompts.is_empty(), "{what} twice: nothing said");
        }
        // A photo: the answer waits for its inspection, which gives it (read or not).
        for inspection in [
            fresh_photo(None),
            Inspection {
                failed: true,
                ..Inspection::default()
            },
        ] {
            let (t, _) = run(started.clone(), &[media("n9", "image", t0())]);
            assert!(t.prompts.is_empty());
            assert_eq!(t.inspect.len(), 1);
            let (t, _) = run(t.state, &[inspected("n9", inspection, t0())]);
            assert_eq!(t.prompts, vec![Prompt::Ask(Step::Location)]);
        }
    }

    #[test]
    fn a_stale_photo_is_refused_at_once_with_its_age_and_its_file_discarded() {
        let stale = Inspection {
            captured_at: Some(t0() - Duration::days(3) - Duration::hours(1)),
            ..fresh_photo(None)
        };
        let (t, _) = run(
            None,
            &[
                text("o1", DESC, t0()),
                media("o2", "image", t0()),
                inspected("o2", stale, t0()),
            ],
        );
        assert!(
            matches!(&t.prompts[0], Prompt::MediaRefused(Refusal::Stale { kind: MediaKind::Photo, age }) if age.num_days() == 3),
            "{:?}",
            t.prompts
        );
        assert_eq!(t.prompts[1], Prompt::Ask(Step::Media));
        assert_eq!(t.discard, vec!["zalo-0a1b.part".to_string()]);
        assert!(t.state.unwrap().draft().media.is_empty());
        // After the summary too: back to collecting.
        let (t, _) = run(
            confirming(),
            &[inspected(
                "c2",
                Inspection {
                    unreadable: Some("Tệp không phải hình ảnh.".into()),
                    ..fresh_photo(None)
                },
                t0(),
            )],
        );
        assert!(matches!(
            t.prompts[0],
            Prompt::MediaRefused(Refusal::Unreadable(_))
        ));
        assert!(matches!(t.state, Some(Dialogue::Collecting(_))));
    }

    #[test]
    fn staged_files_are_discarded_when_the_draft_ends_without_a_report() {
        let staged = || {
            run(
                None,
                &[
                    text("d1", DESC, t0()),
                    media("d2", "image", t0()),
                    inspected("d2", fresh_photo(None), t0()),
                ],
            )
            .0
            .state
        };
        let file = vec!["zalo-0a1b.part".to_string()];
        for end in ["Hủy", "Làm lại"] {
            let (t, _) = run(staged(), &[text("d3", end, t0())]);
            assert_eq!(t.discard, file, "{end}");
        }
        let unfollow = ev(serde_json::json!({"app_id":"1","event_name":"unfollow",
            "oa_id":"OA1","follower":{"id":"U1"},"timestamp":"1"}));
        let (t, _) = run(staged(), &[unfollow]);
        assert_eq!(t.discard, file);
        let later = t0() + Duration::hours(5);
        let (t, _) = run(staged(), &[text("d4", DESC, later)]);
        assert_eq!(t.prompts[0], Prompt::Expired);
        assert_eq!(t.discard, file);
        // An inspection arriving after the draft ended only frees its file.
        let (t, _) = run(None, &[inspected("d2", fresh_photo(None), t0())]);
        assert_eq!((t.state, t.discard), (None, file.clone()));
        // The same result delivered twice keeps one file.
        let (t, _) = run(staged(), &[inspected("d2", fresh_photo(None), t0())]);
        assert!(t.prompts.is_empty() && t.discard.is_empty());
    }

    #[test]
    fn the_time_comes_from_the_media_or_the_text_before_it_is_asked_for() {
        let no_time = || Inspection {
            captured_at: None,
            captured_at_source: Some(CaptureSource::None),
            ..fresh_photo(None)
        };
        let undated = "Cống thoát nước ở ấp 3, xã Mỹ Yên bị vỡ, nước tràn ra đường gây ngập.";
        // The photo's capture time: not asked.
        let (_, prompts) = run(
            None,
            &[
                text("t1", undated, t0()),
                media("t2", "image", t0()),
                inspected("t2", fresh_photo(None), t0()),
            ],
        );
        assert!(!prompts.contains(&Prompt::Ask(Step::Time)), "{prompts:?}");
        // A time written in the text: not asked.
        let (_, prompts) = run(
            None,
            &[
                text(
                    "t3",
                    "Cống thoát nước ở ấp 3, xã Mỹ Yên bị vỡ từ 6 giờ sáng nay.",
                    t0(),
                ),
                media("t4", "image", t0()),
                inspected("t4", no_time(), t0()),
            ],
        );
        assert!(!prompts.contains(&Prompt::Ask(Step::Time)), "{prompts:?}");
        // Neither: asked once the photo was read, and the answer is taken. (The message's send
        // time is taken out: it is channel evidence, not a capture time.)
        let (t, _) = run(
            None,
            &[text("t5", undated, t0()), media("t6", "image", t0())],
        );
        let mut state = t.state.unwrap();
        match &mut state {
            Dialogue::Collecting(Collecting { draft, .. }) | Dialogue::Confirming { draft } => {
                draft.media[0].sent_at = None
            }
        }
        let (t, _) = run(Some(state), &[inspected("t6", no_time(), t0())]);
        assert_eq!(t.prompts, vec![Prompt::Ask(Step::Time)]);
        let (t, _) = run(t.state, &[text("t8", "Khoảng 7 giờ tối qua.", t0())]);
        assert_eq!(t.prompts, vec![Prompt::Ask(Step::Contact)]);
        assert!(t
            .state
            .unwrap()
            .draft()
            .description_text()
            .ends_with("Khoảng 7 giờ tối qua."));
    }
}
