//! Mutation fuzzing with proptest, shared by `tests/fuzz.rs` and
//! `crates/pneumo-torch/tests/fuzz.rs` (included there by path).
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// One edit of a byte string: (position as a fraction of its length, kind, byte).
pub type Edit = (f64, u8, u8);

pub fn mutate(seed: &[u8], edits: &[Edit], keep: f64) -> Vec<u8> {
    let mut out = seed.to_vec();
    for &(at, kind, byte) in edits {
        let i = ((out.len() as f64) * at) as usize;
        match kind % 3 {
            0 if i < out.len() => out[i] = byte,
            1 => out.insert(i.min(out.len()), byte),
            _ if i < out.len() => {
                out.remove(i);
            }
            _ => {}
        }
    }
    out.truncate(((out.len() as f64) * keep).ceil() as usize);
    out
}

pub fn edits() -> impl Strategy<Value = (Vec<Edit>, f64)> {
    (
        prop::collection::vec((0.0..1.0f64, any::<u8>(), any::<u8>()), 1..8),
        prop_oneof![Just(1.0), 0.0..1.0f64],
    )
}

/// A deterministic runner: the same cases on every machine, so a failure reproduces.
pub fn runner(cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    )
}
