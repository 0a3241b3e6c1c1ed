//! Human-readable segment labels such as "rust + go · frequent buyers":
//! the dominant categories, then an activity word relative to everyone.

use serde::{Deserialize, Serialize};

use super::profile::CategoryShare;

/// Mean activity of a group of users (a segment or everyone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivitySummary {
    pub mean_spend_cents: f64,
    /// Fraction of users with a positive net spend.
    pub buyer_share: f32,
    pub mean_events_30d: f32,
    /// Mean days since the last event, over users who have one.
    pub mean_recency_days: f32,
}

/// A segment whose users were last seen this long ago, on average, is lapsed.
pub const LAPSED_DAYS: f32 = 40.0;

/// Short form of a category for labels.
pub fn short_category(c: &str) -> &str {
    match c {
        "machine-learning" => "ml",
        "data-engineering" => "data eng",
        "javascript" => "js",
        "algorithms" => "algo",
        "databases" => "db",
        other => other,
    }
}

/// Dominant categories joined with " + ": up to three, each with at least
/// 15% share and a third of the top share, so one stray category does not
/// make it into the label.
pub fn taste_label(top: &[CategoryShare]) -> String {
    let Some(first) = top.first() else {
        return "no clear interest".into();
    };
    let floor = (first.share / 3.0).max(0.15);
    let names: Vec<&str> = top
        .iter()
        .take(3)
        .enumerate()
        .filter(|(i, c)| *i == 0 || c.share >= floor)
        .map(|(_, c)| short_category(&c.category))
        .collect();
    names.join(" + ")
}

/// One word for a segment's activity compared with everyone's.
pub fn activity_label(seg: &ActivitySummary, all: &ActivitySummary) -> &'static str {
    if seg.mean_recency_days > LAPSED_DAYS.max(all.mean_recency_days * 1.5) {
        "lapsed"
    } else if seg.buyer_share >= 0.5 && seg.mean_spend_cents >= 1.5 * all.mean_spend_cents {
        "frequent buyers"
    } else if seg.buyer_share < 0.25 || seg.mean_spend_cents < 0.4 * all.mean_spend_cents {
        "browsers"
    } else if seg.mean_events_30d >= 1.2 * all.mean_events_30d {
        "active learners"
    } else {
        "occasional buyers"
    }
}

/// Full label: taste, a middle dot, activity.
pub fn label(top: &[CategoryShare], seg: &ActivitySummary, all: &ActivitySummary) -> String {
    format!("{} · {}", taste_label(top), activity_label(seg, all))
}

/// Makes labels unique by numbering repeats: "go · browsers (2)".
pub fn dedupe(labels: &mut [String]) {
    for i in 1..labels.len() {
        let repeats = labels[..i]
            .iter()
            .filter(|l| l.split(" (").next() == Some(labels[i].as_str()))
            .count();
        if repeats > 0 {
            labels[i] = format!("{} ({})", labels[i], repeats + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(v: &[(&str, f32)]) -> Vec<CategoryShare> {
        v.iter()
            .map(|(c, s)| CategoryShare {
                category: (*c).into(),
                share: *s,
            })
            .collect()
    }

    const ALL: ActivitySummary = ActivitySummary {
        mean_spend_cents: 5000.0,
        buyer_share: 0.4,
        mean_events_30d: 10.0,
        mean_recency_days: 15.0,
    };

    #[test]
    fn taste_keeps_dominant_categories_only() {
        assert_eq!(
            taste_label(&shares(&[("rust", 0.5), ("go", 0.3), ("python", 0.05)])),
            "rust + go"
        );
        assert_eq!(
            taste_label(&shares(&[("frontend", 0.9), ("go", 0.1)])),
            "frontend"
        );
        assert_eq!(
            taste_label(&shares(&[
                ("machine-learning", 0.4),
                ("python", 0.35),
                ("data-engineering", 0.2)
            ])),
            "ml + python + data eng"
        );
        assert_eq!(taste_label(&[]), "no clear interest");
    }

    #[test]
    fn activity_words() {
        let buyers = ActivitySummary {
            mean_spend_cents: 12000.0,
            buyer_share: 0.8,
            mean_events_30d: 20.0,
            mean_recency_days: 3.0,
        };
        assert_eq!(activity_label(&buyers, &ALL), "frequent buyers");
        let browsers = ActivitySummary {
            mean_spend_cents: 300.0,
            buyer_share: 0.05,
            mean_events_30d: 4.0,
            mean_recency_days: 10.0,
        };
        assert_eq!(activity_label(&browsers, &ALL), "browsers");
        let lapsed = ActivitySummary {
            mean_recency_days: 60.0,
            ..buyers
        };
        assert_eq!(activity_label(&lapsed, &ALL), "lapsed");
        assert_eq!(
            label(&shares(&[("rust", 0.6), ("go", 0.4)]), &buyers, &ALL),
            "rust + go · frequent buyers"
        );
    }

    #[test]
    fn repeated_labels_are_numbered() {
        let mut l = vec![
            "go · browsers".to_string(),
            "go · browsers".into(),
            "ml · lapsed".into(),
            "go · browsers".into(),
        ];
        dedupe(&mut l);
        assert_eq!(
            l,
            vec![
                "go · browsers",
                "go · browsers (2)",
                "ml · lapsed",
                "go · browsers (3)"
            ]
        );
    }
}
