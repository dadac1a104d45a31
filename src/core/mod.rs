//! The pure core: model, actions, state, update, keymap. No I/O here.

pub mod action;
pub mod describe;
pub mod details;
pub mod error;
pub mod judge;
pub mod keymap;
pub mod model;
pub mod plan;
pub mod release;
pub mod ring;
pub mod roles;
pub mod state;
pub mod traffic;
pub mod update;
