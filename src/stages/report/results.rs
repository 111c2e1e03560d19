//! The report's closing sections: evaluation, Grad-CAM, limitations and how to reproduce.

use super::Artifacts;
use super::document::Block;
use super::format::*;
use crate::contract::label::Outcome;
use crate::model::defined;
use crate::stages::evaluate::RoleMetrics;

pub fn evaluation(a: &Artifacts, d: &mut Vec<Block>) {
    use Block::*;
    let official = official_test_role(&a.split);
    let m = &a.metrics;
    let headline = m.roles.get(official);
    d.push(Heading(2, s("Evaluation")));
    d.push(Para(format!(
        "Checkpoint: {}. Decision threshold {} ({}; chosen on: {}). Proportions carry Wilson 95% \
         intervals; F1 and the AUCs carry stratified bootstrap intervals ({} resamples).",
        m.checkpoint,
        num(m.threshold.value, 4),
        m.threshold.rule,
        m.threshold.chosen_on,
        m.bootstrap
    )));
    if let Some(t) = &m.transductive {
        d.push(Para(format!(
            "**Transductive figures.** {t}. They show what adapting to a new site's unlabeled \
             films could recover; they are not the model's inductive performance."
        )));
    }
    if let Some(c) = &m.calibration {
        d.push(Para(format!(
            "Probabilities are recalibrated on validation ({} scaling: p' = sigmoid({} · logit(p) {} {}), \
             fitted to Platt's smoothed targets); every probability, threshold and calibration figure \
             below is on that scale. The ranking, and so the AUCs, are unchanged.",
            match c.method {
                crate::model::recalibrate::Method::Temperature => "temperature",
                crate::model::recalibrate::Method::Platt => "Platt",
            },
            num(c.a, 3),
            if c.b < 0.0 { "−" } else { "+" },
            num(c.b.abs(), 3)
        )));
    }
    if let Some(f) = &m.threshold.fragility {
        d.push(Para(format!(
            "How fragile the operating point is, on validation: any threshold in ({}, {}] gives the \
             same validation predictions; {} NORMAL and {} PNEUMONIA validation images score within {} \
             of it; the highest-scoring NORMAL scores {}, the lowest-scoring PNEUMONIA {}. A threshold \
             just above the NORMALs' highest score rests on that one tail, which shifts between \
             hospitals and years: expect specificity elsewhere to move with it.",
            num(f.low, 4),
            num(f.high, 4),
            f.normal_near,
            f.pneumonia_near,
            crate::stages::threshold::NEAR,
            num(f.max_normal, 4),
            num(f.min_pneumonia, 4)
        )));
    }
    let order: Vec<(&String, &RoleMetrics)> = ["val", "test"]
        .iter()
        .filter_map(|r| m.roles.get_key_value(*r))
        .collect();
    let mut header = vec![s("metric")];
    header.extend(
        order
            .iter()
            .map(|(r, rm)| format!("{r} (n = {})", rm.report.n)),
    );
    let metric_rows: Vec<(&str, Cell)> = vec![
        (
            "accuracy",
            Box::new(|r| ci_pct(r.report.binary.accuracy, r.report.ci.accuracy)),
        ),
        (
            "precision (PPV)",
            Box::new(|r| ci_pct(r.report.binary.precision, r.report.ci.precision)),
        ),
        (
            "recall (sensitivity)",
            Box::new(|r| ci_pct(r.report.binary.recall, r.report.ci.recall)),
        ),
        (
            "specificity",
            Box::new(|r| ci_pct(r.report.specificity, r.report.ci.specificity)),
        ),
        ("NPV", Box::new(|r| ci_pct(r.report.npv, r.report.ci.npv))),
        (
            "F1",
            Box::new(|r| ci_pct(r.report.binary.f1, r.report.ci.f1)),
        ),
        (
            "ROC AUC",
            Box::new(|r| ci_num(r.report.roc_auc, r.report.ci.roc_auc)),
        ),
        (
            "PR AUC (average precision)",
            Box::new(|r| ci_num(r.report.pr_auc, r.report.ci.pr_auc)),
        ),
        ("ECE (10 bins)", Box::new(|r| num(r.report.ece, 4))),
        ("Brier score", Box::new(|r| num(r.report.brier, 4))),
        (
            "TP / FN / FP / TN",
            Box::new(|r| {
                let b = &r.report.binary;
                format!("{} / {} / {} / {}", b.tp, b.fn_, b.fp, b.tn)
            }),
        ),
    ];
    let table_rows = metric_rows
        .iter()
        .map(|(name, f)| {
            let mut row = vec![s(name)];
            row.extend(order.iter().map(|(_, rm)| f(rm)));
            row
        })
        .collect();
    d.push(Table(header, table_rows));
    let undefined: Vec<String> = order
        .iter()
        .flat_map(|(role, rm)| {
            defined::reasons(&rm.report.binary)
                .into_iter()
                .map(move |(metric, why)| format!("{metric} on {role}: {why}"))
        })
        .collect();
    if !undefined.is_empty() {
        d.push(Para(format!(
            "Undefined here, because a count they divide by is zero: {}.",
            undefined.join("; ")
        )));
    }
    let mut sub_rows = Vec::new();
    for (role, rm) in &order {
        for (sub, r) in &rm.subtypes {
            sub_rows.push(vec![
                role.to_string(),
                sub.clone(),
                format!("{} of {}", r.detected, r.n),
                ci_pct(r.recall, r.ci),
            ]);
        }
    }
    if !sub_rows.is_empty() {
        d.push(Para(s(
            "Sensitivity by pneumonia subtype (from the file names):",
        )));
        d.push(Table(
            vec![s("role"), s("subtype"), s("detected"), s("sensitivity")],
            sub_rows,
        ));
    }
    if let Some(h) = headline {
        let b = &h.report.binary;
        let ours = [b.accuracy, b.precision, b.recall, b.f1];
        d.push(Para(format!(
            "Against the write-up, on the `test/` folder (the `{official}` role; the write-up used the official \
             624-image test split, which is this folder on the Kaggle download). Its four numbers \
             follow from a confusion matrix of TP 350, FN 40, FP 51, TN 183; ours are recomputed from \
             TP {}, FN {}, FP {}, TN {}: accuracy = (TP + TN) / n, precision = TP / (TP + FP), recall = \
             TP / (TP + FN), F1 = 2PR / (P + R).",
            b.tp, b.fn_, b.fp, b.tn
        )));
        d.push(Table(
            vec![
                s("metric"),
                s("write-up"),
                s("this run"),
                s("difference (points)"),
            ],
            WRITEUP
                .iter()
                .zip(ours)
                .map(|((name, w), o)| {
                    vec![s(name), pct(*w), pct(o), format!("{:+.2}", (o - w) * 100.0)]
                })
                .collect(),
        ));
        d.push(Para(s(
            "Differences of about 3 points or less are within sampling noise on 624 images. Under the \
             write-up protocol these figures are optimistic for both the study and this run, because the \
             same images chose the checkpoint.",
        )));
    }
    d.push(figs(a, &["roc", "pr"]));
    d.push(figs(a, &["confusion", "reliability"]));
    // charts made before the score distributions existed have none
    if let Figures(f) = figs(a, &["scores"])
        && !f.is_empty()
    {
        d.push(Figures(f));
    }
}

