//! `[plan]` and its `[[plan.steps]]`: the promotion plan (its type lives with
//! the plan engine).

use std::time::Duration;

use toml::Spanned;

use super::{expected, Leaf, DURATION};
use crate::config::validate::Cx;
use crate::config::ConfigError;
use crate::core::plan::{OnCancel, OnFailure, PlanMode, PlanSpec, PlanStep};

table! {
    struct Raw {
        mode: Leaf => "one of: \"manual\", \"auto\"",
        on_failure: Leaf => "one of: \"rollback\", \"pause\", \"step-down\"",
        on_cancel: Leaf => "one of: \"pause\", \"rollback\"",
        steps: Option<Spanned<Vec<Spanned<RawStep>>>> => "a list of steps such as [{ percent = 10, observe = \"15m\" }, { percent = 100, observe = \"0s\" }], rising, ending at 100",
    }
}

table! {
    /// One `[[plan.steps]]` entry.
    expecting "a table with percent and observe"
    struct RawStep {
        percent: Leaf => "a percentage between 1 and 100",
        observe: Leaf => DURATION,
    }
}

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<PlanSpec, ConfigError> {
        self.validate_at(cx, "plan")
    }

    /// What a cancelled `canary release` leaves (`prefix`: `plan`, or
    /// `plans.NAME` for a named plan).
    pub(super) fn on_cancel(&self, cx: &Cx, prefix: &str) -> Result<Option<OnCancel>, ConfigError> {
        cx.choice(
            &self.on_cancel,
            &format!("{prefix}.on_cancel"),
            &[("pause", OnCancel::Pause), ("rollback", OnCancel::Rollback)],
        )
    }

    /// The plan under `[prefix]` (`plan`, or `plans.NAME`).
    pub(super) fn validate_at(&self, cx: &Cx, prefix: &str) -> Result<PlanSpec, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let d = PlanSpec::domain_default();
        let mode = cx
            .choice(
                &self.mode,
                &key("mode"),
                &[("manual", PlanMode::Manual), ("auto", PlanMode::Auto)],
            )?
            .unwrap_or(d.mode);
        let on_failure = cx
            .choice(
                &self.on_failure,
                &key("on_failure"),
                &[
                    ("rollback", OnFailure::Rollback),
                    ("pause", OnFailure::Pause),
                    ("step-down", OnFailure::StepDown),
                ],
            )?
            .unwrap_or(d.on_failure);
        let steps = match &self.steps {
            None => d.steps,
            Some(list) => {
                let mut steps = Vec::new();
                for item in list.get_ref() {
                    let step = item.get_ref();
                    let Some(percent) =
                        cx.int::<u8>(&step.percent, &key("steps.percent"), 1..=100)?
                    else {
                        return Err(cx.error(
                            Some(item.span()),
                            Some(&key("steps.percent")),
                            "missing: every step needs a percent, e.g. { percent = 10, observe = \"15m\" }".into(),
                        ));
                    };
                    let observe = cx
                        .duration_or_zero(&step.observe, &key("steps.observe"))?
                        .unwrap_or(Duration::ZERO);
                    steps.push(PlanStep { percent, observe });
                }
                steps
            }
        };
        let spec = PlanSpec {
            steps,
            mode,
            on_failure,
        };
        if let Err(why) = spec.validate() {
            let span = self.steps.as_ref().map(|s| s.span());
            return Err(cx.error(
                span,
                Some(&key("steps")),
                format!("{why}; expected {}", expected("plan.steps")),
            ));
        }
        Ok(spec)
    }
}
