//! `[deploy]`: what `D` and `canary deploy` give a new revision by default
//! (the settings type lives with the release, `core::release`).

use super::Leaf;
use crate::config::validate::Cx;
use crate::config::ConfigError;
use crate::core::release::{check_tag, expand_tag, ReleaseSettings};

table! {
    struct Raw {
        tag: Leaf => "a tag template: lowercase letters, digits, dashes and {date}, e.g. \"canary-{date}\"",
        checks: Leaf => "true or false",
    }
}

impl Raw {
    /// The defaults of `[deploy]` on `into`.
    pub(super) fn validate(
        &self,
        cx: &Cx,
        into: ReleaseSettings,
    ) -> Result<ReleaseSettings, ConfigError> {
        let tag = match cx.string(&self.tag, "deploy.tag")? {
            None => into.tag.clone(),
            Some((t, l)) => {
                // Checked as it would expand today (`{date}` is digits).
                if check_tag(&expand_tag(t, chrono::Utc::now())).is_err() {
                    return Err(cx.wrong_value(l, "deploy.tag", format!("{t:?}")));
                }
                t.to_string()
            }
        };
        Ok(ReleaseSettings {
            tag,
            checks_after_deploy: cx
                .boolean(&self.checks, "deploy.checks")?
                .unwrap_or(into.checks_after_deploy),
            ..into
        })
    }
}
