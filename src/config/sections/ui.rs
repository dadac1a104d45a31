//! `[ui]`: frame rate and colour.

use std::ffi::OsStr;

use serde::{Deserialize, Serialize};

use super::Leaf;
use crate::config::validate::Cx;
use crate::config::ConfigError;

table! {
    struct Raw {
        max_fps: Leaf => "a number of frames per second between 1 and 120",
        color: Leaf => "one of: \"auto\", \"always\", \"never\"",
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UiConfig {
    /// 1..=120.
    pub max_fps: u32,
    pub color: ColorChoice,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            max_fps: 30,
            color: ColorChoice::Auto,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    /// Colour unless `NO_COLOR` is set to a non-empty value.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            ColorChoice::Auto => "auto",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }
    }

    /// Whether to draw in colour, reading `NO_COLOR` from the environment.
    pub fn use_color(self) -> bool {
        self.use_color_with(std::env::var_os("NO_COLOR").as_deref())
    }

    /// Whether to draw in colour given the value of `NO_COLOR` (<https://no-color.org>:
    /// set and non-empty means no colour).
    pub fn use_color_with(self, no_color: Option<&OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => no_color.filter(|v| !v.is_empty()).is_none(),
        }
    }
}

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<UiConfig, ConfigError> {
        let d = UiConfig::default();
        let colors =
            [ColorChoice::Auto, ColorChoice::Always, ColorChoice::Never].map(|c| (c.as_str(), c));
        Ok(UiConfig {
            max_fps: cx
                .int(&self.max_fps, "ui.max_fps", 1..=120)?
                .unwrap_or(d.max_fps),
            color: cx
                .choice(&self.color, "ui.color", &colors)?
                .unwrap_or(d.color),
        })
    }
}
