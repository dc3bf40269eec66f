//! The integration tests, built as one binary. `support` holds the shared harness.

mod audit;
mod bad_input;
mod bundle;
mod certs;
mod check;
mod cli_conventions;
mod client_examples;
mod deploy;
mod docs;
mod examples;
mod exporter;
mod firewall;
mod frameworks;
mod host_service;
mod live;
mod masterkey;
mod policy_holes;
mod policy_review;
mod reproducible;
mod rerun;
mod rotate;
mod servers;
mod snapshots;
mod support;
mod team_templates;
mod tls_compliance;
