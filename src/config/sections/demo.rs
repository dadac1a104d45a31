//! `[demo]`: the simulator's scenario.

use super::Leaf;
use crate::config::validate::Cx;
use crate::config::ConfigError;

table! {
    struct Raw {
        scenario: Leaf => "a built-in scenario name such as \"healthy\" or a path to a scenario file",
        seed: Leaf => "a whole number, 0 or more",
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoConfig {
    /// A built-in scenario name or a path to a scenario file.
    pub scenario: String,
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            scenario: "healthy".into(),
            seed: 42,
        }
    }
}

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<DemoConfig, ConfigError> {
        let d = DemoConfig::default();
        let scenario = match cx.string(&self.scenario, "demo.scenario")? {
            None => d.scenario,
            Some((s, l)) if s.trim().is_empty() => {
                return Err(cx.wrong_value(l, "demo.scenario", format!("{s:?}")))
            }
            Some((s, _)) => s.to_string(),
        };
        Ok(DemoConfig {
            scenario,
            seed: cx
                .int(&self.seed, "demo.seed", 0..=i64::MAX)?
                .unwrap_or(d.seed),
        })
    }
}
