//! The pure core: model, actions, state, update, keymap. No I/O here.
//!
//! It imports nothing above it: the journal's records ([`record`]), key
//! events ([`key`]) and durations ([`duration`]) are its own, and the check
//! results it shows are declared in [`state`]. The one outside type it holds
//! is tui-textarea's editor in an input box ([`state::Input`] says why).

pub mod action;
pub mod baseline;
pub mod describe;
pub mod details;
pub mod duration;
pub mod error;
pub mod judge;
pub mod key;
pub mod keymap;
pub mod kube_preview;
pub mod lease;
pub mod model;
pub mod plan;
pub mod preview;
pub mod record;
pub mod release;
pub mod release_call;
pub mod ring;
pub mod roles;
pub mod state;
pub mod traffic;
pub mod update;
