//! The cockpit's backends in-process against real servers on 127.0.0.1:0:
//! Cloud Run, Cloud Logging and Cloud Monitoring against the fake
//! (`canary_fakes::cloud_run`, checked against Google's discovery documents in
//! `contracts` and driven by Google's Python client), Application Default
//! Credentials, the fault table, the journal guard, a real HAProxy and
//! Prometheus with the sample app, file and command logs, the check kinds;
//! Kubernetes against its fake (`canary_fakes::kubernetes`) with `kubectl`.
//!
//! `cargo test --test backends`; one module: `cargo test --test backends haproxy::`.

#[path = "../support/mod.rs"]
mod support;

mod adc;
mod check_runner;
mod checks;
mod cloud_logging;
mod cloud_run;
mod contracts;
mod faults;
mod haproxy;
mod journal_guard;
mod kubernetes;
mod log_command;
mod log_file;
mod prometheus;
mod python_client;
mod release_cloud_run;
mod release_latency;
mod release_properties;
mod sample_app;
