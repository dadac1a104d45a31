//! The scripting commands (`status`, `set`, `rollback`): as library calls
//! (`library`) and as the real binary (`commands`, `usage`), against the
//! Cloud Run fake, through the fault table (`faults`) and a SIGKILL in the
//! middle of a change (`crash`); `canary release`, `wait` and the lease
//! against the simulator and the fake (`unattended`).
//!
//! `cargo test --test cli`; one module: `cargo test --test cli faults::`.

#[path = "../support/mod.rs"]
mod support;

mod commands;
mod crash;
mod faults;
mod library;
mod release;
mod unattended;
mod usage;
