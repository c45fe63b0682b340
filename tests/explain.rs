//! The explain example's figures (`examples/explain/`), drawn by the same
//! code for test digit 0 into a temporary folder and decoded again with the
//! `png` crate: each PNG has the size its layout computes and exactly the
//! pixels drawn, its panels are not blank, nothing spills into the margins,
//! and the probabilities computed from the trace pick the class `forward`
//! picks.

#[path = "../examples/explain/canvas.rs"]
mod canvas;
#[path = "../examples/explain/font.rs"]
mod font;
#[path = "../examples/mnist/mod.rs"]
mod mnist;
#[path = "../examples/explain/render.rs"]
mod render;

use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use canvas::Rect;
use constnet::Network;
use render::{ExplainLayout, KernelsLayout, MARGIN};

constnet::network! {
    /// LeNet-5, as in examples/explain/main.rs.
    pub struct LeNet5 {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5),
        ReLU,
        MaxPool2d(2),
        conv2: Conv2d(6, 16, 5),
        ReLU,
        MaxPool2d(2),
        Flatten,
        fc1: Linear(16 * 5 * 5, 120),
        ReLU,
        fc2: Linear(120, 84),
        ReLU,
        fc3: Linear(84, 10),
    }
}

/// A folder of its own under the system's temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("constnet-explain-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A decoded RGB8 image.
struct Image {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Image {
    fn decode(path: &Path) -> Image {
        let file = BufReader::new(File::open(path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!(
            (info.color_type, info.bit_depth),
            (png::ColorType::Rgb, png::BitDepth::Eight)
        );
        pixels.truncate(info.buffer_size());
        Image {
            width: info.width as usize,
            height: info.height as usize,
            pixels,
        }
    }

    /// The distinct colours inside `r`.
    fn colours(&self, r: Rect) -> HashSet<[u8; 3]> {
        assert!(r.right() <= self.width && r.bottom() <= self.height);
        let mut set = HashSet::new();
        for y in r.y..r.bottom() {
            for x in r.x..r.right() {
                let i = 3 * (y * self.width + x);
                set.insert([self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]);
            }
        }
        set
    }

    /// Whether the outer half of the margin at the right and at the bottom
    /// is untouched white: no text or tile spills out of the layout.
    fn margins_blank(&self) -> bool {
        let m = MARGIN / 2;
        let right = Rect {
            x: self.width - m,
            y: 0,
            w: m,
            h: self.height,
        };
        let bottom = Rect {
            x: 0,
            y: self.height - m,
            w: self.width,
            h: m,
        };
        let white = HashSet::from([[255; 3]]);
        self.colours(right) == white && self.colours(bottom) == white
    }
}

/// The smallest rectangle holding all of `rects`.
fn bounds(rects: &[Rect]) -> Rect {
    let x = rects.iter().map(|r| r.x).min().unwrap();
    let y = rects.iter().map(|r| r.y).min().unwrap();
    let right = rects.iter().map(Rect::right).max().unwrap();
    let bottom = rects.iter().map(Rect::bottom).max().unwrap();
    Rect {
        x,
        y,
        w: right - x,
        h: bottom - y,
    }
}

/// No two of `rects` overlap, and all lie inside `width × height`.
fn disjoint_inside(rects: &[Rect], width: usize, height: usize) {
    for (i, a) in rects.iter().enumerate() {
        assert!(a.right() <= width && a.bottom() <= height, "{a:?}");
        for b in &rects[i + 1..] {
            let apart =
                a.right() <= b.x || b.right() <= a.x || a.bottom() <= b.y || b.bottom() <= a.y;
            assert!(apart, "{a:?} overlaps {b:?}");
        }
    }
}

#[test]
fn layouts_are_consistent() {
    let explain = ExplainLayout::new();
    let mut rects = vec![explain.input];
    rects.extend(&explain.bars);
    for panel in &explain.maps {
        let shape = LeNet5::LAYERS[panel.layer].output_shape;
        assert_eq!(panel.tiles.len(), shape[0], "one tile per channel");
        for tile in &panel.tiles {
            assert_eq!(
                (tile.w, tile.h),
                (shape[2] * panel.scale, shape[1] * panel.scale)
            );
            assert!((80..=112).contains(&tile.w), "{tile:?}");
        }
        rects.extend(&panel.tiles);
    }
    disjoint_inside(&rects, explain.width, explain.height);

    let kernels = KernelsLayout::new();
    assert_eq!(kernels.conv1.len(), 6);
    assert_eq!(kernels.conv2.len(), 16);
    let mut rects = kernels.conv1.clone();
    for column in &kernels.conv2 {
        assert_eq!(column.len(), 6);
        rects.extend(column);
    }
    disjoint_inside(&rects, kernels.width, kernels.height);
}

#[test]
fn figures_of_digit_0() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let net = LeNet5::from_file(root.join("data/lenet5.safetensors")).unwrap();
    let test = mnist::Mnist::load(&root.join("data/mnist"), "t10k").unwrap();
    let (digit, label) = (&test.images[0], test.labels[0]);
    let dir = TempDir::new();
    let written = render::write_figures(&net, 0, digit, label, &dir.0).unwrap();
    let explained = &written.explained;

    // The probabilities come from the trace; they pick forward's class.
    let input = mnist::lenet_input(digit);
    let logits = net.forward(&input);
    assert_eq!(explained.output, logits);
    assert_eq!(explained.trace.fc3, logits);
    assert_eq!(explained.predicted, mnist::argmax(&logits));
    let total: f64 = explained.probabilities.iter().sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");

    // explain.png: the layout's size, the drawn pixels, no blank panel.
    let layout = ExplainLayout::new();
    let image = Image::decode(&written.explain_png);
    assert_eq!((image.width, image.height), (layout.width, layout.height));
    assert_eq!(written.explain_size, (layout.width, layout.height));
    let drawn = render::draw_explain(&layout, 0, label, &input, explained);
    assert!(
        image.pixels == drawn.pixels,
        "explain.png differs from the drawing"
    );
    assert!(
        image.colours(layout.input).len() > 16,
        "the input tile is flat"
    );
    for panel in &layout.maps {
        let colours = image.colours(bounds(&panel.tiles)).len();
        assert!(colours > 16, "layer {}: {colours} colours", panel.layer);
    }
    let predicted_bar = layout.bars[explained.predicted];
    assert!(
        image.colours(predicted_bar).len() > 1,
        "no bar for the prediction"
    );
    assert!(
        image.margins_blank(),
        "explain.png: something spills into the margin"
    );

    // kernels.png likewise.
    let layout = KernelsLayout::new();
    let image = Image::decode(&written.kernels_png);
    assert_eq!((image.width, image.height), (layout.width, layout.height));
    assert_eq!(written.kernels_size, (layout.width, layout.height));
    let drawn = render::draw_kernels(&layout, &net);
    assert!(
        image.pixels == drawn.pixels,
        "kernels.png differs from the drawing"
    );
    assert!(image.colours(bounds(&layout.conv1)).len() > 16);
    let conv2: Vec<Rect> = layout.conv2.iter().flatten().copied().collect();
    assert!(image.colours(bounds(&conv2)).len() > 16);
    assert!(
        image.margins_blank(),
        "kernels.png: something spills into the margin"
    );
}
