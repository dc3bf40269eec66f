//! The integration tests, built as one binary. `support` holds the shared harness.

mod audit;
mod bad_input;
mod certs;
mod check;
mod cli_conventions;
mod client_examples;
mod concurrency;
mod crash;
mod deploy;
mod docs;
mod examples;
mod firewall;
mod live;
mod masterkey;
mod policy_review;
mod reproducible;
mod rerun;
mod rotate;
mod servers;
mod snapshots;
mod support;
mod team_templates;
