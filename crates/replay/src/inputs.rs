//! What `--from` names, as a sorted list of files: a directory (in the storage-export layout or
//! not, walked recursively), a file, or a file-name pattern with `*` / `?`.

use std::path::{Path, PathBuf};

use entrastream_archive::{Compression, parse_blob_path};

use crate::ReplayError;
use crate::select::Selection;

/// One file to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its name in the state file, dead-letter lines and metrics (the path as found).
    pub name: String,
    /// From its suffix (`.gz`, `.zst`).
    pub compression: Compression,
    /// Its size on disk (compressed), for the progress bar.
    pub size: u64,
    /// A blob (`--from https://…`), read with ranged GETs instead of from `path`.
    pub remote: Option<crate::remote::Remote>,
}

/// The files `from` names, in replay order (per hour directory: `PT1H.json`, then its
/// numbered siblings). Layout files of unwanted categories, and hours far outside the window,
/// are left out without being read.
pub fn expand(from: &str, selection: &Selection) -> Result<Vec<InputFile>, ReplayError> {
    if crate::remote::is_url(from) {
        return Err(ReplayError::Unsupported(format!(
            "{}: a Blob Storage URL is listed by remote::expand",
            from.split('?').next().unwrap_or("")
        )));
    }
    let path = Path::new(from);
    let mut files = Vec::new();
    if path.is_dir() {
        walk(path, path, selection, &mut files)?;
    } else if path.exists() {
        // A named path that is not a directory is read as given, whatever it is: a regular
        // file, or `/dev/null`, `/dev/stdin` or a FIFO, which `parse` and `report` have always
        // accepted (their size, 0, only feeds the progress total).
        files.push(input(path.to_path_buf())?);
    } else if let Some(pattern) = path.file_name().and_then(|n| n.to_str())
        && (pattern.contains('*') || pattern.contains('?'))
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let entries = std::fs::read_dir(dir).map_err(|e| ReplayError::Read {
            path: dir.display().to_string(),
            error: e,
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_file()
                && entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| wildcard(pattern, n))
            {
                files.push(input(p)?);
            }
        }
        if files.is_empty() {
            return Err(ReplayError::NotFound(format!("{from}: no file matches")));
        }
    } else {
        return Err(ReplayError::NotFound(format!(
            "{from}: no such file or directory"
        )));
    }
    files.sort_by_key(order_key);
    Ok(files)
}

/// Hour directory, then sibling number, then name.
pub fn order_key(f: &InputFile) -> (String, u32, String) {
    match parse_blob_path(&f.name) {
        Some(b) => {
            let dir = f.name.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
            (dir, b.sibling, f.name.clone())
        }
        None => (f.name.clone(), 0, String::new()),
    }
}

fn input(path: PathBuf) -> Result<InputFile, ReplayError> {
    let size = std::fs::metadata(&path)
        .map_err(|e| ReplayError::Read {
            path: path.display().to_string(),
            error: e,
        })?
        .len();
    let name = path.display().to_string();
    Ok(InputFile {
        compression: Compression::from_name(&name),
        name,
        path,
        size,
        remote: None,
    })
}

fn walk(
    root: &Path,
    dir: &Path,
    selection: &Selection,
    out: &mut Vec<InputFile>,
) -> Result<(), ReplayError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ReplayError::Read {
        path: dir.display().to_string(),
        error: e,
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| ReplayError::Read {
            path: dir.display().to_string(),
            error: e,
        })?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // Probe files, editors' and tools' temporaries.
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // A container of another category is not entered at all.
        if let Some(cat) = name.strip_prefix(entrastream_archive::layout::CONTAINER_PREFIX)
            && path.is_dir()
            && !selection.wants_category(cat)
        {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, selection, out)?;
        } else if path.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy();
            if let Some(b) = parse_blob_path(&rel)
                && !selection.wants_hour(b.key.start_unix())
            {
                continue;
            }
            out.push(input(path)?);
        }
    }
    Ok(())
}

/// `*` (any run) and `?` (one character) over a file name.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*.gz", "a.ndjson.gz"));
        assert!(wildcard("part-?.json", "part-1.json"));
        assert!(!wildcard("*.gz", "a.zst"));
        assert!(wildcard("*", ""));
    }

    #[test]
    fn layout_directories_are_listed_in_hour_order_and_pruned() {
        let d = tempfile::tempdir().unwrap();
        let hour = |c: &str, h: u32, f: &str| {
            let p = d.path().join(format!(
                "insights-logs-{c}/tenantId=t/y=2024/m=06/d=20/h={h:02}/m=00/{f}"
            ));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "{}\n").unwrap();
        };
        hour("signinlogs", 5, "PT1H.json");
        hour("signinlogs", 5, "PT1H.1.json");
        hour("signinlogs", 5, "PT1H.2.json.gz");
        hour("signinlogs", 4, "PT1H.json");
        hour("auditlogs", 5, "PT1H.json");
        std::fs::write(d.path().join(".probe"), "").unwrap();
        let all = expand(d.path().to_str().unwrap(), &Selection::default()).unwrap();
        let names: Vec<String> = all
            .iter()
            .map(|f| f.name.split("insights-logs-").nth(1).unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "auditlogs/tenantId=t/y=2024/m=06/d=20/h=05/m=00/PT1H.json",
                "signinlogs/tenantId=t/y=2024/m=06/d=20/h=04/m=00/PT1H.json",
                "signinlogs/tenantId=t/y=2024/m=06/d=20/h=05/m=00/PT1H.json",
                "signinlogs/tenantId=t/y=2024/m=06/d=20/h=05/m=00/PT1H.1.json",
                "signinlogs/tenantId=t/y=2024/m=06/d=20/h=05/m=00/PT1H.2.json.gz",
            ]
        );
        assert_eq!(all[4].compression, Compression::Gzip);
        let sel = Selection {
            categories: Some(vec!["SignInLogs".into()]),
            ..Default::default()
        };
        assert_eq!(expand(d.path().to_str().unwrap(), &sel).unwrap().len(), 4);
        let far = Selection {
            since: Some(crate::select::parse_time("2024-07-01").unwrap()),
            ..Default::default()
        };
        assert!(expand(d.path().to_str().unwrap(), &far).unwrap().is_empty());
        let pattern = format!(
            "{}/insights-logs-signinlogs/tenantId=t/y=2024/m=06/d=20/h=05/m=00/PT1H.*",
            d.path().display()
        );
        assert_eq!(expand(&pattern, &Selection::default()).unwrap().len(), 3);
        assert!(expand("/nonexistent/x", &Selection::default()).is_err());
        assert!(expand("https://a.blob.core.windows.net/c", &Selection::default()).is_err());
    }

    /// `report /dev/null` and `parse … /dev/null` worked before report took replay's SOURCE
    /// forms: a path that exists and is not a directory is read as a file.
    #[test]
    fn a_device_path_is_read_as_a_file() {
        let files = expand("/dev/null", &Selection::default()).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, Path::new("/dev/null"));
    }
}
