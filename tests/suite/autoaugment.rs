//! AutoAugment's operations (DALI's ImageNet policy) on tiny images against values worked out
//! by hand from their definitions (`src/data/autoaugment.rs`), and the policy in the training
//! pipeline: seeded, and the identity where no stage runs.

use dynunc::data::ImageSet;
use dynunc::data::augment::{Augment, AutoAugment, fill_pixels};
use dynunc::data::autoaugment::{Hwc, Op, apply, rotate};
use rand::SeedableRng;

fn gray(height: usize, width: usize, pixels: &[u8]) -> Hwc {
    Hwc {
        height,
        width,
        channels: 1,
        pixels: pixels.to_vec(),
    }
}

fn run(mut img: Hwc, op: Op, bin: u8, negate: bool) -> Vec<u8> {
    apply(&mut img, op, bin, negate);
    img.pixels
}

#[test]
fn invert_posterize_solarize_and_solarize_add_are_pixelwise() {
    let px = [0u8, 10, 100, 127, 128, 179, 180, 200, 255];
    let img = || gray(1, px.len(), &px);
    assert_eq!(
        run(img(), Op::Invert, 0, false),
        [255, 245, 155, 128, 127, 76, 75, 55, 0]
    );
    // bin 6: 0.4 x 6 = 2.4 -> 2 high bits kept (mask 0b1100_0000)
    assert_eq!(
        run(img(), Op::Posterize, 6, false),
        [0, 0, 64, 64, 128, 128, 128, 192, 192]
    );
    // bin 0: 0 bits -> at least 1 kept (mask 0b1000_0000)
    assert_eq!(
        run(img(), Op::Posterize, 0, false),
        [0, 0, 0, 0, 128, 128, 128, 128, 128]
    );
    // bin 3: threshold 256 - 76.8 = 179.2: 180 and above inverted
    assert_eq!(
        run(img(), Op::Solarize, 3, false),
        [0, 10, 100, 127, 128, 179, 75, 55, 0]
    );
    // bin 10: threshold 0, every pixel inverted; bin 0: threshold 256, none
    assert_eq!(
        run(img(), Op::Solarize, 10, false),
        run(img(), Op::Invert, 0, false)
    );
    assert_eq!(run(img(), Op::Solarize, 0, false), px);
    // bin 3: +33 below 128
    assert_eq!(
        run(img(), Op::SolarizeAdd, 3, false),
        [33, 43, 133, 160, 128, 179, 180, 200, 255]
    );
    // the sign is ignored by the pixelwise operations
    assert_eq!(
        run(img(), Op::SolarizeAdd, 3, true),
        run(img(), Op::SolarizeAdd, 3, false)
    );
}

#[test]
fn equalize_is_opencvs_and_auto_contrast_stretches_each_channel() {
    // 10 x2, 20, 30: the lowest value -> 0; 20 -> 1 x 255 / (4 - 2) = 127.5 -> 128 (ties to
    // even); 30 -> 255
    assert_eq!(
        run(gray(2, 2, &[10, 20, 10, 30]), Op::Equalize, 0, false),
        [0, 128, 0, 255]
    );
    assert_eq!(
        run(gray(2, 2, &[7, 7, 7, 7]), Op::Equalize, 0, false),
        [7, 7, 7, 7]
    );
    // two pixels of three channels: channel 0 spans 40..140 (x 2.55), channel 1 is constant,
    // channel 2 spans 0..255 already
    let rgb = Hwc {
        height: 1,
        width: 3,
        channels: 3,
        pixels: vec![40, 9, 0, 100, 9, 128, 140, 9, 255],
    };
    assert_eq!(
        run(rgb, Op::AutoContrast, 0, false),
        [0, 9, 0, 153, 9, 128, 255, 9, 255]
    );
}

#[test]
fn color_scales_the_distance_from_the_luma() {
    // Y = .299 x 200 + .587 x 100 = 118.5
    let img = || Hwc {
        height: 1,
        width: 1,
        channels: 3,
        pixels: vec![200, 100, 0],
    };
    // bin 0: factor 0.1 -> 118.5 + 0.1 x (81.5, -18.5, -118.5) = 126.65, 116.65, 106.65
    assert_eq!(run(img(), Op::Color, 0, false), [127, 117, 107]);
    // bin 9: factor 1.72 -> 258.68 (saturated), 86.68, -85.32 (saturated)
    assert_eq!(run(img(), Op::Color, 9, false), [255, 87, 0]);
    // one channel: the identity
    assert_eq!(run(gray(1, 2, &[3, 250]), Op::Color, 9, false), [3, 250]);
}

