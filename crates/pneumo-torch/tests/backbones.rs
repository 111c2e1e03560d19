//! Parity of the wider backbones (ResNet-34, ResNet-50, DenseNet-121) with torchvision: the
//! fixture is made here, by scripts/fixtures/backbones.py in the .venv that scripts/setup.sh
//! made (torchvision is installed into it on first use), on this machine, from the four films
//! of the ResNet-18 fixture: weights saved by `torch.save(state_dict)` (DenseNet's in the
//! old key spelling of torchvision's published file), logits, features, loss, gradients and
//! Grad-CAM maps. Each network is loaded by name and run channels-last, as training does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use pneumo_contract::choices::Arch;
use pneumo_torch::gradcam::grad_cam;
use pneumo_torch::net::{self, channels_last, to_channels_last};
use pneumo_torch::weights::{self, safetensor};
use safetensors::SafeTensors;
use tch::nn::VarStore;
use tch::{Device, Tensor};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `.venv/bin/python`, with torchvision importable (installed once per test binary).
fn python() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let venv = root().join(".venv/bin");
            let python = venv.join("python");
            let has = |py: &Path| {
                Command::new(py)
                    .args(["-c", "import torchvision, safetensors"])
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if !has(&python) {
                // torchvision 0.26 is the one built for torch 2.11 (scripts/setup.sh's)
                let st = Command::new(venv.join("pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check"])
                    .args(["torchvision==0.26.0", "safetensors"])
                    .status();
                assert!(
                    st.is_ok_and(|s| s.success()) && has(&python),
                    "the backbone parity fixtures need torchvision: `.venv/bin/pip install torchvision==0.26.0 safetensors` failed (run scripts/setup.sh first)"
                );
            }
            python
        })
        .clone()
}

fn fixture(arch: Arch) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("backbone-{arch}"));
    std::fs::create_dir_all(&out).unwrap();
    let input = root().join("../shared/fixtures/torchvision-resnet18/input.safetensors");
    assert!(input.exists(), "parity needs {}", input.display());
    let made = Command::new(python())
        .arg(root().join("scripts/fixtures/backbones.py"))
        .arg(arch.as_str())
        .args([&input, &out])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "backbones.py {arch}: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    print!("{}", String::from_utf8_lossy(&made.stdout));
    out
}

fn rel(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).norm().double_value(&[]) / b.norm().double_value(&[])
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn parity(arch: Arch, head: &str, stem: &str) {
    let dir = fixture(arch);
    tch::manual_seed(0);
    let mut vs = VarStore::new(Device::Cpu);
    let model = net::build(arch, &vs.root(), 1);
    let loaded = weights::load(&mut vs, &dir.join("weights.pth")).unwrap();
    assert_eq!(
        (loaded.copied, loaded.kept_fresh.len()),
        (vs.variables().len(), 0),
        "every variable loads by its torchvision name"
    );
    to_channels_last(&vs);
    let input =
        std::fs::read(root().join("../shared/fixtures/torchvision-resnet18/input.safetensors"))
            .unwrap();
    let x = channels_last(&safetensor(&SafeTensors::deserialize(&input).unwrap(), "x").unwrap());
    let expected = std::fs::read(dir.join("expected.safetensors")).unwrap();
    let want =
        |name: &str| safetensor(&SafeTensors::deserialize(&expected).unwrap(), name).unwrap();

    let (logits, features) = tch::no_grad(|| {
        let f = model.features_t(&x, false);
        (model.head(&f), f)
    });
    let d = max_abs(&logits, &want("logits_eval"));
    let r = rel(&features, &want("features_eval"));
    println!("{arch}: logits_eval max |diff| {d:.2e}, features relative {r:.2e}");
    assert!(
        d < 1e-4 && r < 1e-4,
        "{arch}: eval logits {d}, features {r}"
    );

    let cam = grad_cam(model.as_ref(), &x).unwrap();
    let r = rel(&cam, &want("gradcam_eval"));
    println!("{arch}: gradcam relative {r:.2e}");
    assert!(r < 1e-3, "{arch}: Grad-CAM relative error {r}");

    let logits = model.forward_t(&x, true);
    let d = max_abs(&logits, &want("logits_train"));
    let labels = Tensor::from_slice(&[0f32, 0., 1., 1.]).view([4, 1]);
    let loss = logits.binary_cross_entropy_with_logits::<Tensor>(
        &labels,
        None,
        None,
        tch::Reduction::Mean,
    );
    let dl = max_abs(&loss.view([1]), &want("loss"));
    println!("{arch}: logits_train max |diff| {d:.2e}, loss {dl:.2e}");
    assert!(d < 1e-4 && dl < 1e-5, "{arch}: train logits {d}, loss {dl}");
    loss.backward();
    let vars = vs.variables();
    for (name, key) in [(head, "grad_head"), (stem, "grad_stem")] {
        let r = rel(&vars[name].grad().contiguous(), &want(key));
        println!("{arch}: {name} gradient relative {r:.2e}");
        assert!(r < 1e-3, "{arch}: {name} gradient relative error {r}");
    }
}

#[test]
fn resnet34_matches_torchvision() {
    parity(Arch::ResNet34, "fc.weight", "conv1.weight");
}

#[test]
fn resnet50_matches_torchvision() {
    parity(Arch::ResNet50, "fc.weight", "conv1.weight");
}

#[test]
fn densenet121_matches_torchvision_and_reads_its_published_spelling() {
    parity(
        Arch::DenseNet121,
        "classifier.weight",
        "features.conv0.weight",
    );
}
