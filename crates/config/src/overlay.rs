//! Environment overrides: `ENTRASTREAM__SECTION__KEY=value` (array elements by index:
//! `ENTRASTREAM__SINKS__0__PATH`) laid over the file's value tree as strings, before anything is
//! typed; every typed setting also accepts a string, which is what makes this work. The
//! environment is injected ([`Env`]), never read or written behind the caller's back.

use std::collections::BTreeMap;
use std::fmt;

use crate::ConfigError;

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "ENTRASTREAM__";

/// The process environment as the config sees it (injectable for tests).
#[derive(Clone, Default)]
pub struct Env {
    pub(crate) vars: BTreeMap<String, String>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: show names only.
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Env {
    /// The real process environment (non-UTF-8 variables are skipped).
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An explicit environment.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// One variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// Lays `ENTRASTREAM__A__B=v` over the tree as `a.b = "v"` (string; typed fields accept it).
pub(crate) fn overlay_env(tree: &mut serde_json::Value, env: &Env) -> Result<(), ConfigError> {
    for (name, value) in &env.vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                name.clone(),
                "empty key segment in environment override",
            ));
        }
        let mut node = &mut *tree;
        let mut path = String::new();
        for (i, seg) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            match node {
                serde_json::Value::Array(items) => {
                    let idx: usize = seg.parse().map_err(|_| {
                        ConfigError::new(
                            format!("{path}.{seg}"),
                            format!("{name}: {path} is a list; use an index such as {path}__0"),
                        )
                    })?;
                    path.push_str(&format!("[{idx}]"));
                    while items.len() <= idx {
                        items.push(serde_json::Value::Object(Default::default()));
                    }
                    node = &mut items[idx];
                }
                serde_json::Value::Object(map) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(seg);
                    let is_index = segments
                        .get(i + 1)
                        .is_some_and(|n| n.parse::<usize>().is_ok());
                    node = map.entry(seg.clone()).or_insert_with(|| {
                        if is_index {
                            serde_json::Value::Array(Vec::new())
                        } else {
                            serde_json::Value::Object(Default::default())
                        }
                    });
                }
                _ => {
                    return Err(ConfigError::new(
                        path.clone(),
                        format!("{name}: {path} is not a section"),
                    ));
                }
            }
            if last {
                *node = serde_json::Value::String(value.clone());
            }
        }
    }
    Ok(())
}