#[test]
fn shears_and_translation_sample_bilinearly_and_fill_with_128() {
    // bin 10: shear 0.3; row r (centre r + 0.5) moves right by 0.3 (r + 0.5): 0.15 and 0.45 px
    let rows = || gray(2, 3, &[0, 100, 200, 0, 100, 200]);
    // row 0: 0.15 x left + 0.85 x self; row 1: 0.45 x left + 0.55 x self; left of 0 is 128
    assert_eq!(
        run(rows(), Op::ShearX, 10, false),
        [19, 85, 185, 58, 55, 155]
    );
    // negated: 0.85 x self + 0.15 x right (row 0), 0.55 x self + 0.45 x right (row 1)
    assert_eq!(
        run(rows(), Op::ShearX, 10, true),
        [15, 115, 189, 45, 145, 168]
    );
    // shear_y is shear_x of the transposed image
    let cols = || gray(3, 2, &[0, 0, 100, 100, 200, 200]);
    assert_eq!(
        run(cols(), Op::ShearY, 10, false),
        [19, 58, 85, 55, 185, 155]
    );
    // bin 9: 0.9 x 10 rows = 9 rows down (or up when negated), whole pixels
    let column: Vec<u8> = (0..10).map(|i| i * 10).collect();
    let mut down = vec![128u8; 10];
    down[9] = 0;
    assert_eq!(run(gray(10, 1, &column), Op::TranslateY, 9, false), down);
    let mut up = vec![128u8; 10];
    up[0] = 90;
    assert_eq!(run(gray(10, 1, &column), Op::TranslateY, 9, true), up);
}

#[test]
fn rotation_turns_counter_clockwise_about_the_centre() {
    // [[a, b], [c, d]] turned a quarter counter-clockwise: [[b, d], [a, c]]
    let mut img = gray(2, 2, &[1, 2, 3, 4]);
    rotate(&mut img, 90.0);
    assert_eq!(img.pixels, [2, 4, 1, 3]);
    let mut img = gray(2, 2, &[1, 2, 3, 4]);
    rotate(&mut img, -90.0);
    assert_eq!(img.pixels, [3, 1, 4, 2]);
    // bin 0 is no rotation at all
    let px: Vec<u8> = (0..25).map(|i| i * 10).collect();
    assert_eq!(run(gray(5, 5, &px), Op::Rotate, 0, true), px);
    // 30 degrees (bin 10): the centre pixel of an odd image stays, the others move
    let out = run(gray(5, 5, &px), Op::Rotate, 10, false);
    assert_eq!(out[12], 120);
    assert_ne!(out, px);
}

fn tiny_set() -> ImageSet {
    let n = 6;
    ImageSet {
        pixels: (0..n * 8 * 8 * 3).map(|i| (i * 37 % 251) as u8).collect(),
        labels: vec![0; n],
        height: 8,
        width: 8,
        channels: 3,
        classes: 1,
    }
}

#[test]
fn the_policy_in_the_pipeline_is_seeded_and_changes_images() {
    let set = tiny_set();
    let idx: Vec<usize> = (0..6).collect();
    let aug = Augment {
        auto_augment: AutoAugment::ImageNet,
        ..Augment::default()
    };
    let pixels = |seed: u64| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        fill_pixels(&set, &idx, Some((&aug, &mut rng)), &mut out);
        out
    };
    let plain = {
        let mut out = Vec::new();
        fill_pixels(&set, &idx, None, &mut out);
        out
    };
    assert_eq!(pixels(3), pixels(3));
    assert_ne!(pixels(3), pixels(4));
    // over many draws, some images pass unchanged (no stage ran) and some change
    let per = 8 * 8 * 3;
    let (mut same, mut changed) = (0, 0);
    for seed in 0..20 {
        let out = pixels(seed);
        for (a, b) in out.chunks(per).zip(plain.chunks(per)) {
            if a == b { same += 1 } else { changed += 1 }
        }
    }
    assert!(same > 0 && changed > 0, "same {same}, changed {changed}");
}
