//! What the test binaries share. A `tests/AREA/main.rs` that needs it
//! declares `#[path = "../support/mod.rs"] mod support;` once and its modules
//! `use crate::support::…` (a binary uses only part of it, hence the
//! `dead_code` allowance).
#![allow(dead_code)]

pub mod canned_http;
pub mod live_stack;
pub mod local_stack;
pub mod run;
pub mod schema;
pub mod tty;
pub mod webhook;
