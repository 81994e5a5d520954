//! Secret references, resolved once over the value tree before it is typed: a secret key `X`
//! may be written as `X` (the value), `X_env` (the name of an environment variable) or
//! `X_file` (a path, as Kubernetes mounts secrets); exactly one of the three. After
//! [`resolve_in_table`], the table holds only `X`, so every component's `Config` has one
//! `Secret` field per secret and never sees the `_env` / `_file` forms.

use std::path::Path;

use serde_json::{Map, Value};

use crate::{ConfigError, Env};

/// How a secret of `[source]` or `[checkpoint]` was written, so that `check-config` prints it
/// the way the operator wrote it (`connection_string_env = "NAME"`), as it always has.
#[derive(Debug, Clone)]
pub(crate) struct WrittenAs {
    /// The table, e.g. `source`.
    pub table: String,
    /// The secret's key, e.g. `connection_string`.
    pub key: String,
    /// The key as written, e.g. `connection_string_env`, with its (non-secret) value.
    pub written_key: String,
    /// The environment variable's name or the file's path.
    pub written_value: String,
}

/// Resolves the secret keys `keys` of the table at `path` (`sinks[0]`, `source`) in place.
/// With `required`, a key with none of its three forms is an error naming it. The forms other
/// than the value are recorded in `written` (when given).
pub(crate) fn resolve_in_table(
    table: &mut Map<String, Value>,
    path: &str,
    keys: &[&str],
    required: bool,
    env: &Env,
    mut written: Option<&mut Vec<WrittenAs>>,
) -> Result<(), ConfigError> {
    for key in keys {
        let env_key = format!("{key}_env");
        let file_key = format!("{key}_file");
        let full = |k: &str| format!("{path}.{k}");
        let set = [key, env_key.as_str(), file_key.as_str()]
            .iter()
            .filter(|k| table.contains_key(**k))
            .count();
        if set > 1 {
            return Err(ConfigError::new(
                full(key),
                format!(
                    "set only one of {}, {}, {}",
                    full(key),
                    full(&env_key),
                    full(&file_key)
                ),
            ));
        }
        let (form, resolved) = if let Some(name) = table.remove(&env_key) {
            let name = as_text(&name, &full(&env_key))?;
            match env.get(&name) {
                Some(v) if !v.is_empty() => ((env_key.clone(), name), v.to_string()),
                _ => {
                    return Err(ConfigError::new(
                        full(&env_key),
                        format!("environment variable {name} is not set"),
                    ));
                }
            }
        } else if let Some(file) = table.remove(&file_key) {
            let file = as_text(&file, &full(&file_key))?;
            let value = read_secret_file(Path::new(&file))
                .map_err(|message| ConfigError::new(full(&file_key), message))?;
            ((file_key.clone(), file), value)
        } else {
            if required && !table.contains_key(*key) {
                return Err(ConfigError::new(
                    full(key),
                    format!("set one of {key}, {env_key}, {file_key}"),
                ));
            }
            continue;
        };
        table.insert(key.to_string(), Value::String(resolved));
        if let Some(w) = written.as_deref_mut() {
            w.push(WrittenAs {
                table: path.to_string(),
                key: key.to_string(),
                written_key: form.0,
                written_value: form.1,
            });
        }
    }
    Ok(())
}

fn as_text(v: &Value, path: &str) -> Result<String, ConfigError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| ConfigError::new(path, "must be a string"))
}

/// A secret file's content without its trailing line break. The error names the path only,
/// never the content.
fn read_secret_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|v| v.trim_end_matches(['\n', '\r']).to_string())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}
