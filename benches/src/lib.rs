//! Shared inputs for the benchmarks: a fixed, realistic mix of generated traffic so every bench
//! and every run measures the same bytes.
#![forbid(unsafe_code)]

// The allocator of every bench target that links this crate, for the allocator comparison
// (benches/README.md, "Pinned cores"): glibc's malloc unless a feature picks another.
#[cfg(all(feature = "alloc-mimalloc", feature = "alloc-jemalloc"))]
compile_error!("pick one of the features alloc-mimalloc and alloc-jemalloc");
#[cfg(feature = "alloc-mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(feature = "alloc-jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Which global allocator this build of the benches uses (printed with the results).
pub const ALLOCATOR: &str = if cfg!(feature = "alloc-mimalloc") {
    "mimalloc"
} else if cfg!(feature = "alloc-jemalloc") {
    "jemalloc"
} else {
    "glibc"
};

use entrastream_generator::{Generator, GeneratorConfig};

/// About 64 MiB of envelopes from the generator's realistic category mix (seed 7).
pub fn realistic_bodies(target_bytes: usize) -> Vec<Vec<u8>> {
    let mut generator = Generator::new(GeneratorConfig {
        seed: 7,
        ..GeneratorConfig::default()
    })
    .expect("the default generator config is valid");
    let mut bodies = Vec::new();
    let mut total = 0;
    while total < target_bytes {
        let mut body = Vec::new();
        generator.next_envelope(&mut body);
        total += body.len();
        bodies.push(body);
    }
    bodies
}

pub fn total_bytes(bodies: &[Vec<u8>]) -> u64 {
    bodies.iter().map(|b| b.len() as u64).sum()
}
