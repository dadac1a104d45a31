//! The fake's state: objects, the global resourceVersion, watch history, logs.
#![allow(dead_code, unused_variables)]

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use super::time::Time;
use super::{Controllers, Fault, Kind, RecordedRequest, Verb};

pub(crate) struct State {
    pub rv: u64,
    pub controllers: Controllers,
    pub faults: Vec<Fault>,
    pub denied: HashSet<(Verb, String)>,
    pub user: String,
    pub delay: Duration,
    pub required_token: Option<String>,
    pub requests: Vec<RecordedRequest>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub fn new() -> Shared {
        todo!()
    }
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn shutdown(&self) {}
    pub fn close_streams(&self) {}
    pub fn put(&self, manager: &str, kind: Kind, ns: &str, object: Value) -> Value {
        todo!()
    }
    pub fn remove(&self, kind: Kind, ns: &str, name: &str) -> Option<Value> {
        todo!()
    }
    pub fn get(&self, kind: Kind, ns: &str, name: &str) -> Option<Value> {
        todo!()
    }
    pub fn list(&self, kind: Kind, ns: &str) -> Vec<Value> {
        todo!()
    }
    pub fn append_log(&self, ns: &str, pod: &str, container: &str, line: &str, t: Time) {
        todo!()
    }
    pub fn complete_rollout(&self, ns: &str, name: &str) {
        todo!()
    }
    pub fn progress_rollout(&self, ns: &str, name: &str, updated: i64) {
        todo!()
    }
    pub fn fail_rollout(&self, ns: &str, name: &str, message: &str) {
        todo!()
    }
    pub fn set_route_status(&self, ns: &str, name: &str, accepted: bool, resolved: bool) {
        todo!()
    }
}

pub(crate) fn managers_of(object: &Value, field: &str) -> Vec<String> {
    todo!()
}
