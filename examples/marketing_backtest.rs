//! The marketing backtest on the demo data, through the training pipeline
//! the service runs (no store): prints each prediction's backtest against
//! its recency–frequency baseline as JSON.
//! cargo run --release --example marketing_backtest -- [USERS]

use std::collections::BTreeMap;

use courserec::demo::{aggregate, generate, DemoSize};
use courserec::retrain::marketing::DayData;
use courserec::retrain::pipeline::{train, TrainInput};
use courserec::retrain::TrainSettings;

fn main() {
    let users: usize = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let now = courserec::store::now_ms();
    let data = generate(
        courserec::demo_load::DEMO_SEED,
        &DemoSize { users, activity: 1.0 },
        now,
    );
    // Per (user, course, type, day) as the store's day query sums them.
    let mut days: BTreeMap<(&str, &str, &str, i64), (i64, f64)> = BTreeMap::new();
    for e in &data.events {
        let d = days
            .entry((
                &e.user_id,
                &e.course_id,
                e.kind.as_str(),
                e.ts_ms.div_euclid(86_400_000),
            ))
            .or_insert((0, 0.0));
        d.0 += 1;
        d.1 = d.1.max(e.value.unwrap_or(0.0));
    }
    let mut day_data = DayData::default();
    for ((u, c, t, day), (n, v)) in days {
        day_data.push((u.into(), c.into(), t.into(), day, n, v));
    }
    let input = TrainInput {
        aggs: aggregate(&data.events, now),
        catalog: data.courses.clone(),
        trained_seq: 0,
        read_at_ms: now,
        n_events: data.events.len() as i64,
        version: 1,
        days: day_data,
    };
    let started = std::time::Instant::now();
    let snap = train(input, &TrainSettings::default(), None).expect("training publishes");
    let mk = snap.marketing.as_ref().expect("marketing predictions");
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "users": users,
            "events": data.events.len(),
            "training_seconds": started.elapsed().as_secs_f64(),
            "marketing": mk.summary(),
        }))
        .unwrap()
    );
}
