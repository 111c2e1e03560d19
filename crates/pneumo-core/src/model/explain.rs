//! Grad-CAM bookkeeping that needs no libtorch: the colormap, overlays, region shares and the
//! pixel orders of the deletion test. Maps are row-major `side x side`, normalised to [0, 1].

use image::{Rgb, RgbImage};

use crate::data::decode::Gray;
use crate::data::resize::resize;
use crate::data::rng::SplitMix64;

/// viridis (matplotlib's perceptually uniform map), as the degree-6 polynomial fit of
/// Matt Zucker (shadertoy WlfXRN); within about 1/255 of the table.
pub fn viridis(t: f32) -> [u8; 3] {
    const C: [[f32; 3]; 7] = [
        [0.277_727_33, 0.005_407_344_5, 0.334_099_8],
        [0.105_093_04, 1.404_613_5, 1.384_590_2],
        [-0.330_861_83, 0.214_847_56, 0.095_095_16],
        [-4.634_230_6, -5.799_101, -19.332_441],
        [6.228_27, 14.179_933, 56.690_55],
        [4.776_385, -13.745_145, -65.353_03],
        [-5.435_456, 4.645_852_6, 26.312_435],
    ];
    let t = t.clamp(0.0, 1.0);
    let mut out = [0u8; 3];
    for (ch, o) in out.iter_mut().enumerate() {
        let mut v = 0.0f32;
        for k in (0..7).rev() {
            v = v * t + C[k][ch];
        }
        *o = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    }
    out
}

/// Long side of the overlays in the report and of `predict --heatmap`: readable on a page.
pub const READABLE_SIDE: u32 = 512;

/// A `side x side` map, bilinearly resampled to `width x height` (pixel centres aligned, as
/// torch's `align_corners=False`): the map of a squashed square input stretched back over
/// the film's own shape.
pub fn resample_map(cam: &[f32], side: usize, width: usize, height: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(width * height);
    let at = |v: f32, n: usize| -> (usize, usize, f32) {
        let v = v.clamp(0.0, (n - 1) as f32);
        let lo = v.floor() as usize;
        (lo, (lo + 1).min(n - 1), v - lo as f32)
    };
    for y in 0..height {
        let sy = (y as f32 + 0.5) * side as f32 / height as f32 - 0.5;
        let (y0, y1, fy) = at(sy, side);
        for x in 0..width {
            let sx = (x as f32 + 0.5) * side as f32 / width as f32 - 0.5;
            let (x0, x1, fx) = at(sx, side);
            let row = |yy: usize| cam[yy * side + x0] * (1.0 - fx) + cam[yy * side + x1] * fx;
            out.push(row(y0) * (1.0 - fy) + row(y1) * fy);
        }
    }
    out
}

/// The film at [`READABLE_SIDE`] on its long side with the map stretched over it, film and
/// blend side by side: what a reader can actually look at (the model-size overlay of a
/// 128 px run is a 256 x 128 thumbnail).
pub fn readable_overlay(film: &Gray, cam: &[f32], side: usize) -> Result<RgbImage, String> {
    let gray = readable_film(film)?;
    let (w, h) = (gray.width as usize, gray.height as usize);
    let map = resample_map(cam, side, w, h);
    Ok(blend(&gray.pixels, &map, w, h))
}

/// The film resized to [`READABLE_SIDE`] on its long side: the left half of
/// [`readable_overlay`].
pub fn readable_film(film: &Gray) -> Result<Gray, String> {
    let long = film.width.max(film.height).max(1) as f64;
    let scale = f64::from(READABLE_SIDE) / long;
    let width = ((f64::from(film.width) * scale).round() as u32).max(1);
    let height = ((f64::from(film.height) * scale).round() as u32).max(1);
    let pixels = resize(film, width, height)?;
    Ok(Gray {
        width,
        height,
        pixels,
    })
}

