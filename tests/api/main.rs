//! Integration tests: the real server on a random port over real SQLite and
//! Postgres databases. Run with `cargo test`; CI sets COURSEREC_REQUIRE_PG=1.

mod helpers;

mod auth;
mod catalog;
mod cluster;
mod console;
mod console_api;
mod experiments;
mod ingest;
mod observability;
mod openapi;
mod recommend;
mod segments;
mod webdriver;
