//! `virnucpro utils list-devices`, `virnucpro utils validate` and `virnucpro utils self-check`.

use anyhow::{bail, Result};

use crate::args::{SelfCheckArgs, ValidateArgs};

/// Prints the CPU and the CUDA devices that open.
pub fn list_devices(threads: usize) -> Result<()> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("cpu: {cores} logical cores ({threads} threads used; -t to change)");
    if !candle_core::utils::cuda_is_available() {
        println!("cuda: not available in this build (rebuild with --features cuda on a machine with an NVIDIA GPU)");
        return Ok(());
    }
    let mut found = 0;
    for ordinal in 0..64 {
        match candle_core::Device::new_cuda(ordinal) {
            Ok(_) => {
                println!("cuda:{ordinal}: ready");
                found += 1;
            }
            Err(_) => break,
        }
    }
    if found == 0 {
        println!(
            "cuda: built with CUDA, but no GPU could be opened (driver? CUDA_VISIBLE_DEVICES?)"
        );
    }
    Ok(())
}

/// Validates a FASTA and prints the report; fails (exit 1) when it would be refused.
pub fn validate(args: ValidateArgs) -> Result<()> {
    let r = virnucpro_seq::validate::validate(&args.input, args.max_errors)?;
    println!("File statistics: {}", args.input.display());
    println!("  Total sequences: {}", r.records);
    match r.length_range {
        Some((lo, hi)) => println!("  Length range: {lo}-{hi} bp"),
        None => println!("  Length range: no sequence"),
    }
    let nonempty = r.records - r.empty;
    if nonempty > 0 {
        println!(
            "  Average length: {:.1} bp",
            r.bases as f64 / nonempty as f64
        );
    }
    println!(
        "  Sequences with ambiguous bases: {} ({:.3} % of all bases are ambiguous)",
        r.ambiguous_records,
        if r.bases > 0 {
            100.0 * r.ambiguous_bases as f64 / r.bases as f64
        } else {
            0.0
        }
    );
    println!("  Duplicate IDs: {}", r.duplicates);
    println!("  Empty records: {}", r.empty);
    println!("  Records with invalid letters: {}", r.invalid);
    for e in &r.errors {
        println!("  ✗ {e}");
    }
    for w in &r.warnings {
        println!("  ⚠ {w}");
    }
    if r.is_valid() {
        println!("✓ File is valid and ready for processing");
        Ok(())
    } else {
        bail!(
            "{} is not valid input (see the errors above)",
            args.input.display()
        )
    }
}

/// Runs the golden comparisons on a device and prints the table.
pub fn self_check(args: SelfCheckArgs) -> Result<()> {
    let device = args.device.open_one()?;
    let precisions = args.precision.0;
    let temp;
    let work = match &args.workdir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let checks = virnucpro_predict::selfcheck::run(&args.golden, &device, &precisions, &work)?;
    println!("self-check on {} ({})", args.device, args.golden.display());
    println!(
        "{:<32} {:<6} {:<5} {:>8}  detail",
        "check", "dtype", "", "seconds"
    );
    for c in &checks {
        println!(
            "{:<32} {:<6} {:<5} {:>8.2}  {}",
            c.name,
            c.precision.name(),
            if c.pass { "PASS" } else { "FAIL" },
            c.seconds,
            c.detail
        );
    }
    let failed = checks.iter().filter(|c| !c.pass).count();
    if failed > 0 {
        bail!("{failed} of {} checks missed their tolerance", checks.len());
    }
    println!("all {} checks passed", checks.len());
    Ok(())
}
