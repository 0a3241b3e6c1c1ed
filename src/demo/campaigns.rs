//! Past campaigns of the demo platform, with planted response types, so
//! the uplift model has randomised data to learn from on first start.
//!
//! Each kind of learner responds to an offer in one way (the ground truth,
//! [`true_response`]): bargain hunters are persuadable (a discount moves
//! them), loyal buyers are sure things, casual and dormant learners lost
//! causes, and churning learners do-not-disturbs (an offer reminds them to
//! leave). Four campaigns ran in the 90 simulated days, each on its own
//! category with half of its members held out as control; the second has
//! two arms. Members are drawn exactly as `POST /campaigns` draws them
//! ([`draw_members`] with the campaign's seed), and each converts (buys a
//! course of the category it never bought) with its type's probability.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::{category_key, Course, Event, EventType, DAY_MS};
use crate::marketing::campaign::spec::ArmDraft;
use crate::marketing::campaign::{draw_members, DrawPlan, Drawn};
use crate::marketing::uplift::ResponseGroup;

/// One past campaign, as the demo loads it.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCampaign {
    pub id: String,
    pub name: String,
    pub category: String,
    pub arms: Vec<ArmDraft>,
    pub control_share: f64,
    pub created_ms: i64,
    pub ends_ms: i64,
    /// The ranked learners the members were drawn from (seeded random order).
    pub candidates: Vec<String>,
    pub size: usize,
    /// As [`draw_members`] draws them from `candidates`.
    pub members: Vec<Drawn>,
}

impl DemoCampaign {
    /// The seed of its draws, as `POST /campaigns` derives it from the id.
    pub fn seed(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.id.as_bytes())
    }

    /// Each arm's share of the treated.
    pub fn arm_shares(&self) -> Vec<f64> {
        self.arms.iter().map(|a| a.share).collect()
    }
}

/// The demo's past campaigns and the purchases they caused (ids "k0000001"…).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PastCampaigns {
    pub campaigns: Vec<DemoCampaign>,
    pub events: Vec<Event>,
}

/// Salt of the candidates' random order, apart from the draws' seeds.
const ORDER_SALT: u64 = 0x006f_7264_6572;

/// Days each demo campaign ran.
const WINDOW_DAYS: i64 = 14;

