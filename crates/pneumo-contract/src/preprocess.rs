//! `preprocess`'s output folder: `meta.json` ([`CacheMeta`]), the pixels `images.u8` (row-major
//! u8, one `height x width` image a row) and `images.parquet` (one [`CachedImage`] a row;
//! written and read by `pneumo_core::tables::cache`); and the recorded choices the model card
//! repeats for `predict` ([`Equalization`], [`Decode`]).

use serde::{Deserialize, Serialize};

use crate::index::BadFile;

/// torchvision's ImageNet normalisation (the default `mean` and `std`).
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

/// Which normalisation `preprocess` applies after resizing (and `predict` with it).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The images as decoded.
    #[default]
    None,
    /// Pillow's `ImageOps.equalize`: one histogram per image, spread over 0..255.
    Histogram,
    /// OpenCV's contrast-limited adaptive histogram equalisation.
    Clahe,
}

impl Method {
    /// Every value, as pipeline.yaml spells it (a test checks each against serde).
    pub const ALL: &'static [&'static str] = &["none", "histogram", "clahe"];

    pub fn is_none(&self) -> bool {
        *self == Method::None
    }
}

/// A normalisation with its parameters: what `meta.json` and the model card record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Equalization {
    pub method: Method,
    /// CLAHE's `clipLimit` (a tile's histogram is clipped at this multiple of its mean bin).
    pub clip: f64,
    /// CLAHE's `tileGridSize`, square.
    pub tiles: u32,
}

impl Equalization {
    /// How the report and logs name it.
    pub fn describe(&self) -> String {
        match self.method {
            Method::None => "none".into(),
            Method::Histogram => "histogram equalisation (Pillow ImageOps.equalize)".into(),
            Method::Clahe => format!(
                "CLAHE, clip limit {}, {}x{} tiles (OpenCV createCLAHE)",
                self.clip, self.tiles, self.tiles
            ),
        }
    }
}

/// `preprocess`'s `decode` param, recorded in `meta.json` and the model card.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Decode {
    /// Every pixel decoded, then resized: Pillow's `open().convert("L").resize()`.
    #[default]
    Full,
    /// JPEGs decoded at the smallest of 1/8, 1/4, 1/2 of their size still at least the
    /// output side (Pillow's `draft`); other files, and JPEGs TurboJPEG cannot turn grey
    /// (CMYK), decoded in full.
    Scaled,
}

impl Decode {
    /// Every value, as pipeline.yaml spells it (a test checks each against serde).
    pub const ALL: &'static [&'static str] = &["full", "scaled"];

    pub fn is_full(&self) -> bool {
        *self == Decode::Full
    }

    /// For `meta.json` and the report.
    pub fn describe(&self) -> &'static str {
        match self {
            Decode::Full => "full decode",
            Decode::Scaled => {
                "JPEGs decoded at 1/2 to 1/8 scale in the DCT domain (libjpeg-turbo, as Pillow's \
                 draft), at least the output side"
            }
        }
    }
}

/// `meta.json`: everything a reader needs to turn `images.u8` into network input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheMeta {
    /// The file's format ([`FORMAT`]); absent in files written before it had one (1).
    #[serde(default = "crate::format_one")]
    pub format: u32,
    pub count: usize,
    pub height: u32,
    pub width: u32,
    pub dtype: String,
    pub layout: String,
    /// Normalisation to apply at load: `(x / 255 - mean[c]) / std[c]` per channel.
    pub mean: [f64; 3],
    pub std: [f64; 3],
    pub grayscale: String,
    pub resize: String,
    /// Mean and standard deviation of all cached pixels, scaled to [0, 1].
    pub pixel_mean: f64,
    pub pixel_std: f64,
    /// The dataset folder the images were read from, workspace-relative (the index's):
    /// where Grad-CAM finds the original films. Empty in caches written before version 2.
    #[serde(default)]
    pub data: String,
    /// The per-image normalisation applied after resizing (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equalize: Option<Equalization>,
    /// How files were decoded (absent: in full).
    #[serde(default, skip_serializing_if = "Decode::is_full")]
    pub decode: Decode,
    /// Files the index accepted whose pixels failed to decode: not cached, so in no role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<BadFile>,
}

/// meta.json. 2: `format`, unknown fields refused; 1: without them.
pub const FORMAT: u32 = 2;

crate::versioned!(CacheMeta, "preprocess cache description", FORMAT);

pub const IMAGES: &str = "images.u8";
pub const INDEX: &str = "images.parquet";
pub const META: &str = "meta.json";

/// One cached image: its row in `images.u8` and what the index says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedImage {
    pub row: usize,
    pub path: String,
    pub label: crate::label::Label,
}
