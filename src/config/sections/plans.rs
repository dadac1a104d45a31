//! `[plans.NAME]`: named plans, so that CI and the operators share one file
//! (`canary release --plan ci`). Each takes the keys of `[plan]` (mode,
//! on_failure, on_cancel, steps), with `[plan]`'s defaults; `[plan]` stays
//! the plan of the cockpit and of `canary release` without `--plan`.

use std::collections::BTreeMap;

use toml::Spanned;

use super::plan;
use crate::config::validate::Cx;
use crate::config::ConfigError;
use crate::core::plan::{OnCancel, PlanSpec};

/// A named plan, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPlan {
    pub spec: PlanSpec,
    /// `None`: `[plan] on_cancel`'s.
    pub on_cancel: Option<OnCancel>,
}

/// Raw `[plans]`: name → a `[plan]`-shaped table.
pub(super) type Raw = BTreeMap<String, Spanned<plan::Raw>>;

pub(super) fn validate(raw: &Raw, cx: &Cx) -> Result<BTreeMap<String, NamedPlan>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, table) in raw {
        let prefix = format!("plans.{name}");
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            return Err(cx.error(
                Some(table.span()),
                Some(&prefix),
                "a plan's name is letters, digits, - and _ (e.g. [plans.ci])".into(),
            ));
        }
        let spec = table.get_ref().validate_at(cx, &prefix)?;
        let on_cancel = table.get_ref().on_cancel(cx, &prefix)?;
        out.insert(name.clone(), NamedPlan { spec, on_cancel });
    }
    Ok(out)
}
