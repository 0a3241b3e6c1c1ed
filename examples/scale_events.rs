//! Generates a large course platform as the CSV files `courserec import`
//! reads, with the skew of real traffic, for `scripts/scale.sh`:
//! - course popularity follows a power law (Zipf, exponent 1.0) within each
//!   taste group, and courses have a global popularity order too;
//! - each learner belongs to one of 20 taste groups and draws 85 % of their
//!   courses from it;
//! - each look at a course walks the funnel: view, then click (45 %), add to
//!   cart (30 % of clicks), purchase (55 % of carts), watch sessions and a
//!   rating (30 %) for buyers, a refund (4 %);
//! - learners' activity is heavy-tailed (log-normal number of looks) and
//!   spread over 365 days before now.
//!
//! cargo run --release --example scale_events -- EVENTS LEARNERS COURSES DIR
//! writes DIR/courses.csv and DIR/events.csv in constant memory.

use std::io::Write;
use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const GROUPS: usize = 20;
const DAY_MS: i64 = 86_400_000;

/// Draws from Zipf(1.0) over `0..n` by inverting the continuous CDF (a
/// good approximation of the discrete law for n ≫ 1).
fn zipf(rng: &mut impl Rng, n: usize) -> usize {
    let u: f64 = rng.random();
    let x = ((n as f64 + 1.0).ln() * u).exp() - 1.0;
    (x as usize).min(n - 1)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut arg = |default: usize| args.next().and_then(|v| v.parse().ok()).unwrap_or(default);
    let events = arg(5_000_000);
    let learners = arg(200_000);
    let courses = arg(20_000);
    let dir = PathBuf::from(std::env::args().nth(4).unwrap_or_else(|| ".".into()));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let now = courserec::domain::now_ms();

    // Course c belongs to group c % GROUPS; its rank inside the group is c / GROUPS.
    let per_group = courses.div_ceil(GROUPS);
    let categories = [
        "web", "data", "systems", "mobile", "devops", "security", "games", "ai",
    ];
    let mut w = csv::Writer::from_path(dir.join("courses.csv"))?;
    w.write_record([
        "id",
        "title",
        "category",
        "tags",
        "level",
        "price_cents",
        "active",
    ])?;
    for c in 0..courses {
        let level = ["beginner", "intermediate", "advanced"][c % 3];
        w.write_record([
            format!("c{c}"),
            format!("Course {c}"),
            categories[(c % GROUPS) % categories.len()].to_string(),
            format!("g{}", c % GROUPS),
            level.to_string(),
            (1_900 + (c % 9) * 1_000).to_string(),
            "true".to_string(),
        ])?;
    }
    w.flush()?;

    let out = std::fs::File::create(dir.join("events.csv"))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, out));
    w.write_record(courserec::import::EVENT_COLUMNS)?;
    let mut written = 0usize;
    let mut id = 0u64;
    let mut emit =
        |w: &mut csv::Writer<_>, user: usize, course: usize, kind: &str, value: Option<f64>, ts: i64| {
            id += 1;
            let ts = chrono::DateTime::from_timestamp_millis(ts)
                .expect("a valid time")
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let value = value.map(|v| format!("{v:.2}")).unwrap_or_default();
            w.write_record([
                format!("u{user}"),
                format!("c{course}"),
                kind.to_string(),
                value,
                ts,
                format!("g{id}"),
                String::new(),
            ])
        };
    // Each learner in turn, with a log-normal number of looks,
    // until the event budget is spent (a second pass if it is not).
    'outer: loop {
        for user in 0..learners {
            let group = user % GROUPS;
            let z: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
            let looks = (z * 0.9 + (events as f64 / learners as f64 / 2.2).ln() - 0.4)
                .exp()
                .ceil() as usize;
            let start = now - rng.random_range(1..365) * DAY_MS;
            for _ in 0..looks.max(1) {
                let g = if rng.random::<f64>() < 0.85 {
                    group
                } else {
                    rng.random_range(0..GROUPS)
                };
                let course = (zipf(&mut rng, per_group) * GROUPS + g).min(courses - 1);
                let mut ts = (start + rng.random_range(0..(now - start).max(1))).min(now - 1);
                let mut step = |rng: &mut ChaCha8Rng| {
                    ts = (ts + rng.random_range(1_000..3_600_000)).min(now - 1);
                    ts
                };
                emit(&mut w, user, course, "view", None, step(&mut rng))?;
                written += 1;
                if rng.random::<f64>() < 0.45 {
                    emit(&mut w, user, course, "click", None, step(&mut rng))?;
                    written += 1;
                    if rng.random::<f64>() < 0.30 {
                        emit(&mut w, user, course, "add_to_cart", None, step(&mut rng))?;
                        written += 1;
                        if rng.random::<f64>() < 0.55 {
                            emit(&mut w, user, course, "purchase", None, step(&mut rng))?;
                            written += 1;
                            for _ in 0..rng.random_range(1..6) {
                                let v = rng.random::<f64>();
                                emit(&mut w, user, course, "watch", Some(v), step(&mut rng))?;
                                written += 1;
                            }
                            if rng.random::<f64>() < 0.30 {
                                let r = f64::from(rng.random_range(3..=5));
                                emit(&mut w, user, course, "rating", Some(r), step(&mut rng))?;
                                written += 1;
                            }
                            if rng.random::<f64>() < 0.04 {
                                emit(&mut w, user, course, "refund", None, step(&mut rng))?;
                                written += 1;
                            }
                        }
                    }
                }
                if written >= events {
                    break 'outer;
                }
            }
        }
    }
    w.flush()?;
    std::io::stdout().flush()?;
    println!("{courses} courses, {learners} learners, {written} events");
    Ok(())
}