/// The plain X-ray and the heatmap blended over it, side by side (`2 side x side`). The
/// heat is weighted by the map itself, so cold regions show the film through.
pub fn overlay(gray: &[u8], cam: &[f32], side: usize) -> RgbImage {
    blend(gray, cam, side, side)
}

/// `gray` and `map` (both `w x h`) as film | blend.
fn blend(gray: &[u8], map: &[f32], w: usize, h: usize) -> RgbImage {
    let mut img = RgbImage::new(2 * w as u32, h as u32);
    for y in 0..h {
        for x in 0..w {
            let g = gray[y * w + x];
            img.put_pixel(x as u32, y as u32, Rgb([g, g, g]));
            let c = map[y * w + x].clamp(0.0, 1.0);
            let heat = viridis(c);
            let a = 0.15 + 0.55 * c;
            let mix = |h: u8| ((1.0 - a) * f32::from(g) + a * f32::from(h)).round() as u8;
            img.put_pixel(
                (w + x) as u32,
                y as u32,
                Rgb([mix(heat[0]), mix(heat[1]), mix(heat[2])]),
            );
        }
    }
    img
}

pub use pneumo_contract::gradcam::Quadrants;

/// Pixel orders that blank square cells (a `grid x grid` tiling of the image) one at a time:
/// by descending mean saliency, and in a seeded random order. Deleting whole cells in both
/// orders keeps the comparison fair: scattered single pixels (salt-and-pepper noise) would
/// push any CNN off its input distribution far faster than one contiguous region does.
pub fn cell_orders(cam: &[f32], side: usize, grid: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let grid = grid.clamp(1, side);
    let cell_of = |i: usize| ((i / side) * grid / side) * grid + (i % side) * grid / side;
    let mut pixels: Vec<Vec<usize>> = vec![Vec::new(); grid * grid];
    let mut mass = vec![0.0f64; grid * grid];
    for (i, &c) in cam.iter().enumerate() {
        pixels[cell_of(i)].push(i);
        mass[cell_of(i)] += f64::from(c);
    }
    let mean: Vec<f64> = mass
        .iter()
        .zip(&pixels)
        .map(|(m, p)| m / p.len().max(1) as f64)
        .collect();
    let by_saliency = salient_order(&mean);
    let mut random: Vec<usize> = (0..grid * grid).collect();
    SplitMix64::new(seed).shuffle(&mut random);
    let flatten = |cells: &[usize]| -> Vec<usize> {
        cells
            .iter()
            .flat_map(|&c| pixels[c].iter().copied())
            .collect()
    };
    (flatten(&by_saliency), flatten(&random))
}

/// Indices (pixels or cells) by descending saliency (ties by index: reproducible).
pub fn salient_order<T: Copy + Into<f64>>(saliency: &[T]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..saliency.len()).collect();
    idx.sort_by(|&a, &b| {
        let (a_v, b_v): (f64, f64) = (saliency[a].into(), saliency[b].into());
        b_v.total_cmp(&a_v).then(a.cmp(&b))
    });
    idx
}

/// `steps + 1` copies of `gray`, the k-th with the first `k/steps` of `order` set to `fill`.
pub fn deletion_series(gray: &[u8], order: &[usize], steps: usize, fill: u8) -> Vec<u8> {
    let n = gray.len();
    let mut out = Vec::with_capacity(n * (steps + 1));
    let mut img = gray.to_vec();
    let mut done = 0;
    for k in 0..=steps {
        let upto = (k * n + steps / 2) / steps;
        for &i in &order[done..upto] {
            img[i] = fill;
        }
        done = upto;
        out.extend_from_slice(&img);
    }
    out
}