pub fn gradcam(a: &Artifacts, d: &mut Vec<Block>) {
    use Block::*;

    d.push(Heading(2, s("Grad-CAM")));
    let g = &a.gradcam;
    d.push(Para(format!(
        "Grad-CAM of the pneumonia logit on the network's last convolutional block ({}): channel weights are the spatial \
         mean of the gradient, the map is the ReLU of the weighted sum of activations, upsampled \
         bilinearly to {} px and scaled to [0, 1] per image. Computed for all {} images of the `{}` role. \
         Left panels are the film, right panels the map over it (viridis: yellow = high). On a standard \
         frontal film image-left is the patient's right.",
        g.layer, g.side, g.images, g.role
    )));
    let mut overlays: Vec<(String, String)> = g
        .overlays
        .iter()
        .map(|o| {
            (
                format!("images/{}", o.file),
                format!(
                    "{} · true {} · p = {} · {}",
                    o.outcome.as_str().to_uppercase(),
                    o.label,
                    num(o.probability, 3),
                    o.path
                ),
            )
        })
        .collect();
    overlays.sort();
    d.push(Figures(overlays));
    d.push(Para(s(
        "Share of map mass per image quadrant, averaged over the images whose map is not zero \
         everywhere (each such image's shares sum to 100%); an all-zero map means no evidence for \
         pneumonia anywhere:",
    )));
    let mut q_rows: Vec<Vec<String>> = Outcome::EACH
        .iter()
        .filter_map(|o| {
            g.by_outcome
                .get(o.as_str())
                .map(|r| quadrant_row(o.as_str().to_uppercase(), r))
        })
        .collect();
    q_rows.extend(
        g.by_label
            .iter()
            .map(|(l, r)| quadrant_row(format!("true {l}"), r)),
    );
    d.push(Table(
        [
            "group",
            "images",
            "all-zero maps",
            "upper image-left",
            "upper image-right",
            "lower image-left",
            "lower image-right",
        ]
        .map(s)
        .to_vec(),
        q_rows,
    ));
    if let Some(tp) = g.by_outcome.get(Outcome::Tp.as_str()) {
        let (name, share) = top_quadrant(&tp.shares);
        d.push(Para(format!(
            "The write-up said its model looks at the upper left of the lungs. Measured here, true positives \
             put the largest share of their map, {}, in the {} quadrant; an even spread would be 25% each.",
            pct(share),
            name
        )));
    }
    d.push(figs(a, &["mean-cam"]));
    if g.deletion_images > 0 {
        let faithful = g.deletion_auc_salient < g.deletion_auc_random - 0.02;
        let verdict = if faithful {
            "The maps point at regions the model relies on more than random cells do."
        } else {
            "The maps do no better than random cells here: do not read them as what the model uses."
        };
        d.push(Para(format!(
            "Faithfulness (deletion test on {} images predicted pneumonia, {} steps): the image is cut \
             into {} x {} cells, which are set to the image's mean grey one by one. Most salient cells \
             first gives a mean-probability area of {}, random order {}. With every cell blanked the \
             mean probability is {} (intact: {}), so blanking itself moves the score; the comparison \
             with random order is what carries information. {verdict}",
            g.deletion_images,
            g.deletion_steps,
            g.deletion_grid,
            g.deletion_grid,
            num(g.deletion_auc_salient, 3),
            num(g.deletion_auc_random, 3),
            num(g.deletion_end, 3),
            num(g.deletion_start, 3),
        )));
        d.push(figs(a, &["deletion"]));
    }
}

