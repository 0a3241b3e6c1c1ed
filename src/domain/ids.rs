//! One person, one learner: ids are compared in Unicode Normalization Form C
//! (UAX #15), so "José" typed with a precomposed é and with e + U+0301 is the
//! same learner. Every id is normalised where it enters (events, catalog,
//! users, paths, query strings, imports) and checked with [`valid_id`].

use std::borrow::Cow;

use serde_json::Value;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use super::MAX_ID_LEN;

/// `s` in NFC; borrowed when it already is (every ASCII string is).
pub fn nfc(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    }
}

/// True when `s` is a usable id: 1–128 characters, no leading or trailing
/// whitespace (refused, not trimmed, so " u1" never silently becomes "u1"),
/// not blank, no control characters (Postgres text refuses NUL, SQLite
/// stores it; both stores accept the same ids). Check the NFC form.
pub fn valid_id(s: &str) -> bool {
    let n = s.chars().count();
    (1..=MAX_ID_LEN).contains(&n) && s.trim() == s && !s.chars().any(char::is_control)
}

/// The id as stored: `s` in NFC when valid, else `None`.
pub fn normalize_id(s: &str) -> Option<String> {
    let s = nfc(s);
    valid_id(&s).then(|| s.into_owned())
}

/// The stored forms an erasure must reach for one person: the NFC form, the
/// decomposed (NFD) form and the form as given. Rows written before ids were
/// normalised at the edge may hold either.
pub fn id_forms(s: &str) -> Vec<String> {
    let mut forms = vec![nfc(s).into_owned(), s.nfd().collect(), s.to_string()];
    forms.sort();
    forms.dedup();
    forms
}

/// Puts every string of a JSON document (object keys included) in NFC.
pub fn nfc_json(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(n) = nfc(s) {
                *s = n;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(nfc_json),
        Value::Object(map) => {
            let renamed: Vec<(String, String)> = map
                .keys()
                .filter_map(|k| match nfc(k) {
                    Cow::Owned(n) => Some((k.clone(), n)),
                    Cow::Borrowed(_) => None,
                })
                .collect();
            for (old, new) in renamed {
                if let Some(val) = map.remove(&old) {
                    map.insert(new, val);
                }
            }
            map.values_mut().for_each(nfc_json);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_one_to_128_chars() {
        assert!(!valid_id(""));
        assert!(valid_id("a"));
        assert!(valid_id(&"x".repeat(128)));
        assert!(!valid_id(&"x".repeat(129)));
        assert!(!valid_id("a\nb"));
        assert!(!valid_id("a\0b"));
    }

    #[test]
    fn blank_and_padded_ids_are_refused() {
        assert!(!valid_id(" "));
        assert!(!valid_id("\u{3000}"), "ideographic space is blank too");
        assert!(!valid_id(" a"));
        assert!(!valid_id("a "));
        assert!(!valid_id("a\u{00a0}"), "no-break space is whitespace");
        assert!(valid_id("a b"), "inner spaces are part of the id");
    }

    #[test]
    fn composed_and_decomposed_spellings_are_one_id() {
        let composed = "jos\u{e9}";
        let decomposed = "jose\u{301}";
        assert_ne!(composed, decomposed);
        assert_eq!(normalize_id(decomposed).as_deref(), Some(composed));
        assert_eq!(normalize_id(composed).as_deref(), Some(composed));
        assert!(matches!(nfc("plain"), Cow::Borrowed(_)));
        assert_eq!(normalize_id(" jos\u{e9}"), None);
    }

    #[test]
    fn erasure_reaches_both_spellings() {
        let forms = id_forms("jose\u{301}");
        assert!(forms.contains(&"jos\u{e9}".to_string()));
        assert!(forms.contains(&"jose\u{301}".to_string()));
        assert_eq!(id_forms("u1"), vec!["u1".to_string()]);
    }

    #[test]
    fn json_strings_and_keys_are_normalised() {
        let mut v = serde_json::json!({"e\u{301}": ["e\u{301}", 1, {"k": "e\u{301}"}]});
        nfc_json(&mut v);
        assert_eq!(v, serde_json::json!({"\u{e9}": ["\u{e9}", 1, {"k": "\u{e9}"}]}));
    }
}
