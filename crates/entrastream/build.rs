//! Build script: the git commit for `entrastream_build_info{commit}`, as env
//! `ENTRASTREAM_COMMIT` of the compiler. Taken from the environment when set (container and CI
//! builds pass it: a build context often has no `.git`), else from `git rev-parse HEAD`, else
//! `unknown`. It reruns only when HEAD moves, so ordinary builds are not slowed.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=ENTRASTREAM_COMMIT");
    let commit = std::env::var("ENTRASTREAM_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            // Rerun when HEAD or the branch it points to moves.
            for path in [
                git(&["rev-parse", "--git-path", "HEAD"]),
                git(&["symbolic-ref", "-q", "HEAD"])
                    .and_then(|r| git(&["rev-parse", "--git-path", &r])),
                git(&["rev-parse", "--git-path", "packed-refs"]),
            ]
            .into_iter()
            .flatten()
            // A missing file would make cargo rerun this script on every build.
            .filter(|p| std::path::Path::new(p).exists())
            {
                println!("cargo:rerun-if-changed={path}");
            }
            git(&["rev-parse", "--short=12", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ENTRASTREAM_COMMIT={commit}");
}
