//! Antialiased bilinear resizing of 8-bit grayscale, the way Pillow's `resize(BILINEAR)`
//! (and so torchvision's `Resize` on PIL images) does it: a triangle filter whose support
//! widens with the downscale factor.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::decode::Gray;

/// Resizes to `width` x `height` (aspect ratio not kept, as in the write-up).
pub fn resize(src: &Gray, width: u32, height: u32) -> Result<Vec<u8>, String> {
    if src.width == width && src.height == height {
        return Ok(src.pixels.clone());
    }
    let view = ImageRef::new(src.width, src.height, &src.pixels, PixelType::U8)
        .map_err(|e| e.to_string())?;
    let mut dst = Image::new(width, height, PixelType::U8);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new()
        .resize(&view, &mut dst, &options)
        .map_err(|e| e.to_string())?;
    Ok(dst.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_neighbours() {
        // 4x1 -> 2x1 with an antialiased triangle filter: each output mixes its pair.
        let src = Gray {
            width: 4,
            height: 1,
            pixels: vec![0, 100, 200, 200],
        };
        let out = resize(&src, 2, 1).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out[0] > 20 && out[0] < 80, "{out:?}");
        assert!(out[1] > 180, "{out:?}");
    }

    #[test]
    fn same_size_is_a_copy() {
        let src = Gray {
            width: 2,
            height: 2,
            pixels: vec![1, 2, 3, 4],
        };
        assert_eq!(resize(&src, 2, 2).unwrap(), vec![1, 2, 3, 4]);
    }
}
