//! `canary`: a terminal cockpit for supervising and driving canary deployments.
//!
//! The shape: keys, ticks and background tasks produce [`core::action::Action`]s;
//! the pure [`core::update::update`] turns them into state changes and
//! [`core::action::Effect`]s; the runtime executes effects as background tasks;
//! [`ui::render`] only reads the state.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod app;
pub mod checks;
pub mod cli;
pub mod config;
pub mod core;
pub mod google;
pub mod journal;
pub mod logs;
pub mod metrics;
pub mod platform;
pub mod runtime;
pub mod ui;
