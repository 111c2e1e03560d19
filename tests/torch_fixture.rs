//! Against the PyTorch fixture (`../shared/fixtures/torchvision-resnet18`): our `.pth`
//! reader sees the state_dict torch saved, and our preprocessing matches the pixels PIL fed
//! the network.

mod common;

use std::fs;

use pneumo_pipeline::data::decode::decode_gray;
use pneumo_pipeline::data::resize::resize;
use pneumo_pipeline::model::pth::{self, DType};
use safetensors::SafeTensors;

#[test]
fn pth_reader_sees_the_whole_state_dict() {
    let path = common::shared("fixtures/torchvision-resnet18/resnet18_num_classes1.pth");
    let sd = pth::read(&path).unwrap();
    // 20 convolutions, 20 batch norms x 5 entries, fc weight and bias
    assert_eq!(sd.len(), 122);
    assert_eq!(sd["conv1.weight"].shape, [64, 3, 7, 7]);
    assert_eq!(sd["layer4.1.conv2.weight"].shape, [512, 512, 3, 3]);
    assert_eq!(sd["layer2.0.downsample.0.weight"].shape, [128, 64, 1, 1]);
    assert_eq!(sd["fc.weight"].shape, [1, 512]);
    assert_eq!(sd["fc.bias"].shape, [1]);
    let tracked = &sd["bn1.num_batches_tracked"];
    assert_eq!((tracked.dtype, tracked.shape.len()), (DType::I64, 0));
    // the fixture warmed BatchNorm with four train-mode passes
    assert_eq!(tracked.to_f32(), [4.0]);
    assert!(
        sd["layer1.0.bn1.running_var"]
            .to_f32()
            .iter()
            .all(|v| *v > 0.0)
    );
    // kaiming-normal (fan_out) init of conv1: std = sqrt(2 / (64 * 7 * 7)) = 0.0253
    let w = sd["conv1.weight"].to_f32();
    let mean = w.iter().sum::<f32>() / w.len() as f32;
    let std = (w.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / w.len() as f32).sqrt();
    assert!((std - 0.0253).abs() < 0.002, "conv1 std {std}");
    let total: usize = sd
        .values()
        .filter(|t| t.dtype == DType::F32)
        .map(|t| t.numel())
        .sum();
    // torchvision resnet18 with a 1-logit head: 11,177,025 parameters + 9,600 BN statistics
    assert_eq!(total, 11_177_025 + 9_600);
}

#[test]
fn preprocessing_matches_the_pixels_pil_fed_pytorch() {
    let bytes = fs::read(common::shared(
        "fixtures/torchvision-resnet18/input.safetensors",
    ))
    .unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let expected = st.tensor("x_u8").unwrap();
    assert_eq!(expected.shape(), [4, 224, 224]);
    let files = [
        "train/NORMAL/IM-0115-0001.jpeg",
        "train/NORMAL/IM-0119-0001.jpeg",
        "train/PNEUMONIA/person1000_bacteria_2931.jpeg",
        "train/PNEUMONIA/person1000_virus_1681.jpeg",
    ];
    let mut ours = Vec::new();
    for f in files {
        let jpeg = fs::read(common::kermany_dev().join(f)).unwrap();
        let (_, gray) = decode_gray(&jpeg, u64::MAX).unwrap();
        ours.extend(resize(&gray, 224, 224).unwrap());
    }
    let diffs: Vec<u8> = ours
        .iter()
        .zip(expected.data())
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
    let max = *diffs.iter().max().unwrap();
    // zune-jpeg and libjpeg-turbo round their IDCTs differently: allow a grey level or two
    assert!(
        mean < 0.5 && max <= 4,
        "mean |ours - PIL| = {mean:.3}, max {max}"
    );
    println!("mean |ours - PIL| = {mean:.4}, max {max}");
}
