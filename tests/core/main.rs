//! The cockpit in one process, no server: the pure core (`update` for every
//! key and mode, the plan engine and the plan in `update`, roles, the
//! statistical judge and its reference against scipy, property tests), the
//! screen's snapshots (`snapshots/`), the config, the audit journal, the
//! simulator, and the check conditions and exposition parser.
//!
//! `cargo test --test core`; one module: `cargo test --test core snapshots::`.

mod baseline;
mod check_expr;
mod config;
mod drive;
mod exposition;
mod gates_observe;
mod journal;
mod judge_flow;
mod judge_reference;
mod kubernetes;
mod plan;
mod plan_flow;
mod plan_lag;
mod properties;
mod release_flow;
mod release_snapshots;
mod roles;
mod simulator;
mod snapshots;
mod subtle_canary;
mod update;
