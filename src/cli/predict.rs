//! `predict`: the files handed to the worker with the model the pipeline trained (or the one
//! `--model` names), and where that default model is.

use std::path::Path;

use pneumo_pipeline::pipeline;
use pneumo_pipeline::stages;

/// The model `predict` uses without `--model`: of the kinds that hold one
/// (`TypedStage::MODEL_DIR`), the most downstream first (evaluate's, its threshold chosen on
/// validation, before train's, which evaluate reads), each where pipeline.yaml's `out:` puts
/// it. More than one of a kind (two evaluates) is ambiguous: the user names one with `--model`.
fn default_model(workspace: &Path) -> anyhow::Result<std::path::PathBuf> {
    let registry = stages::registry();
    let mut holders: Vec<(&str, &str)> = registry
        .kinds()
        .filter_map(|k| Some((k, registry.get(k)?.model_dir()?)))
        .collect();
    // a kind that reads more of the other holders comes first (evaluate reads train)
    let reads = |a: &str| {
        let ups = registry.get(a).map_or(&[][..], |s| s.upstream_kinds());
        ups.iter()
            .filter(|u| registry.get(u).is_some_and(|s| s.model_dir().is_some()))
            .count()
    };
    holders.sort_by_key(|(k, _)| (std::cmp::Reverse(reads(k)), *k));
    let outs = |kind: &str| -> Vec<std::path::PathBuf> {
        match pipeline::load(workspace, &registry) {
            Ok(p) => p
                .stages
                .iter()
                .filter(|s| s.kind.name() == kind)
                .filter_map(|s| s.out.as_deref().map(|o| workspace.join(o)))
                .collect(),
            // no usable pipeline.yaml: the default places
            Err(_) => vec![workspace.join("build").join(kind)],
        }
    };
    for (kind, sub) in holders {
        let found: Vec<_> = outs(kind)
            .into_iter()
            .map(|o| if sub.is_empty() { o } else { o.join(sub) })
            .filter(|d| d.join(pneumo_pipeline::contract::card::FILE).exists())
            .collect();
        match found.as_slice() {
            [one] => return Ok(one.clone()),
            [] => continue,
            many => anyhow::bail!(
                "{} {kind} stages have a model ({}): pass --model DIR",
                many.len(),
                many.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    anyhow::bail!(
        "no trained model in {} (run `pneumo-pipeline run` first, or pass --model DIR)",
        workspace.display()
    )
}

/// Overlays go anywhere but into the engine's own folder: `--heatmap build/evaluate/model`
/// would write into a cache entry, which every later run trusts byte for byte.
fn refuse_engine_folder(workspace: &Path, dir: &Path) -> anyhow::Result<()> {
    let engine = workspace.join(".pneumo");
    let Ok(engine) = engine.canonicalize() else {
        return Ok(()); // no cache yet: nothing to protect
    };
    // the deepest part of `dir` that exists, resolved (links included)
    let mut probe = std::path::absolute(dir)?;
    while !probe.exists() {
        match probe.parent() {
            Some(p) => probe = p.to_path_buf(),
            None => return Ok(()),
        }
    }
    if probe.canonicalize()?.starts_with(&engine) {
        anyhow::bail!(
            "--heatmap {} is inside pneumo-pipeline's cache ({}); write the overlays to a folder of your own",
            dir.display(),
            engine.display()
        );
    }
    Ok(())
}

/// `predict`: hands the files to the worker, which prints one result per file.
pub fn predict(
    workspace: &Path,
    images: &[std::path::PathBuf],
    model: Option<std::path::PathBuf>,
    heatmap: Option<std::path::PathBuf>,
    json: bool,
    device: pneumo_pipeline::contract::choices::Device,
) -> anyhow::Result<i32> {
    use pneumo_pipeline::stages::worker;
    let model = match model {
        Some(m) => m,
        None => default_model(workspace)?,
    };
    let mut cmd = std::process::Command::new(worker::binary()?);
    cmd.arg("predict")
        .arg("--model")
        .arg(&model)
        .arg("--device")
        .arg(device.as_str());
    if let Some(h) = heatmap {
        refuse_engine_folder(workspace, &h)?;
        cmd.arg("--heatmap").arg(h);
    }
    if json {
        cmd.arg("--json");
    }
    // after `--`, every argument is a file, even one named `--json`
    let status = cmd.arg("--").args(images).status()?;
    Ok(status.code().unwrap_or(1))
}
