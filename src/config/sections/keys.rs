//! `[keys]`: command name = key or keys. The commands are declared in
//! `core::keymap`; this table only rebinds them.

use std::collections::BTreeMap;

use toml::{Spanned, Value};

use super::{expected, Table};
use crate::config::validate::{found, suggest, Cx};
use crate::config::ConfigError;
use crate::core::keymap::{Command, Key, KeyList, Keymap, KeymapError};

/// `[keys]` is free-form: any command name, checked by the keymap.
pub(super) struct Raw;

impl Table for Raw {
    fn keys() -> &'static [&'static str] {
        &[]
    }

    fn expected(_command: &str) -> Option<&'static str> {
        Some("a key such as \"r\", \"Ctrl-r\" or \"PageUp\", or a list of keys such as [\"j\", \"Down\"]")
    }
}

/// The table as written, and the default keymap with it applied.
pub(super) fn validate(
    table: &BTreeMap<String, Spanned<Value>>,
    cx: &Cx,
) -> Result<(BTreeMap<String, KeyList>, Keymap), ConfigError> {
    let mut keys = BTreeMap::new();
    for (command, leaf) in table {
        let key = format!("keys.{command}");
        let list = match leaf.get_ref() {
            Value::String(s) => KeyList::One(s.clone()),
            Value::Array(items) => {
                let mut names = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => names.push(s.clone()),
                        other => {
                            let message = format!(
                                "invalid type: {} in the list, expected {}",
                                found(other),
                                expected(&key)
                            );
                            return Err(cx.at(leaf, &key, message));
                        }
                    }
                }
                KeyList::Many(names)
            }
            _ => return Err(cx.wrong_type(leaf, &key)),
        };
        keys.insert(command.clone(), list);
    }
    let keymap = Keymap::with_overrides(&keys).map_err(|e| keymap_error(cx, table, &keys, e))?;
    Ok((keys, keymap))
}

fn keymap_error(
    cx: &Cx,
    table: &BTreeMap<String, Spanned<Value>>,
    keys: &BTreeMap<String, KeyList>,
    e: KeymapError,
) -> ConfigError {
    if let Some(leaf) = table.get(&e.command) {
        let mut message = e.message;
        if Command::from_name(&e.command).is_none() {
            if let Some(s) = suggest(&e.command, Command::ALL.map(Command::name)) {
                message.push_str(&format!(" (did you mean `{s}`?)"));
            }
        }
        return cx.at(leaf, &format!("keys.{}", e.command), message);
    }
    // A default binding of a command the file does not mention collides
    // with a key the file binds: point at the file's entry.
    let defaults = Keymap::defaults();
    if let Some(cmd) = Command::from_name(&e.command) {
        let taken = defaults.keys(cmd);
        for (name, list) in keys {
            let hit = list
                .keys()
                .into_iter()
                .filter_map(|k| Key::parse(k).ok())
                .find(|k| taken.contains(k));
            if let (Some(k), Some(leaf)) = (hit, table.get(name)) {
                let message = format!(
                    "key `{k}` is already bound to `{}` by default; bind `{}` to another key too",
                    e.command, e.command
                );
                return cx.at(leaf, &format!("keys.{name}"), message);
            }
        }
    }
    cx.in_section("keys", &[], &format!("keys.{}", e.command), e.message)
}
