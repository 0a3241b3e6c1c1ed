//! Writes the demo platform as the CSV files `courserec import` reads, for
//! loading large demos through the bulk import path.
//! cargo run --release --example demo_csv -- USERS DIR
//! writes DIR/courses.csv and DIR/events.csv (about 50 events per user).

use std::path::PathBuf;

use courserec::demo::{generate, DemoSize};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let data = generate(
        courserec::demo::DEMO_SEED,
        &DemoSize {
            users,
            ..DemoSize::default()
        },
        courserec::domain::now_ms(),
    );
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
    for c in &data.courses {
        w.write_record([
            c.id.as_str(),
            &c.title,
            &c.category,
            &c.tags.join("|"),
            c.level.as_str(),
            &c.price_cents.to_string(),
            if c.active { "true" } else { "false" },
        ])?;
    }
    w.flush()?;
    let mut w = csv::Writer::from_path(dir.join("events.csv"))?;
    w.write_record(courserec::import::EVENT_COLUMNS)?;
    for e in &data.events {
        let ts = chrono::DateTime::from_timestamp_millis(e.ts_ms)
            .expect("a valid time")
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        w.write_record([
            e.user_id.as_str(),
            &e.course_id,
            e.kind.as_str(),
            &e.value.map(|v| v.to_string()).unwrap_or_default(),
            &ts,
            e.event_id.as_deref().unwrap_or_default(),
            "",
        ])?;
    }
    w.flush()?;
    println!(
        "{} courses, {} users, {} events",
        data.courses.len(),
        users,
        data.events.len()
    );
    Ok(())
}
