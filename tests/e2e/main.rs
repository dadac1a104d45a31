//! End to end: the real binary in a pseudo-terminal, keys in and the screen
//! (a VT100 emulator) out, on the simulator (`pty`, `plan`), on the Cloud Run
//! fake (`cloud_run`, `crash`), and on the real local stack of
//! `scripts/stack.sh` (`stack_plan`, `stack_script`: one stack at a time).
//!
//! `cargo test --test e2e`; one module: `cargo test --test e2e stack_plan::`.

#[path = "../support/mod.rs"]
mod support;

mod cloud_run;
mod crash;
mod plan;
mod pty;
mod release;
mod remote;
mod stack_plan;
mod stack_script;
