//! Reading the file into a value tree: TOML, or YAML by extension (`.yaml` / `.yml`).

use std::path::Path;

use crate::ConfigError;

/// The file's text, and whether it is YAML.
pub(crate) fn read(path: &Path) -> Result<(String, bool), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            "",
            format!("cannot read config file {}: {e}", path.display()),
        )
    })?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    Ok((text, yaml))
}

/// The text as an untyped tree (an empty file is an empty table).
pub(crate) fn parse(text: &str, yaml: bool) -> Result<serde_json::Value, ConfigError> {
    let tree: serde_json::Value = if yaml {
        serde_norway::from_str(text)
            .map_err(|e| ConfigError::new("", format!("invalid YAML: {e}")))?
    } else {
        toml::from_str(text).map_err(|e| ConfigError::new("", format!("invalid TOML: {e}")))?
    };
    Ok(if tree.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        tree
    })
}
