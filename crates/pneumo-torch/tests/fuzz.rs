//! Property-based fuzzing of the readers that take files from outside on the network side:
//! weights (safetensors) into a VarStore, and the model card `predict` trusts. Mutations of
//! the seeds in `fuzz-corpus/`; any input may be refused, none may panic. See the root
//! crate's `tests/fuzz.rs` for the method and the `.pth` and pipeline.yaml readers.

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use tch::nn::{self, VarStore};

#[path = "../../../tests/fuzz_support/mod.rs"]
mod fuzz_support;
use fuzz_support::{edits, mutate, runner};

fn corpus(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz-corpus")
            .join(name),
    )
    .unwrap()
}

#[test]
fn the_weights_loader_never_panics_on_mutated_safetensors() {
    let seed = corpus("fc.safetensors");
    let mut vs = VarStore::new(tch::Device::Cpu);
    let _fc = nn::linear(vs.root() / "fc", 4, 1, Default::default());
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("case.safetensors");
    fs::write(&file, &seed).unwrap();
    let loaded = pneumo_torch::weights::load(&mut vs, &file).unwrap();
    let vs = std::cell::RefCell::new(vs); // the runner's closure is `Fn`
    assert_eq!(
        loaded.copied, 2,
        "the seed loads: the success path is exercised too"
    );
    runner(50_000)
        .run(&edits(), |(edits, keep)| {
            fs::write(&file, mutate(&seed, &edits, keep)).unwrap();
            let _ = pneumo_torch::weights::load(&mut vs.borrow_mut(), &file);
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_model_card_loader_never_panics_and_keeps_its_promises() {
    let seed = corpus("model.json");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("model.json");
    runner(50_000)
        .run(&edits(), |(edits, keep)| {
            fs::write(&file, mutate(&seed, &edits, keep)).unwrap();
            if let Ok(card) = pneumo_contract::card::ModelCard::load(&file) {
                // whatever parsed is safe to use
                prop_assert!(pneumo_contract::card::SIDES.contains(&card.input_side));
                prop_assert!(card.std.iter().all(|s| *s > 0.0 && s.is_finite()));
                prop_assert!((0.0..=1.0).contains(&card.threshold));
            }
            Ok(())
        })
        .unwrap();
}