pub fn closing(a: &Artifacts, d: &mut Vec<Block>) {
    use Block::*;
    let m = &a.metrics;
    let params = &a.train_card.params;
    let protocol = protocol_name(&a.split.protocol);
    let t = &a.train_summary;
    d.push(Heading(2, s("Limitations")));
    d.push(List(vec![
        s("One hospital's films (Guangzhou Women and Children's Medical Center), children aged one to five: performance on other sites, scanners, ages or adult films is unknown, and the shift between the official train and test folders already lowers it."),
        s("Labels come from the dataset's folders and file names; subtype labels (bacterial, viral) are not independently verified."),
        s("Grad-CAM shows where evidence for the pneumonia score sits at 7 x 7 resolution; it is not a localisation of disease and was not checked against annotations."),
        s("Intended use: research on frontal pediatric chest radiographs. It is not a medical device and must not be used for diagnosis."),
        s("Byte-identical duplicates in the dataset are reported, not removed; under the write-up protocol the checkpoint is chosen on the images that are reported."),
    ]));

    d.push(Heading(2, s("How to reproduce")));
    d.push(Code(s(
        "scripts/quickstart.sh            # or: pneumo-pipeline run\npneumo-pipeline status\npneumo-pipeline predict IMAGE... --heatmap out/",
    )));
    d.push(Table(
        vec![s("item"), s("value")],
        vec![
            vec![
                s("pipeline.yaml (blake3, first 16 hex)"),
                a.config_hash.clone(),
            ],
            vec![s("pneumo-pipeline version"), a.tool_version.clone()],
            vec![
                s("split protocol / seed"),
                format!("{protocol} / {}", a.split.seed),
            ],
            vec![s("training seed"), params.seed.to_string()],
            vec![s("device"), t.device.clone()],
            vec![s("decision threshold"), num(m.threshold.value, 4)],
        ]
        .into_iter()
        .chain(a.runtime.iter().map(|(kind, r)| {
            let what = if *kind == "train" {
                "trained"
            } else {
                "scored"
            };
            vec![format!("{what} on"), r.describe()]
        }))
        .collect(),
    ));
    d.push(Para(s(
        "Figures from training and scoring depend on the machine as well as on the inputs: libtorch picks its kernels by CPU and splits sums by thread count, so another machine reproduces them to about the third decimal, not to the last digit. The same machine reproduces them exactly.",
    )));
}
