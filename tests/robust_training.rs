//! Training's robustness options at 64 px on real data: each one changes what is trained,
//! an unset one leaves the keys of older configs alone, and with all of them on a run
//! killed mid-way resumes to the same bytes as an uninterrupted one (their randomness is a
//! function of the seed and the iteration).

mod common;

use std::fs;

use common::Ws;

const PLAIN: &str =
    "params: {batch_size: 16, eval_every: 4, max_iterations: 8, patience: 5, seed: 3}";

fn with(params: &str) -> String {
    PLAIN.replace("seed: 3}", &format!("seed: 3, {params}}}"))
}

fn latest(ws: &Ws) -> Vec<u8> {
    fs::read(ws.path().join("build/train/latest.safetensors")).unwrap()
}

#[test]
fn each_option_changes_training_and_unset_ones_keep_old_keys() {
    let ws = Ws::linked(common::TRAIN_64, &common::kermany_dev());
    ws.ok(&["run"]);
    let plain = latest(&ws);

    // written out at their defaults, the newer options (and `arch`) change no key, nor do
    // settings only an unset option reads (focal_gamma under bce, elastic_sigma without elastic)
    ws.edit_config(
        PLAIN,
        &with("arch: resnet18, label_smoothing: 0, dropout: 0, mixup: 0, loss: bce, focal_gamma: 3, augment: {crop: 0, gamma: 0, blur: 0, noise: 0, perspective: 0, elastic: 0, elastic_sigma: 9}"),
    );
    let r = ws.ok(&["run"]);
    assert!(r.stages("ran").is_empty(), "{}", r.stderr());
    ws.edit_config(
        &with("arch: resnet18, label_smoothing: 0, dropout: 0, mixup: 0, loss: bce, focal_gamma: 3, augment: {crop: 0, gamma: 0, blur: 0, noise: 0, perspective: 0, elastic: 0, elastic_sigma: 9}"),
        PLAIN,
    );

    let options = [
        "label_smoothing: 0.1",
        "dropout: 0.3",
        "mixup: 0.4",
        "loss: focal",
        "augment: {crop: 0.7}",
        "augment: {gamma: 0.3}",
        "augment: {blur: 1.5}",
        "augment: {noise: 0.05}",
        "augment: {perspective: 0.05}",
        "augment: {elastic: 20}",
    ];
    let mut seen = vec![plain];
    for option in options {
        ws.edit_config(PLAIN, &with(option));
        let r = ws.ok(&["run"]);
        assert_eq!(r.stages("ran"), ["train"], "{option}: {}", r.stderr());
        let weights = latest(&ws);
        assert!(
            !seen.contains(&weights),
            "{option}: the trained weights equal an earlier variant's"
        );
        seen.push(weights);
        ws.edit_config(&with(option), PLAIN);
    }
}

#[test]
fn with_every_option_on_a_killed_run_resumes_to_the_same_bytes() {
    let all = with(
        "optimizer: adamw, lr: 0.0003, eval_every: 2, label_smoothing: 0.1, dropout: 0.3, \
         mixup: 0.4, loss: focal, focal_gamma: 1.5, \
         augment: {rotate: 5, crop: 0.7, gamma: 0.3, blur: 1.5, noise: 0.05, brightness: 0.1, \
         perspective: 0.05, elastic: 20, elastic_sigma: 3}",
    )
    .replace("eval_every: 4, ", "");
    let whole = Ws::linked(common::TRAIN_64, &common::kermany_dev());
    whole.edit_config(PLAIN, &all);
    whole.ok(&["run"]);

    let crashed = Ws::linked(common::TRAIN_64, &common::kermany_dev());
    crashed.edit_config(PLAIN, &all);
    let out = crashed
        .cmd(&["run"])
        .env("PNEUMO_TORCH_CRASH_AFTER_ITERATION", "5")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the worker was told to abort");
    let r = crashed.ok(&["run"]);
    assert!(
        r.stderr()
            .contains("resuming from the checkpoint at iteration 4"),
        "{}",
        r.stderr()
    );
    for file in ["best.safetensors", "latest.safetensors"] {
        let read = |ws: &Ws| fs::read(ws.path().join("build/train").join(file)).unwrap();
        assert!(
            read(&whole) == read(&crashed),
            "{file} differs after resume"
        );
    }
}

#[test]
fn out_of_range_options_are_config_errors_at_their_line() {
    let ws = Ws::linked(common::TRAIN_64, &common::kermany_dev());
    // the key at fault is named and located at its column in PLAIN's flow map
    // (`    params: {batch_size: 16, eval_every: 4, max_iterations: 8, patience: 5, seed: 3, `)
    for (bad, says, column) in [
        ("dropout: 1.5", "`dropout`: 1.5, must be in [0, 1)", 86),
        (
            "label_smoothing: -0.1",
            "`label_smoothing`: -0.1, must be in [0, 1)",
            86,
        ),
        ("mixup: -1", "`mixup`: -1, must be finite and 0 or more", 86),
        (
            "weight_decay: -0.01",
            "`weight_decay`: -0.01, must be finite and 0 or more",
            86,
        ),
        ("momentum: 1.5", "`momentum`: 1.5, must be in [0, 1)", 86),
        ("augment: {crop: 1.5}", "`augment.crop`: 1.5", 96),
        (
            "augment: {blur: -1}",
            "`augment.blur`: -1, ranges must be finite and 0 or more",
            96,
        ),
        (
            "augment: {perspective: 0.4}",
            "`augment.perspective`: 0.4",
            96,
        ),
        (
            "augment: {elastic: -1}",
            "`augment.elastic`: -1, ranges must be finite",
            96,
        ),
        (
            "augment: {elastic: 20, elastic_sigma: 0}",
            "`augment.elastic_sigma`: 0",
            109,
        ),
        ("loss: focall", "expected `bce` or `focal`", 86),
    ] {
        ws.edit_config(PLAIN, &with(bad));
        let r = ws.run(&["run"]);
        assert_eq!(r.0.status.code(), Some(2), "{bad}: {}", r.stderr());
        assert!(r.stderr().contains(says), "{bad}: {}", r.stderr());
        assert!(
            r.stderr().contains(&format!("pipeline.yaml:14:{column}\n")),
            "{bad}: {}",
            r.stderr()
        );
        ws.edit_config(&with(bad), PLAIN);
    }
}
