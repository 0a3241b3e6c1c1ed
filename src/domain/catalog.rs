//! A course as clients and CSV imports send it, checked into a [`Course`].

use serde::Deserialize;

use super::{nfc, valid_id, valid_text, Course, FieldError, Level};

/// A category name as the catalog stores it: trimmed and lowercased, so
/// "Web ", "WEB" and "web" name one category on every route (in NFC, as
/// ids are).
pub fn category_key(raw: &str) -> String {
    nfc(&raw.trim().to_lowercase()).into_owned()
}

/// A course as clients send it; for PUT the id comes from the path.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CourseBody {
    /// Required in `POST /courses`; if given to PUT, must match the path.
    #[serde(alias = "course_id")]
    #[schema(min_length = 1, max_length = 128)]
    pub id: Option<String>,
    #[schema(min_length = 1, max_length = 512)]
    pub title: String,
    /// Stored lowercased.
    #[schema(min_length = 1, max_length = 128)]
    pub category: String,
    /// At most 64, stored lowercased.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `beginner`, `intermediate` or `advanced`.
    #[schema(value_type = Level)]
    pub level: String,
    /// List price in cents, not negative.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub price_cents: i64,
    /// Inactive courses are never recommended (default true).
    #[serde(default = "yes")]
    pub active: bool,
    /// Course ids to own first (at most 64, not the course itself). An id
    /// not in the catalog yet is kept and counts once it exists; a cycle is
    /// refused (422 `prerequisite_cycle`).
    #[serde(default)]
    pub prerequisites: Vec<String>,
}

/// Most prerequisites one course may list.
pub const MAX_PREREQUISITES: usize = 64;

fn yes() -> bool {
    true
}

impl CourseBody {
    /// Checks every field, reporting all problems at once.
    pub fn into_course(self, id: String) -> std::result::Result<Course, Vec<FieldError>> {
        let mut errs = Vec::new();
        let id = nfc(&id).into_owned();
        if !valid_id(&id) {
            errs.push(FieldError::new(
                "id",
                "must be a string of 1 to 128 characters, without leading or trailing whitespace",
            ));
        }
        if self.title.trim().is_empty() || self.title.len() > 512 {
            errs.push(FieldError::new("title", "must be 1 to 512 characters"));
        } else if !valid_text(&self.title) {
            errs.push(FieldError::new("title", "must not contain control characters"));
        }
        let category = category_key(&self.category);
        if !valid_id(&category) {
            errs.push(FieldError::new("category", "must be 1 to 128 characters"));
        }
        let tags: Vec<String> = self.tags.iter().map(|t| category_key(t)).collect();
        if tags.len() > 64 || tags.iter().any(|t| !valid_id(t)) {
            errs.push(FieldError::new("tags", "at most 64 tags of 1 to 128 characters"));
        }
        let level = Level::parse(&self.level);
        if level.is_none() {
            errs.push(FieldError::new(
                "level",
                "must be beginner, intermediate or advanced",
            ));
        }
        if self.price_cents < 0 {
            errs.push(FieldError::new("price_cents", "must not be negative"));
        }
        let mut prerequisites: Vec<String> = Vec::with_capacity(self.prerequisites.len());
        for p in &self.prerequisites {
            let p = nfc(p).into_owned();
            if !prerequisites.contains(&p) {
                prerequisites.push(p);
            }
        }
        if prerequisites.len() > MAX_PREREQUISITES || prerequisites.iter().any(|p| !valid_id(p)) {
            errs.push(FieldError::new(
                "prerequisites",
                "at most 64 course ids of 1 to 128 characters, without leading or trailing whitespace",
            ));
        } else if prerequisites.contains(&id) {
            errs.push(FieldError::new("prerequisites", "a course cannot require itself"));
        }
        match level {
            Some(level) if errs.is_empty() => Ok(Course {
                id,
                title: self.title.trim().to_string(),
                category,
                tags,
                level,
                price_cents: self.price_cents,
                active: self.active,
                prerequisites,
            }),
            _ => Err(errs),
        }
    }
}
