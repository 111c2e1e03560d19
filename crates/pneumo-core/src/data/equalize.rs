//! Per-image intensity normalisation of the cached grey images, for films whose exposure
//! and contrast differ between sites: Pillow's `ImageOps.equalize` (global histogram
//! equalisation) and OpenCV's CLAHE (`cv2.createCLAHE(clipLimit, tileGridSize).apply`),
//! both reproduced to the pixel (`tests/fixtures/equalize`, written by
//! `scripts/fixtures/equalize.py` with Pillow 13 and OpenCV 5.0).

pub use pneumo_contract::preprocess::{Equalization, Method};

/// Applies `eq` to a `width` x `height` grey image in place.
pub fn apply(eq: &Equalization, px: &mut [u8], width: usize, height: usize) {
    match eq.method {
        Method::None => {}
        Method::Histogram => histogram(px),
        Method::Clahe => clahe(px, width, height, eq.clip, eq.tiles as usize),
    }
}

/// `PIL.ImageOps.equalize(image)` for mode `L`.
pub fn histogram(px: &mut [u8]) {
    let mut h = [0u64; 256];
    for &v in px.iter() {
        h[v as usize] += 1;
    }
    let Some(last) = h.iter().rev().find(|&&c| c > 0) else {
        return;
    };
    if h.iter().filter(|&&c| c > 0).count() <= 1 {
        return;
    }
    let step = (px.len() as u64 - last) / 255;
    if step == 0 {
        return;
    }
    let mut lut = [0u8; 256];
    let mut n = step / 2;
    for (i, slot) in lut.iter_mut().enumerate() {
        // Image.point clips a list lut to 0..255
        *slot = (n / step).min(255) as u8;
        n += h[i];
    }
    for v in px.iter_mut() {
        *v = lut[*v as usize];
    }
}

/// `cv2.createCLAHE(clip, (tiles, tiles)).apply(image)` for 8-bit images: each tile's
/// histogram clipped at `max(1, int(clip * tile_area / 256))`, the excess spread evenly and
/// its remainder by OpenCV's stride, then every pixel interpolated bilinearly between the
/// four nearest tiles' maps. Sides a tile count does not divide are padded (reflect-101) for
/// the histograms, as OpenCV does.
pub fn clahe(px: &mut [u8], width: usize, height: usize, clip: f64, tiles: usize) {
    let tiles = tiles.max(1);
    if px.is_empty() || width == 0 || height == 0 {
        return;
    }
    let divisible = width.is_multiple_of(tiles) && height.is_multiple_of(tiles);
    // OpenCV pads `tiles - side % tiles` on both axes (a whole tile on a divisible one)
    let (ext_w, ext_h) = if divisible {
        (width, height)
    } else {
        (
            width + tiles - width % tiles,
            height + tiles - height % tiles,
        )
    };
    let (tw, th) = (ext_w / tiles, ext_h / tiles);
    let area = (tw * th) as i64;
    let lut_scale = 255.0f32 / area as f32;
    let limit = if clip > 0.0 {
        ((clip * area as f64 / 256.0) as i64).max(1)
    } else {
        0
    };
    let at = |x: usize, y: usize| px[reflect101(y, height) * width + reflect101(x, width)];
    let mut luts = vec![[0u8; 256]; tiles * tiles];
    for (k, lut) in luts.iter_mut().enumerate() {
        let (ty, tx) = (k / tiles, k % tiles);
        let mut hist = [0i64; 256];
        for y in ty * th..(ty + 1) * th {
            for x in tx * tw..(tx + 1) * tw {
                hist[at(x, y) as usize] += 1;
            }
        }
        if limit > 0 {
            let mut clipped = 0;
            for c in hist.iter_mut() {
                if *c > limit {
                    clipped += *c - limit;
                    *c = limit;
                }
            }
            let batch = clipped / 256;
            let mut residual = clipped - batch * 256;
            for c in hist.iter_mut() {
                *c += batch;
            }
            if residual != 0 {
                let stride = (256 / residual).max(1) as usize;
                let mut i = 0;
                while i < 256 && residual > 0 {
                    hist[i] += 1;
                    i += stride;
                    residual -= 1;
                }
            }
        }
        let mut sum = 0i64;
        for (slot, c) in lut.iter_mut().zip(hist) {
            sum += c;
            *slot = saturate_round(sum as f32 * lut_scale);
        }
    }
    let (inv_tw, inv_th) = (1.0f32 / tw as f32, 1.0f32 / th as f32);
    let axis = |i: usize, inv: f32| {
        let f = i as f32 * inv - 0.5;
        let lo = f.floor();
        let a = f - lo;
        let lo = lo as i64;
        (
            lo.max(0) as usize,
            ((lo + 1) as usize).min(tiles - 1),
            a,
            1.0 - a,
        )
    };
    let xs: Vec<_> = (0..width).map(|x| axis(x, inv_tw)).collect();
    for y in 0..height {
        let (ty1, ty2, ya, ya1) = axis(y, inv_th);
        for (x, &(tx1, tx2, xa, xa1)) in xs.iter().enumerate() {
            let v = px[y * width + x] as usize;
            let (l1, l2) = (&luts[ty1 * tiles..], &luts[ty2 * tiles..]);
            let res = (l1[tx1][v] as f32 * xa1 + l1[tx2][v] as f32 * xa) * ya1
                + (l2[tx1][v] as f32 * xa1 + l2[tx2][v] as f32 * xa) * ya;
            px[y * width + x] = saturate_round(res);
        }
    }
}

