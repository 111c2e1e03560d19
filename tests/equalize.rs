//! `preprocess`'s per-image intensity normalisation on real data at 64 px: the cache holds
//! the plain cache's images equalised, the choice travels through meta.json and the model
//! card into `predict` (which then gives evaluate's probability), the report names it,
//! and unset or default-valued params keep older keys.

mod common;

use std::fs;

use common::Ws;
use pneumo_pipeline::data::equalize::{self, Equalization, Method};
use serde_json::Value;

/// `common::TRAIN_64` and an evaluate stage whose model `predict` finds.
fn config() -> String {
    format!(
        "{}  evaluate:
    kind: evaluate
    needs: [split, preprocess, train]
    params: {{threshold: youden, bootstrap: 50}}
    out: results/eval
",
        common::TRAIN_64
    )
}

const PLAIN: &str = "params: {size: 64}";

fn cache(ws: &Ws) -> Vec<u8> {
    fs::read(ws.path().join("build/preprocess/images.u8")).unwrap()
}

#[test]
fn clahe_in_preprocess_reaches_the_cache_the_card_and_predict() {
    let ws = Ws::linked(&config(), &common::kermany_dev());
    ws.ok(&["run", "preprocess"]);
    let plain = cache(&ws);

    // written out at their defaults, the options change no key
    let defaults = "params: {size: 64, equalize: none, clahe_clip: 2, clahe_tiles: 8}";
    ws.edit_config(PLAIN, defaults);
    let r = ws.ok(&["run", "preprocess"]);
    assert!(r.stages("ran").is_empty(), "{}", r.stderr());

    // histogram equalisation: every cached image is the plain one equalised
    ws.edit_config(defaults, "params: {size: 64, equalize: histogram}");
    let r = ws.ok(&["run", "preprocess"]);
    assert_eq!(r.stages("ran"), ["preprocess"], "{}", r.stderr());
    // CLAHE's params are not histogram's: changing them re-runs nothing
    ws.edit_config(
        "params: {size: 64, equalize: histogram}",
        "params: {size: 64, equalize: histogram, clahe_clip: 3, clahe_tiles: 4}",
    );
    let r = ws.ok(&["run", "preprocess"]);
    assert!(r.stages("ran").is_empty(), "{}", r.stderr());
    ws.edit_config(
        "params: {size: 64, equalize: histogram, clahe_clip: 3, clahe_tiles: 4}",
        "params: {size: 64, equalize: histogram}",
    );
    let eq = Equalization {
        method: Method::Histogram,
        clip: 2.0,
        tiles: 8,
    };
    let mut want = plain.clone();
    for img in want.chunks_mut(64 * 64) {
        equalize::apply(&eq, img, 64, 64);
    }
    assert!(
        cache(&ws) == want,
        "histogram: the cache is not the plain one equalised"
    );

    // CLAHE, through training and evaluation into predict
    ws.edit_config(
        "params: {size: 64, equalize: histogram}",
        "params: {size: 64, equalize: clahe, clahe_clip: 3, clahe_tiles: 4}",
    );
    ws.ok(&["run"]);
    let eq = Equalization {
        method: Method::Clahe,
        clip: 3.0,
        tiles: 4,
    };
    let mut want = plain;
    for img in want.chunks_mut(64 * 64) {
        equalize::apply(&eq, img, 64, 64);
    }
    assert!(
        cache(&ws) == want,
        "clahe: the cache is not the plain one equalised"
    );
    let card: Value =
        serde_json::from_slice(&fs::read(ws.path().join("results/eval/model/model.json")).unwrap())
            .unwrap();
    assert_eq!(
        card["equalize"],
        serde_json::json!({"method": "clahe", "clip": 3.0, "tiles": 4})
    );
    common::assert_predict_matches_evaluate(
        &ws,
        "results/eval",
        "val/PNEUMONIA/person1946_bacteria_4874.jpeg",
    );
}

#[test]
fn a_misspelt_or_out_of_range_equalisation_is_refused_at_its_line() {
    let ws = Ws::linked(&config(), &common::kermany_dev());
    for (params, says) in [
        (
            "equalize: clahee",
            "expected one of `none`, `histogram`, `clahe`",
        ),
        (
            "equalize: clahe, clahe_tiles: 0",
            "invalid value `clahe_tiles`: 0",
        ),
        (
            "equalize: clahe, clahe_clip: -1",
            "invalid value `clahe_clip`: -1",
        ),
    ] {
        ws.set_config(&config().replace(PLAIN, &format!("params: {{size: 64, {params}}}")));
        let r = ws.run(&["run", "preprocess"]);
        assert_ne!(r.code(), 0, "{params}");
        let err = r.stderr();
        assert!(
            err.contains(says) && err.contains("pipeline.yaml"),
            "{params}: {err}"
        );
    }
}
