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

use crate::pipeline;
use crate::report::Coordinates;
use crate::text::fold_phrase;
use crate::validate::{Context, Finding, ValidationConfig, Validator, Verdict};

use super::draft::{Draft, MediaRef, MAX_EVENTS};
use super::event::{Event, EventKind, Message};

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
    /// Name and phone (a `request_user_info` form, or typed).
    Contact,
}

impl Step {
    const ORDER: [Step; 4] = [
        Step::Description,
        Step::Media,
        Step::Location,
        Step::Contact,
    ];

    /// The step a validator finding belongs to, by the report field it names.
    pub fn of_field(field: &str) -> Option<Step> {
        let root = field.split(['.', '[']).next().unwrap_or(field);
        match root {
            "content" => Some(Step::Description),
            "attachments" | "occurred_at" => Some(Step::Media),
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
}

impl Collecting {
    /// A draft that was already summarised or never asked about: no question pending.
    fn unasked(draft: Draft) -> Collecting {
        Collecting {
            draft,
            asked: None,
            replace_description: false,
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
}

/// A citizen's message reduced to a keyword, when it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Confirm,
    Cancel,
    Restart,
    Greeting,
}

/// Recognise a keyword typed with or without diacritics ("Gửi", "gui", "Huỷ", "HỦY").
pub fn keyword(text: &str) -> Option<Keyword> {
    let folded = fold_phrase(text);
    let folded = folded.trim_matches(|c: char| !c.is_alphanumeric());
    match folded {
        "gui" | "gui di" | "xac nhan" | "dong y" | "gui phan anh" => Some(Keyword::Confirm),
        "huy" | "huy bo" | "thoi" | "dung" | "huy phan anh" => Some(Keyword::Cancel),
        "lam lai" | "bat dau lai" | "tao moi" | "phan anh moi" => Some(Keyword::Restart),
        "xin chao" | "chao" | "hi" | "hello" | "alo" | "chao ban" => Some(Keyword::Greeting),
        _ => None,
    }
}

/// Apply one event to the conversation. `raw` is the event's exact body (kept for audit).
///
/// Events that are not the citizen speaking leave the state as it is; a Zalo retry of an event
/// already applied changes nothing; a conversation idle past the TTL is over. Everything else
/// goes to the handler of the current state.
pub fn step(state: Option<Dialogue>, event: &Event, raw: &str, env: &StepEnv<'_>) -> Transition {
    match event.kind() {
        EventKind::Echo | EventKind::Receipt | EventKind::Other => return Transition::keep(state),
        EventKind::Unfollow => return Transition::end(),
        EventKind::Follow => return Transition::keep(state).say(Prompt::Welcome),
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
fn on_collecting(mut collecting: Collecting, input: Input<'_>, out: Transition) -> Transition {
    match input.keyword() {
        Some(Keyword::Cancel) => out.say(Prompt::Cancelled),
        Some(Keyword::Restart) => restart(input, out),
        // A greeting in the middle of a report is not part of it: repeat the question.
        Some(Keyword::Greeting) => {
            input.touch(&mut collecting.draft);
            collecting.asked = None;
            evaluate(collecting, false, input.env, out)
        }
        Some(Keyword::Confirm) => {
            input.record(&mut collecting.draft);
            collecting.asked = None;
            evaluate(collecting, false, input.env, out.say(Prompt::NotReady))
        }
        None => collect(collecting, input, out),
    }
}

/// The summary was shown: "Gửi" submits; anything else changes the report.
fn on_confirming(mut draft: Draft, input: Input<'_>, mut out: Transition) -> Transition {
    match input.keyword() {
        Some(Keyword::Cancel) => out.say(Prompt::Cancelled),
        Some(Keyword::Restart) => restart(input, out),
        Some(Keyword::Greeting) => {
            input.touch(&mut draft);
            evaluate(Collecting::unasked(draft), false, input.env, out)
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
    }));
    out.say(Prompt::Ask(Step::Description))
}

/// Add what the event carries to the draft, then ask for what is still missing.
fn collect(mut collecting: Collecting, input: Input<'_>, mut out: Transition) -> Transition {
    if collecting.draft.events.len() >= MAX_EVENTS {
        out.state = Some(Dialogue::Collecting(collecting));
        return out.say(Prompt::DraftFull);
    }
    input.record(&mut collecting.draft);
    let mut answered_text = false;
    if input.event.kind() == EventKind::UserSubmitInfo {
        if let Some(info) = &input.event.info {
            collecting.draft.set_submitted_info(info);
        }
    } else if let Some(message) = &input.event.message {
        answered_text = collect_message(&mut collecting, message, &input, &mut out);
    }
    evaluate(collecting, answered_text, input.env, out)
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

/// Validate the draft and decide the next question, or the summary. A part missing is asked
/// for (again, if the citizen answered with text); a part that fails the checks keeps the state
/// on that part and says what is wrong.
fn evaluate(
    collecting: Collecting,
    answered_text: bool,
    env: &StepEnv<'_>,
    mut out: Transition,
) -> Transition {
    let verdict = validate_draft(&collecting.draft, env);
    let Collecting {
        draft,
        asked,
        replace_description: was_replacing,
    } = collecting;
    let present = |s: Step| match s {
        Step::Description => draft.has_description(),
        Step::Media => !draft.media.is_empty(),
        Step::Location => draft.has_location(),
        Step::Contact => draft.name.is_some() || draft.phone.is_some(),
    };
    for s in Step::ORDER {
        let reasons: Vec<&Finding> = verdict
            .reasons
            .iter()
            .filter(|f| Step::of_field(&f.field) == Some(s))
            .collect();
        if !present(s) {
            if asked != Some(s) || answered_text {
                out.prompts.push(Prompt::Ask(s));
            }
            out.state = Some(Dialogue::Collecting(Collecting {
                draft,
                asked: Some(s),
                replace_description: was_replacing,
            }));
            return out;
        }
        if !reasons.is_empty() {
            out.prompts.push(Prompt::Fix {
                step: s,
                messages: reasons.iter().map(|f| f.message.clone()).collect(),
            });
            out.state = Some(Dialogue::Collecting(Collecting {
                draft,
                asked: Some(s),
                replace_description: s == Step::Description,
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
        coordinates: draft.coordinates,
        address: draft.address.clone(),
        name: draft.name.clone(),
        phone: draft.phone.clone(),
        notes,
    });
    out.state = Some(Dialogue::Confirming { draft });
    out
}

/// The verdict the draft would get now (with stand-ins for the media not downloaded yet).
pub fn validate_draft(draft: &Draft, env: &StepEnv<'_>) -> Verdict {
    let mut report = draft.preview_report(env.now);
    let ctx = Context::new(env.now, env.config);
    pipeline::finish(&mut report, env.validator, &ctx)
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
}