/// OpenCV's `saturate_cast<uchar>(float)`: round half to even, then clamp.
fn saturate_round(v: f32) -> u8 {
    v.round_ties_even().clamp(0.0, 255.0) as u8
}

/// BORDER_REFLECT_101 (`gfedcb|abcdefgh|gfedcba`) for an index past the end.
fn reflect101(i: usize, n: usize) -> usize {
    if i < n || n == 1 {
        i.min(n - 1)
    } else {
        let period = 2 * (n - 1);
        let m = i % period;
        if m < n { m } else { period - m }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn gray(name: &str) -> (Vec<u8>, usize, usize) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/equalize")
            .join(format!("{name}.png"));
        let img = image::open(&path).unwrap().into_luma8();
        let (w, h) = img.dimensions();
        (img.into_raw(), w as usize, h as usize)
    }

    fn check(input: &str, eq: Equalization, reference: &str) {
        let (mut px, w, h) = gray(input);
        apply(&eq, &mut px, w, h);
        let (want, _, _) = gray(reference);
        let differ = px.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ,
            0,
            "{reference}: {differ} of {} pixels differ",
            px.len()
        );
    }

    #[test]
    fn histogram_equalisation_is_pillows() {
        let eq = Equalization {
            method: Method::Histogram,
            clip: 2.0,
            tiles: 8,
        };
        for input in ["film64", "odd50x37"] {
            check(input, eq, &format!("{input}-histogram"));
        }
    }

    #[test]
    fn clahe_is_opencvs_on_divisible_and_padded_sides() {
        for input in ["film64", "odd50x37"] {
            for (clip, tiles) in [(2.0, 8), (4.0, 3)] {
                let eq = Equalization {
                    method: Method::Clahe,
                    clip,
                    tiles,
                };
                check(input, eq, &format!("{input}-clahe-{clip}-{tiles}"));
            }
        }
    }

    #[test]
    fn flat_and_empty_images_are_left_alone() {
        let mut flat = vec![77u8; 64];
        histogram(&mut flat);
        assert_eq!(flat, vec![77u8; 64]);
        clahe(&mut [], 0, 0, 2.0, 8);
        let mut one = vec![5u8];
        clahe(&mut one, 1, 1, 2.0, 8);
    }

    #[test]
    fn reflect_101_mirrors_without_repeating_the_edge() {
        let got: Vec<usize> = (0..9).map(|i| reflect101(i, 4)).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 2, 1, 0, 1, 2]);
    }
}