/// Area under a curve sampled at evenly spaced fractions 0..=1 (trapezoids).
pub fn area(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return values.first().copied().unwrap_or(f64::NAN);
    }
    let h = 1.0 / (values.len() - 1) as f64;
    values.windows(2).map(|w| (w[0] + w[1]) * h / 2.0).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_is_stretched_over_the_film_at_a_readable_size() {
        // a 2 x 2 map, hot in its upper-left cell, over a landscape film 200 x 100
        let cam = [1.0, 0.0, 0.0, 0.0];
        let same = resample_map(&cam, 2, 2, 2);
        assert_eq!(same, cam, "same size: unchanged");
        let up = resample_map(&cam, 2, 4, 4);
        assert_eq!(up[0], 1.0, "corner keeps the cell's value");
        assert_eq!(up[15], 0.0);
        assert!(up[5] > 0.0 && up[5] < 1.0, "between cells: a blend");
        let film = Gray {
            width: 200,
            height: 100,
            pixels: vec![128; 200 * 100],
        };
        let img = readable_overlay(&film, &cam, 2).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (2 * READABLE_SIDE, READABLE_SIDE / 2)
        );
        // the film half is the film; the blend is hottest upper-left, film-coloured lower-right
        assert_eq!(img.get_pixel(10, 10).0, [128, 128, 128]);
        let hot = img.get_pixel(READABLE_SIDE, 0).0;
        let cold = img
            .get_pixel(2 * READABLE_SIDE - 1, READABLE_SIDE / 2 - 1)
            .0;
        assert_ne!(hot, cold);
        assert!(cold.iter().all(|&c| c.abs_diff(128) < 40), "{cold:?}");
    }

    #[test]
    fn viridis_matches_matplotlib_at_its_ends_and_middle() {
        // matplotlib: viridis(0) = #440154, viridis(0.5) = #21918c, viridis(1) = #fde725
        let near = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 4);
        assert!(near(viridis(0.0), [0x44, 0x01, 0x54]), "{:?}", viridis(0.0));
        assert!(near(viridis(0.5), [0x21, 0x91, 0x8c]), "{:?}", viridis(0.5));
        assert!(near(viridis(1.0), [0xfd, 0xe7, 0x25]), "{:?}", viridis(1.0));
    }

    #[test]
    fn quadrant_shares_follow_the_mass() {
        let side = 4;
        let mut cam = vec![0.0f32; 16];
        cam[0] = 3.0; // upper left
        cam[15] = 1.0; // lower right
        let q = Quadrants::of(&cam, side);
        assert_eq!(q.upper_left, 0.75);
        assert_eq!(q.lower_right, 0.25);
        assert_eq!(q.upper_right + q.lower_left, 0.0);
        assert_eq!(Quadrants::of(&[0.0; 16], side), Quadrants::default());
    }

    #[test]
    fn deletion_blanks_the_most_salient_first_and_all_at_the_end() {
        let gray = [10u8, 20, 30, 40];
        let cam = [0.1f32, 0.9, 0.5, 0.0];
        let order = salient_order(&cam);
        assert_eq!(order, [1, 2, 0, 3]);
        let s = deletion_series(&gray, &order, 2, 0);
        assert_eq!(&s[0..4], &gray);
        assert_eq!(&s[4..8], &[10, 0, 0, 40]);
        assert_eq!(&s[8..12], &[0, 0, 0, 0]);
        assert!((area(&[1.0, 0.5, 0.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn cell_orders_delete_whole_cells_hottest_first() {
        // 4x4 image, 2x2 cells; the hot cell is the lower right one
        let mut cam = vec![0.1f32; 16];
        for i in [10, 11, 14, 15] {
            cam[i] = 0.9;
        }
        let (salient, random) = cell_orders(&cam, 4, 2, 1);
        assert_eq!(&salient[..4], &[10, 11, 14, 15]);
        let mut all = random.clone();
        all.sort_unstable();
        assert_eq!(all, (0..16).collect::<Vec<_>>());
        // each cell's four pixels stay together in the random order too
        for cell in random.chunks(4) {
            let c = |i: usize| (i / 4 / 2) * 2 + (i % 4) / 2;
            assert!(cell.iter().all(|&i| c(i) == c(cell[0])), "{random:?}");
        }
    }
}
