//! The device self-check, run on the CPU: every comparison passes in fp32, and a directory that
//! is not a golden one is a clear error.

use virnucpro_testkit::golden_dir;

use candle_core::Device;
use virnucpro_models::Precision;
use virnucpro_predict::selfcheck;

#[test]
fn every_check_passes_on_the_cpu_in_fp32() {
    let Some(golden) = golden_dir("models") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let checks = selfcheck::run(&golden, &Device::Cpu, &[Precision::F32], work.path()).unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    for expected in [
        "esm2 packed",
        "esm2 padded",
        "dnabert padded",
        "e2e genomes L500",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    assert!(checks.len() >= 13, "{names:?}");
    for c in &checks {
        assert!(c.pass, "{}: {}", c.name, c.detail);
    }
}

#[test]
fn a_directory_without_goldens_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let err =
        selfcheck::run(work.path(), &Device::Cpu, &[Precision::F32], work.path()).unwrap_err();
    assert!(err.to_string().contains("not a golden directory"), "{err}");
}
