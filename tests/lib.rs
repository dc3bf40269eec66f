//! The integration tests, built as one binary. `support` holds the shared harness.

mod bad_input;
mod examples;
mod live;
mod rerun;
mod snapshots;
mod support;
