//! The enumerated params of the built-in stages, as enums: a typo is an error listing the
//! allowed values (every one in pipeline.yaml at once, each at its line:col), and the worker
//! matches them exhaustively, with no fallback for a value it does not know. They serialise
//! as the lowercase words pipeline.yaml uses, so canonical params and keys are unchanged.

use serde::{Deserialize, Serialize};

macro_rules! choice {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, as pipeline.yaml spells it.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            /// The word as pipeline.yaml spells it (`--device cuda` on a command line).
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        "`{other}` is not one of {}",
                        Self::ALL.join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use choice;

choice!(
    /// Where the network runs.
    Device { Cpu = "cpu", Cuda = "cuda", Auto = "auto" }
);
choice!(
    /// `sgd` (the write-up) or `adamw` (betas 0.9, 0.999; eps 1e-8; decoupled weight decay).
    Optimizer { Sgd = "sgd", AdamW = "adamw" }
);
choice!(
    /// The learning-rate schedule over the run.
    Schedule {
        Constant = "constant",
        /// Cosine to 0.
        Cosine = "cosine",
        /// PyTorch's OneCycleLR defaults: 30% warm-up from lr/25, cosine down to lr/25e4.
        OneCycle = "onecycle",
    }
);
choice!(
    /// How training batches are drawn.
    Sampler {
        /// Each epoch a permutation.
        Shuffle = "shuffle",
        /// Each image from either class with probability 1/2, with replacement.
        Balanced = "balanced",
    }
);
choice!(
    /// The validation metric for the best checkpoint and early stopping.
    Monitor { F1 = "f1", Auc = "auc" }
);
choice!(
    /// `fp32`, or `bf16`: autocast to bfloat16 for convolutions and matmuls (weights,
    /// gradients and the loss stay float32); `auto`: bf16 where the device runs it natively
    /// (CUDA; CPUs with AMX or AVX512-BF16), fp32 elsewhere, the choice recorded in
    /// runtime.json.
    Precision { Fp32 = "fp32", Bf16 = "bf16", Auto = "auto" }
);
choice!(
    /// The training loss.
    Loss {
        /// Binary cross-entropy on the logit.
        Bce = "bce",
        /// Focal loss (Lin et al. 2017): cross-entropy scaled by `(1 - p_t)^gamma`.
        Focal = "focal",
    }
);

#[allow(clippy::derivable_impls)] // the macro's enums derive no Default
impl Default for Loss {
    fn default() -> Self {
        Loss::Bce
    }
}
choice!(
    /// The network `train` fits: torchvision's, built and named as torchvision builds it,
    /// with one output logit.
    Arch {
        /// The write-up's network (11.2 M parameters).
        ResNet18 = "resnet18",
        /// Basic blocks 3, 4, 6, 3 (21.3 M).
        ResNet34 = "resnet34",
        /// Bottleneck blocks 3, 4, 6, 3 (23.5 M).
        ResNet50 = "resnet50",
        /// Growth 32, dense blocks 6, 12, 24, 16 (7.0 M; CheXNet's network).
        DenseNet121 = "densenet121",
    }
);

#[allow(clippy::derivable_impls)] // the macro's enums derive no Default
impl Default for Arch {
    fn default() -> Self {
        Arch::ResNet18
    }
}

impl Arch {
    /// As a paper writes it: `ResNet-18`.
    pub fn title(self) -> &'static str {
        match self {
            Arch::ResNet18 => "ResNet-18",
            Arch::ResNet34 => "ResNet-34",
            Arch::ResNet50 => "ResNet-50",
            Arch::DenseNet121 => "DenseNet-121",
        }
    }

    /// The module Grad-CAM reads, as torchvision names it: the last convolutional block
    /// (ResNet's `layer4`; DenseNet's `features.norm5`, the last dense block's batch norm).
    pub fn cam_layer(self) -> &'static str {
        match self {
            Arch::ResNet18 | Arch::ResNet34 | Arch::ResNet50 => "layer4",
            Arch::DenseNet121 => "features.norm5",
        }
    }

    /// The model card's `architecture`.
    pub fn describe(self) -> String {
        format!("torchvision {}, num_classes=1", self.as_str())
    }
}
choice!(
    /// Which training checkpoint evaluate scores.
    Checkpoint { Best = "best", Latest = "latest" }
);
choice!(
    /// A scored role.
    Role { Val = "val", Test = "test" }
);
choice!(
    /// How an ensemble combines its members' scores: the mean of their probabilities, or of
    /// their logits (the probabilities' log-odds), mapped back to a probability.
    Combine { Probability = "probability", Logit = "logit" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn they_read_and_write_the_words_of_pipeline_yaml() {
        assert_eq!(
            serde_json::to_value(Schedule::OneCycle).unwrap(),
            "onecycle"
        );
        let m: Optimizer = serde_json::from_value("adamw".into()).unwrap();
        assert_eq!(m, Optimizer::AdamW);
        assert_eq!(Sampler::ALL, ["shuffle", "balanced"]);
        assert!(serde_json::from_value::<Monitor>("F1".into()).is_err());
        // the same words on a command line (`--device cuda`)
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda);
        let e = "gpu".parse::<Device>().unwrap_err();
        assert_eq!(e, "`gpu` is not one of cpu, cuda, auto");
    }
}
