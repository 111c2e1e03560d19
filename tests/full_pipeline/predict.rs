//! `predict` on files, after the pipeline of `full_pipeline.rs` has trained and evaluated
//! a model in `ws`: the model evaluate chose, its threshold, odd file names, a full-size
//! original, and the same probability as evaluate's for a cached image.

use std::process::Output;

use super::*;

fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn checks(ws: &Ws) {
    // predict: the model from evaluate (found where its `out:` puts it), one line per file, a clear error for a bad one
    let data = common::kermany_dev();
    let normal = data.join("val/NORMAL/NORMAL2-IM-1427-0001.jpeg");
    let sick = data.join("val/PNEUMONIA/person1946_bacteria_4874.jpeg");
    let bad = ws.path().join("broken.jpeg");
    fs::write(&bad, b"not a jpeg").unwrap();
    let heat = ws.path().join("heat");
    // an overlay's name already taken by a hard link and by a symlink to files elsewhere:
    // replaced, never written through
    let elsewhere = tempfile::tempdir().unwrap();
    let (hard, soft) = (
        elsewhere.path().join("hard.png"),
        elsewhere.path().join("soft.png"),
    );
    fs::write(&hard, "not yours").unwrap();
    fs::write(&soft, "not yours either").unwrap();
    fs::create_dir_all(&heat).unwrap();
    fs::hard_link(&hard, heat.join("person1946_bacteria_4874-gradcam.png")).unwrap();
    std::os::unix::fs::symlink(&soft, heat.join("NORMAL2-IM-1427-0001-gradcam.png")).unwrap();
    let out = ws
        .cmd(&[
            "predict",
            normal.to_str().unwrap(),
            bad.to_str().unwrap(),
            sick.to_str().unwrap(),
            "--heatmap",
            heat.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("NORMAL2-IM-1427-0001.jpeg\t"), "{stdout}");
    assert!(
        stderr.contains("broken.jpeg: not a usable image"),
        "{stderr}"
    );
    assert!(heat.join("person1946_bacteria_4874-gradcam.png").exists());
    assert_eq!(fs::read_to_string(&hard).unwrap(), "not yours");
    assert_eq!(fs::read_to_string(&soft).unwrap(), "not yours either");
    // a device, a FIFO and a GIF named .jpeg: each its own error, read no further than its
    // header (/dev/zero was read whole: 22 GB, then the OOM killer; the FIFO hung)
    let fifo = ws.path().join("pipe.jpeg");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let gif = ws.path().join("film.jpeg");
    fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
    let out = ws
        .cmd(&[
            "predict",
            "/dev/zero",
            fifo.to_str().unwrap(),
            gif.to_str().unwrap(),
            sick.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stderr.contains("/dev/zero: a device, not an image file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pipe.jpeg: a FIFO, not an image file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("film.jpeg: not a usable image: a GIF file"),
        "{stderr}"
    );
    // overlays never go into a cache entry (every later run trusts its bytes)
    let into_cache = ws.path().join(".pneumo/cache/v1/runs/overlays");
    let out = ws
        .cmd(&[
            "predict",
            "--heatmap",
            into_cache.to_str().unwrap(),
            sick.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is inside pneumo-pipeline's cache"),
        "{stderr}"
    );
    assert!(!into_cache.exists());
    // a file named `--json` is a file, not a flag; two files with one stem keep both maps
    for (from, to) in [
        (&normal, "--json"),
        (&normal, "a/x.jpeg"),
        (&sick, "b/x.jpeg"),
    ] {
        let dest = ws.path().join(to);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(from, dest).unwrap();
    }
    let out = ws
        .cmd(&[
            "predict",
            "--heatmap",
            "same-stem",
            "--",
            "--json",
            "a/x.jpeg",
            "b/x.jpeg",
        ])
        .current_dir(ws.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    succeeded(&out);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.starts_with("--json\t"), "{stdout}");
    for map in ["--json-gradcam.png", "x-gradcam.png", "x-2-gradcam.png"] {
        assert!(ws.path().join("same-stem").join(map).exists(), "{map}");
    }
    // a full-size original (2 to 4 Mpx grayscale JPEG) goes through the same decode and resize
    let original = common::shared("data/kermany-fullres/PNEUMONIA/person1501_virus_2611.jpeg");
    let out = ws
        .cmd(&[
            "predict",
            "--json",
            sick.to_str().unwrap(),
            original.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    succeeded(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v[1]["probability"]
            .as_f64()
            .is_some_and(|p| (0.0..=1.0).contains(&p)),
        "{v}"
    );
    let p = v[0]["probability"].as_f64().unwrap();
    let expected = if p >= card_threshold(ws) {
        "PNEUMONIA"
    } else {
        "NORMAL"
    };
    assert_eq!(v[0]["label"], expected);
    // the probability is the one evaluate computed for the same cached image
    let line = fs::read_to_string(ws.path().join("results/eval/predictions.csv"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("val/PNEUMONIA/person1946_bacteria_4874.jpeg,"))
        .map(str::to_string)
        .unwrap();
    let evaluated: f64 = line.split(',').nth(5).unwrap().parse().unwrap();
    assert!((p - evaluated).abs() < 1e-3, "{p} vs {evaluated}");
    // it was evaluate's model at `results/eval`, not a fallback to train's at `build/train`
    fs::remove_file(ws.path().join("build/train")).unwrap();
    let out = ws
        .cmd(&["predict", sick.to_str().unwrap()])
        .output()
        .unwrap();
    succeeded(&out);
}

fn card_threshold(ws: &Ws) -> f64 {
    json(ws, "results/eval/model/model.json")["threshold"]
        .as_f64()
        .unwrap()
}