/// An arm as planned: name, discount (percent), share of the treated.
type PlannedArm = (&'static str, f64, f64);

/// (days before now it started, category, arms).
const PLAN: [(i64, &str, &[PlannedArm]); 6] = [
    (58, "python", &[("twenty_off", 20.0, 1.0)]),
    (
        50,
        "frontend",
        &[("ten_off", 10.0, 0.5), ("thirty_off", 30.0, 0.5)],
    ),
    (42, "rust", &[("twenty_five_off", 25.0, 1.0)]),
    (34, "devops", &[("twenty_off", 20.0, 1.0)]),
    (26, "javascript", &[("twenty_off", 20.0, 1.0)]),
    (18, "machine-learning", &[("fifteen_off", 15.0, 1.0)]),
];

/// At most this many members a campaign.
const MAX_MEMBERS: usize = 2500;

/// The planted response type of a kind of learner (index into
/// [`crate::marketing::learners::KINDS`]).
pub fn response_type(kind: usize) -> ResponseGroup {
    match kind {
        0 => ResponseGroup::SureThing,
        1 => ResponseGroup::Persuadable,
        3 => ResponseGroup::DoNotDisturb,
        _ => ResponseGroup::LostCause,
    }
}

/// The true probabilities (control, treated) that a learner of `kind`
/// buys an offered course within a campaign window, at `discount`
/// (fraction 0..1). The true uplift is their difference.
pub fn true_response(kind: usize, discount: f64) -> (f64, f64) {
    match response_type(kind) {
        ResponseGroup::Persuadable => (0.04, 0.04 + 1.2 * discount),
        ResponseGroup::SureThing => (0.30, 0.31),
        ResponseGroup::DoNotDisturb => (0.20, 0.05),
        ResponseGroup::LostCause => (0.01, 0.012),
    }
}

/// The demo's past campaigns over `users` (id, kind index) and `courses`,
/// as of `now_ms`; `events` are the platform's (sorted by time), read for
/// who was around and what they bought.
pub fn generate(
    users: &[(String, usize)],
    courses: &[Course],
    events: &[Event],
    now_ms: i64,
    seed: u64,
) -> PastCampaigns {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6361_6d70);
    let mut out = PastCampaigns::default();
    let mut bought: std::collections::HashSet<(String, String)> = events
        .iter()
        .filter(|e| e.kind == EventType::Purchase)
        .map(|e| (e.user_id.clone(), e.course_id.clone()))
        .collect();
    let kind_of: std::collections::HashMap<&str, usize> =
        users.iter().map(|(u, k)| (u.as_str(), *k)).collect();
    let mut conversions = Vec::new();
    for (j, (days_ago, category, arms)) in PLAN.iter().enumerate() {
        let created_ms = now_ms - days_ago * DAY_MS;
        let ends_ms = created_ms + WINDOW_DAYS * DAY_MS;
        let id = format!("cmp_demo_{}", j + 1);
        let seed = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
        // Learners seen before the start, in a seeded random order.
        let mut seen: Vec<&str> = events
            .iter()
            .take_while(|e| e.ts_ms < created_ms)
            .map(|e| e.user_id.as_str())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        // Salted: the control draw hashes (seed, user) too, and ordering by
        // the same hash would put every control member first.
        seen.sort_by_key(|u| xxhash_rust::xxh3::xxh3_64_with_seed(u.as_bytes(), seed ^ ORDER_SALT));
        let candidates: Vec<String> = seen.iter().map(|u| u.to_string()).collect();
        let arms: Vec<ArmDraft> = arms
            .iter()
            .map(|&(name, pct, share)| ArmDraft {
                name: name.into(),
                discount_pct: Some(pct),
                share,
            })
            .collect();
        let shares: Vec<f64> = arms.iter().map(|a| a.share).collect();
        let size = candidates.len().min(MAX_MEMBERS);
        let plan = DrawPlan {
            seed,
            control_share: 0.5,
            arm_shares: &shares,
            size,
            budget: None,
        };
        let (members, _) = draw_members(&candidates, &Default::default(), &plan);
        let offered: Vec<&Course> = courses
            .iter()
            .filter(|c| category_key(&c.category) == *category)
            .collect();
        for m in &members {
            let kind = kind_of.get(m.user.as_str()).copied().unwrap_or(2);
            let discount = m.arm.map_or(0.0, |a| arms[a].discount_pct.unwrap_or(0.0) / 100.0);
            let (p_control, p_treated) = true_response(kind, discount);
            let p = if m.control() { p_control } else { p_treated };
            if !rng.random_bool(p) {
                continue;
            }
            let fresh: Vec<&&Course> = offered
                .iter()
                .filter(|c| !bought.contains(&(m.user.clone(), c.id.clone())))
                .collect();
            if fresh.is_empty() {
                continue;
            }
            let course = fresh[rng.random_range(0..fresh.len())];
            bought.insert((m.user.clone(), course.id.clone()));
            let ts_ms = created_ms + rng.random_range(DAY_MS / 24..(WINDOW_DAYS - 1) * DAY_MS);
            conversions.push((m.user.clone(), course.id.clone(), ts_ms));
        }
        out.campaigns.push(DemoCampaign {
            name: format!("Spring {category} offer"),
            category: category.to_string(),
            arms,
            control_share: 0.5,
            created_ms,
            ends_ms,
            candidates,
            size,
            members,
            id,
        });
    }
    conversions.sort_by_key(|c| c.2);
    out.events = conversions
        .into_iter()
        .enumerate()
        .map(|(n, (user_id, course_id, ts_ms))| Event {
            event_id: Some(format!("k{:07}", n + 1)),
            user_id,
            course_id,
            kind: EventType::Purchase,
            value: None,
            ts_ms,
            rec_id: None,
        })
        .collect();
    out
}
