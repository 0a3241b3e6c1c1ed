//! Integration tests: the real server on a random port over real SQLite and
//! Postgres databases. Run with `cargo test`; CI sets COURSEREC_REQUIRE_PG=1.

mod helpers;

mod auth;
mod bounds;
mod campaign_facts;
mod catalog;
mod cluster;
mod cold_courses;
mod connections;
mod console;
mod console_api;
mod console_campaigns;
mod console_rules;
mod edge;
mod erasure;
mod exchange;
mod experiments;
mod faults;
mod feedback;
mod hardening;
mod import;
mod ingest;
mod learners;
mod lists;
mod marketing;
mod observability;
mod openapi;
mod ownership;
mod paths;
mod people;
mod proxy;
mod recommend;
mod report_level;
mod retention;
mod rollup;
mod schema;
mod segments;
mod uplift;
mod webdriver;
mod young_platform;
