//! `[revisions]`: how many old revisions a prune keeps, and whether a
//! promotion prunes by itself.

use super::Leaf;
use crate::config::validate::Cx;
use crate::config::ConfigError;
use crate::core::release::ReleaseSettings;

table! {
    struct Raw {
        keep: Leaf => "a number of revisions between 1 and 1000",
        prune_after_promote: Leaf => "true or false",
    }
}

impl Raw {
    /// The prune settings on `into`.
    pub(super) fn validate(
        &self,
        cx: &Cx,
        into: ReleaseSettings,
    ) -> Result<ReleaseSettings, ConfigError> {
        Ok(ReleaseSettings {
            keep: cx
                .int::<usize>(&self.keep, "revisions.keep", 1..=1000)?
                .unwrap_or(into.keep),
            prune_after_promote: cx
                .boolean(&self.prune_after_promote, "revisions.prune_after_promote")?
                .unwrap_or(into.prune_after_promote),
            ..into
        })
    }
}
