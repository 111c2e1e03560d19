//! Decoding an X-ray file into 8-bit grayscale, safely: a pixel limit against
//! decompression bombs, and every failure an error message, never a panic.

use std::io::Cursor;

use image::{ColorType, DynamicImage, ImageDecoder, ImageReader};

/// What the header says about an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFacts {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub bit_depth: u8,
}

/// A decoded 8-bit grayscale image, row-major.
#[derive(Debug, Clone)]
pub struct Gray {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Why a file is not a usable image; the message goes into the manifest's `error` column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("not an image (unrecognised format)")]
    NotAnImage,
    /// A format the header names that is not read here: said as what it is, not as damage.
    #[error("a {0} file, not a JPEG or PNG (convert it to PNG, or leave it out)")]
    Unsupported(&'static str),
    #[error("{width}x{height} is {} Mpx, over the {} Mpx limit (decompression bomb?)", (*width as u64 * *height as u64) / 1_000_000, max_pixels / 1_000_000)]
    TooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("corrupt or truncated image: {0}")]
    Corrupt(String),
}

/// Reads the header, checks the pixel limit, decodes, and converts to grayscale.
pub fn decode_gray(bytes: &[u8], max_pixels: u64) -> Result<(ImageFacts, Gray), DecodeError> {
    let (facts, img) = decode(bytes, max_pixels)?;
    let gray = to_gray(img);
    Ok((facts, gray))
}

/// Reads the header and checks the pixel limit, decoding no pixels: what `index` checks, so
/// that a first run decodes each image once (in `preprocess`, where a file whose pixels
/// fail becomes a rejected row).
pub fn inspect(bytes: &[u8], max_pixels: u64) -> Result<ImageFacts, DecodeError> {
    open(bytes, max_pixels).map(|(facts, _)| facts)
}

/// Reads the header, checks the pixel limit and decodes.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<(ImageFacts, DynamicImage), DecodeError> {
    let (facts, decoder) = open(bytes, max_pixels)?;
    let img =
        DynamicImage::from_decoder(decoder).map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    Ok((facts, img))
}

/// The format guessed, the header read, the pixel limit checked.
fn open(
    bytes: &[u8],
    max_pixels: u64,
) -> Result<(ImageFacts, impl ImageDecoder + '_), DecodeError> {
    // the format from the first bytes, once: a JPEG or PNG, or an error saying what it is
    let reader = ImageReader::with_format(Cursor::new(bytes), sniff(bytes)?);
    let decoder = reader
        .into_decoder()
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    if width as u64 * height as u64 > max_pixels {
        return Err(DecodeError::TooLarge {
            width,
            height,
            max_pixels,
        });
    }
    let color = decoder.color_type();
    let facts = ImageFacts {
        width,
        height,
        channels: color.channel_count(),
        bit_depth: (color.bits_per_pixel() / color.channel_count() as u16) as u8,
    };
    Ok((facts, decoder))
}

/// How many leading bytes [`sniff`] needs (a DICOM file's `DICM` sits at 128).
pub const SNIFF_BYTES: usize = 132;

/// From a file's first bytes alone: JPEG or PNG, else what the file is (a GIF, a TIFF, a
/// DICOM...) or that it is no image at all, before the rest is read.
pub fn sniff(head: &[u8]) -> Result<image::ImageFormat, DecodeError> {
    if head.is_empty() {
        return Err(DecodeError::Empty);
    }
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return Err(DecodeError::Unsupported("DICOM"));
    }
    match image::guess_format(head) {
        Ok(f @ (image::ImageFormat::Jpeg | image::ImageFormat::Png)) => Ok(f),
        Ok(other) => Err(DecodeError::Unsupported(format_name(other))),
        Err(_) => Err(DecodeError::NotAnImage),
    }
}

fn format_name(f: image::ImageFormat) -> &'static str {
    use image::ImageFormat as F;
    match f {
        F::Gif => "GIF",
        F::Tiff => "TIFF",
        F::Bmp => "BMP",
        F::WebP => "WebP",
        F::Avif => "AVIF",
        F::Ico => "ICO",
        F::Pnm => "PNM",
        F::OpenExr => "OpenEXR",
        F::Hdr => "HDR",
        F::Qoi => "QOI",
        F::Tga => "TGA",
        F::Dds => "DDS",
        F::Farbfeld => "farbfeld",
        _ => "non-JPEG image",
    }
}

/// Pillow's `convert("L")` for 8-bit colour (ITU-R 601-2 luma, its fixed-point rounding);
/// 16-bit samples are scaled to 8 bits (Pillow would clip them at 255).
pub fn to_gray(img: DynamicImage) -> Gray {
    let (width, height) = (img.width(), img.height());
    let pixels = match img {
        DynamicImage::ImageLuma8(b) => b.into_raw(),
        DynamicImage::ImageLumaA8(b) => b.pixels().map(|p| p.0[0]).collect(),
        DynamicImage::ImageRgb8(b) => b.pixels().map(|p| luma(p.0[0], p.0[1], p.0[2])).collect(),
        DynamicImage::ImageRgba8(b) => b.pixels().map(|p| luma(p.0[0], p.0[1], p.0[2])).collect(),
        DynamicImage::ImageLuma16(b) => b.pixels().map(|p| to8(p.0[0])).collect(),
        DynamicImage::ImageLumaA16(b) => b.pixels().map(|p| to8(p.0[0])).collect(),
        other => {
            let wide = other.color() == ColorType::Rgb16 || other.color() == ColorType::Rgba16;
            if wide {
                other
                    .to_rgb16()
                    .pixels()
                    .map(|p| luma(to8(p.0[0]), to8(p.0[1]), to8(p.0[2])))
                    .collect()
            } else {
                other
                    .to_rgb8()
                    .pixels()
                    .map(|p| luma(p.0[0], p.0[1], p.0[2]))
                    .collect()
            }
        }
    };
    Gray {
        width,
        height,
        pixels,
    }
}

#[inline]
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16) as u8
}

#[inline]
fn to8(v: u16) -> u8 {
    ((v as u32 + 128) / 257) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_matches_pillow() {
        // Pillow: Image.new("RGB", (1, 1), (200, 100, 50)).convert("L").getpixel((0, 0)) == 124
        assert_eq!(luma(200, 100, 50), 124);
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
    }

    #[test]
    fn sixteen_bit_scales_instead_of_clipping() {
        assert_eq!(to8(65535), 255);
        assert_eq!(to8(32896), 128);
        assert_eq!(to8(0), 0);
    }

    /// A CMYK JPEG written by Pillow 13 (`tests/fixtures/cmyk.jpeg`); Pillow's
    /// `convert("L")` gives 221, 218, 216, 213 for its first pixels.
    #[test]
    fn cmyk_jpeg_decodes_to_pillows_gray() {
        let bytes = include_bytes!("../../../../tests/fixtures/cmyk.jpeg");
        let (facts, gray) = decode_gray(bytes, 1 << 20).unwrap();
        assert_eq!((facts.width, facts.height), (16, 12));
        for (got, want) in gray.pixels.iter().zip([221u8, 218, 216, 213]) {
            assert!(got.abs_diff(want) <= 3, "{:?}", &gray.pixels[..4]);
        }
    }

    #[test]
    fn empty_and_text_are_named() {
        assert_eq!(decode_gray(b"", 1 << 20).unwrap_err(), DecodeError::Empty);
        assert_eq!(
            decode_gray(b"hello, not a picture", 1 << 20).unwrap_err(),
            DecodeError::NotAnImage
        );
    }
}
