//! Integration tests: the real server on a random port over real SQLite and
//! Postgres databases. Run with `cargo test`; CI sets COURSEREC_REQUIRE_PG=1.

mod helpers;

mod auth;
mod catalog;
mod cluster;
mod cold_courses;
mod experiments;
mod ingest;
mod observability;
mod openapi;
mod ownership;
mod recommend;
mod report_level;
mod segments;
mod young_platform;
