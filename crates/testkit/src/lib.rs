//! What the test suites of every virnucpro crate share: where the golden files made by the
//! original Python code are, and what a test does when they are not there.
//!
//! A user's own clone has no `../shared/golden`; its golden tests are skipped, each saying so on
//! the terminal (past the test harness's capture). CI sets `VIRNUCPRO_REQUIRE_GOLDEN=1`, which
//! turns a missing golden file into a failure, so a moved or misnamed golden directory can never
//! make the suite pass by skipping.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The variable that points at the golden directory when it is not `../shared/golden`.
pub const GOLDEN_VAR: &str = "VIRNUCPRO_GOLDEN";

/// The variable that makes a missing golden file a test failure (`1` in CI).
pub const REQUIRE_VAR: &str = "VIRNUCPRO_REQUIRE_GOLDEN";

/// The golden directory: `$VIRNUCPRO_GOLDEN`, else `shared/golden` beside the repository.
pub fn golden_root() -> PathBuf {
    std::env::var_os(GOLDEN_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden"))
}

/// Whether missing golden files must fail the test instead of skipping it.
pub fn golden_required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `golden_root()/part` when it exists (a file or a directory). Otherwise `None`, after
/// writing `skipped: <test>: ...` to the terminal; or a panic when
/// [`golden_required`].
pub fn golden(part: &str) -> Option<PathBuf> {
    let path = golden_root().join(part);
    if path.exists() {
        return Some(path);
    }
    if golden_required() {
        panic!(
            "golden file {} is missing and {REQUIRE_VAR} is set",
            path.display()
        );
    }
    // Straight to the process's stderr: libtest captures `eprintln!` of passing tests, and a
    // skip must be seen.
    skip(&format!(
        "golden file {} not found (set {GOLDEN_VAR} to its directory)",
        path.display()
    ));
    None
}

/// The golden directory when `marker` (a part every test of the file needs, such as `models`)
/// is in it; otherwise as [`golden`].
pub fn golden_dir(marker: &str) -> Option<PathBuf> {
    golden(marker).map(|_| golden_root())
}

/// Writes `skipped: <test>: <why>` where the user sees it, past the harness's capture.
pub fn skip(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = writeln!(std::io::stderr().lock(), "skipped: {test}: {why}");
}

/// A small tmpfs mounted on a temporary directory: a disk that fills up at a chosen size.
/// Unmounted (then removed) when dropped, also when the test panics.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (mount's form: `48k`, `64m`); `None` with a loud skip where
    /// mounting is not allowed (it needs root; CI runs as root).
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            skip("cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs { dir })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Grows or shrinks it to `bytes`; whether mount agreed.
    pub fn resize(&self, bytes: u64) -> bool {
        Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_part_is_skipped_or_fails_as_required() {
        let part = "no/such/golden/part";
        if golden_required() {
            let failed = std::thread::spawn(move || golden(part)).join().is_err();
            assert!(failed, "a missing golden file must fail when required");
        } else {
            assert_eq!(golden(part), None);
        }
    }
}
