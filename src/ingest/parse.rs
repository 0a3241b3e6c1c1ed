//! Turns a `POST /events` body into validated events, or into the full list of
//! what is wrong with it (every invalid index and why).

use serde_json::{Map, Value};

use crate::domain::{normalize_id, Event, EventType};
use crate::error::FieldError;

/// Limits the parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_batch: usize,
    pub max_future_skew_ms: i64,
    pub now_ms: i64,
    /// Events before this time (the retention cutoff, Unix ms) are refused.
    pub min_ts_ms: i64,
}

/// Why a body as a whole was refused.
#[derive(Debug, PartialEq)]
pub enum BodyError {
    /// Not an event object nor `{"events": [...]}`.
    Shape(String),
    Empty,
    TooLarge(usize),
    /// Per-event problems; `valid` events in the batch were fine but refused too.
    Invalid {
        errors: Vec<FieldError>,
        invalid: usize,
        valid: usize,
    },
}

/// Parses one event object or a batch.
pub fn parse_body(body: &Value, limits: &Limits) -> Result<Vec<Event>, BodyError> {
    let Some(obj) = body.as_object() else {
        return Err(BodyError::Shape(
            "body must be an event object or {\"events\": [...]}".into(),
        ));
    };
    let (items, batch): (Vec<&Value>, bool) = match obj.get("events") {
        Some(Value::Array(items)) => (items.iter().collect(), true),
        Some(_) => return Err(BodyError::Shape("\"events\" must be an array".into())),
        None => (vec![body], false),
    };
    if items.is_empty() {
        return Err(BodyError::Empty);
    }
    if items.len() > limits.max_batch {
        return Err(BodyError::TooLarge(items.len()));
    }
    let mut events = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    let mut invalid = 0;
    for (i, item) in items.into_iter().enumerate() {
        match parse_event(item, limits) {
            Ok(e) => events.push(e),
            Err(errs) => {
                invalid += 1;
                errors.extend(errs.into_iter().map(|mut e| {
                    e.index = batch.then_some(i);
                    e
                }));
            }
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(BodyError::Invalid {
            errors,
            invalid,
            valid: events.len(),
        })
    }
}

fn id_field(
    obj: &Map<String, Value>,
    name: &str,
    required: bool,
    errs: &mut Vec<FieldError>,
) -> Option<String> {
    let id = match obj.get(name) {
        None | Some(Value::Null) if !required => return None,
        None | Some(Value::Null) => {
            errs.push(FieldError::new(name, "is required"));
            return None;
        }
        Some(Value::String(s)) => normalize_id(s),
        Some(_) => None,
    };
    if id.is_none() {
        errs.push(FieldError::new(
            name,
            "must be a string of 1 to 128 characters, without leading or trailing \
             whitespace or control characters",
        ));
    }
    id
}

/// Validates one event; collects every problem rather than stopping at the first.
pub fn parse_event(v: &Value, limits: &Limits) -> Result<Event, Vec<FieldError>> {
    let Some(obj) = v.as_object() else {
        return Err(vec![FieldError::new("event", "must be an object")]);
    };
    let mut errs = Vec::new();
    let user_id = id_field(obj, "user_id", true, &mut errs);
    let course_id = id_field(obj, "course_id", true, &mut errs);
    let event_id = id_field(obj, "event_id", false, &mut errs);
    let rec_id = id_field(obj, "rec_id", false, &mut errs);
    let kind = match obj.get("type") {
        Some(Value::String(s)) => EventType::parse(s).or_else(|| {
            let names: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            errs.push(FieldError::new(
                "type",
                format!("unknown type {s:?}; expected one of {}", names.join(", ")),
            ));
            None
        }),
        None | Some(Value::Null) => {
            errs.push(FieldError::new("type", "is required"));
            None
        }
        Some(_) => {
            errs.push(FieldError::new("type", "must be a string"));
            None
        }
    };
    let value = match obj.get("value") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64().filter(|x| x.is_finite()).or_else(|| {
            errs.push(FieldError::new("value", "must be a finite number"));
            None
        }),
        Some(_) => {
            errs.push(FieldError::new("value", "must be a number"));
            None
        }
    };
    match (kind, value) {
        (Some(EventType::Rating), None) if !errs.iter().any(|e| e.field == "value") => {
            errs.push(FieldError::new("value", "a rating needs a value from 1 to 5"))
        }
        (Some(EventType::Rating), Some(x)) if !(1.0..=5.0).contains(&x) => {
            errs.push(FieldError::new("value", "a rating must be from 1 to 5"))
        }
        (Some(EventType::Watch), None) if !errs.iter().any(|e| e.field == "value") => errs.push(
            FieldError::new("value", "a watch event needs the fraction watched, 0 to 1"),
        ),
        (Some(EventType::Watch), Some(x)) if !(0.0..=1.0).contains(&x) => errs.push(FieldError::new(
            "value",
            "the fraction watched must be from 0 to 1",
        )),
        _ => {}
    }
    let ts_ms = match obj.get("ts") {
        None | Some(Value::Null) => Some(limits.now_ms),
        Some(Value::String(s)) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) if t.timestamp_millis() > limits.now_ms + limits.max_future_skew_ms => {
                errs.push(FieldError::new("ts", "is in the future"));
                None
            }
            Ok(t) if t.timestamp_millis() < 0 => {
                errs.push(FieldError::new("ts", "is before 1970"));
                None
            }
            Ok(t) if t.timestamp_millis() < limits.min_ts_ms => {
                errs.push(FieldError::new("ts", "is older than the retention cutoff"));
                None
            }
            Ok(t) => Some(t.timestamp_millis()),
            Err(_) => {
                errs.push(FieldError::new(
                    "ts",
                    "must be an RFC 3339 timestamp like 2026-01-31T12:00:00Z",
                ));
                None
            }
        },
        Some(_) => {
            errs.push(FieldError::new("ts", "must be an RFC 3339 timestamp string"));
            None
        }
    };
    match (user_id, course_id, kind, ts_ms) {
        (Some(user_id), Some(course_id), Some(kind), Some(ts_ms)) if errs.is_empty() => Ok(Event {
            event_id,
            user_id,
            course_id,
            kind,
            value,
            ts_ms,
            rec_id,
        }),
        _ => Err(errs),
    }
}

/// Per event of a valid body (as [`parse_body`] read it): whether the
/// client gave its `ts`, which an `event_id` replay must then match.
pub fn explicit_ts(body: &Value) -> Vec<bool> {
    let given = |v: &Value| v.get("ts").is_some_and(|t| !t.is_null());
    match body.get("events") {
        Some(Value::Array(items)) => items.iter().map(given).collect(),
        _ => vec![given(body)],
    }
}

/// A short, stable label for the metrics' `reason`.
pub fn reason(e: &FieldError) -> &'static str {
    match (e.field.as_str(), e.reason.as_str()) {
        (_, "is required") => "missing_field",
        ("user_id" | "course_id" | "event_id" | "rec_id", _) => "invalid_id",
        ("type", _) => "invalid_type",
        ("value", _) => "invalid_value",
        ("ts", "is in the future") => "future_ts",
        ("ts", "is older than the retention cutoff") => "expired_ts",
        ("ts", _) => "invalid_ts",
        _ => "invalid_event",
    }
}
