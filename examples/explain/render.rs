//! The two figures of the explain example, shared with `tests/explain.rs`
//! (`#[path]`-included, like `examples/mnist/mod.rs`): `explain.png`, one
//! digit's journey through LeNet-5 (the feature maps of every convolution,
//! ReLU and pooling layer, then the class probabilities), and `kernels.png`,
//! the learned 5×5 kernels of both convolutions.
//!
//! The including crate declares `LeNet5` with `network!` (as
//! `examples/lenet.rs` does) and the modules `canvas`, `font` and `mnist`.
//! Each figure has a layout, computed from `LeNet5::LAYERS` alone, and a
//! drawing function that fills it in.

use std::error::Error;
use std::path::{Path, PathBuf};

use constnet::{Network, Tensor};

use crate::canvas::{diverging, grey, Canvas, Rect, Rgb, GREY, INK};
use crate::mnist::{lenet_input, probabilities, Digit};
use crate::{LeNet5, LeNet5Trace};

/// Space around the figure and between panels.
pub const MARGIN: usize = 24;
/// Text scale of labels (font pixels are 2×2), and of the titles.
const TEXT: usize = 2;
const TITLE: usize = 3;
/// The advance of one character of label text, and the vertical pitch of
/// a line of it.
const CHAR: usize = 6 * TEXT;
const LINE: usize = 22;
/// Feature maps are upscaled to about this many pixels a side.
const TILE: usize = 96;
/// Space between tiles, and the height of the channel number above a tile.
const GAP: usize = 12;
const INDEX_H: usize = 20;
/// Tiles per row of a layer's grid.
const COLUMNS: usize = 8;
/// The indices in `LeNet5::LAYERS` of the layers whose outputs are maps:
/// conv1, ReLU, pool1, conv2, ReLU, pool2.
const MAP_LAYERS: [usize; 6] = [0, 1, 2, 3, 4, 5];
/// Upscaling of the 32×32 input and of conv1's and conv2's kernels.
const INPUT_SCALE: usize = 4;
const KERNEL1_SCALE: usize = 16;
const KERNEL2_SCALE: usize = 10;
/// The probability panel: its offset from the left margin, bar length at
/// p = 1 (the length of the light track behind each bar), bar height and
/// pitch; the bars' colours.
const BARS_X: usize = 320;
const BAR_LEN: usize = 360;
const BAR_H: usize = 16;
const BAR_PITCH: usize = 22;
const BAR: Rgb = [150, 150, 150];
const TRACK: Rgb = [236, 236, 236];
const HIGHLIGHT: Rgb = [230, 110, 20];

/// The network's input for one digit.
pub type Input = [[[f32; 32]; 32]; 1];

/// One forward pass with every layer's output kept.
pub struct Explained {
    pub trace: Box<LeNet5Trace>,
    /// What `forward_traced` returned (the logits).
    pub output: [f32; 10],
    /// Softmax of the traced logits (`trace.fc3`).
    pub probabilities: Vec<f64>,
    /// The class with the highest probability.
    pub predicted: usize,
}

/// Runs `input` through `net`, keeping every layer's output.
pub fn explain(net: &LeNet5, input: &Input) -> Explained {
    let mut trace = Box::new(LeNet5Trace::new());
    let output = net.forward_traced(input, &mut trace);
    let probabilities = probabilities(&trace.fc3);
    let predicted = (0..probabilities.len())
        .max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
        .unwrap_or(0);
    Explained {
        trace,
        output,
        probabilities,
        predicted,
    }
}

/// Where a layer's feature maps go: the label's top-left corner and one
/// tile per channel.
pub struct MapPanel {
    /// The index of the layer in `LeNet5::LAYERS`.
    pub layer: usize,
    pub label: (usize, usize),
    pub scale: usize,
    pub tiles: Vec<Rect>,
}

/// The layout of `explain.png`.
pub struct ExplainLayout {
    pub width: usize,
    pub height: usize,
    /// The upscaled 32×32 input and the top-left corner of its label.
    pub input: Rect,
    pub input_label: (usize, usize),
    /// The probability panel's label, and one slot per class, as long as
    /// the bar of p = 1.
    pub bars_label: (usize, usize),
    pub bars: Vec<Rect>,
    pub maps: Vec<MapPanel>,
}

/// `[C, H, W]` of a layer's output.
fn map_shape(layer: usize) -> (usize, usize, usize) {
    match LeNet5::LAYERS[layer].output_shape {
        &[c, h, w] => (c, h, w),
        other => panic!("layer {layer} has output shape {other:?}, not a map"),
    }
}

/// Lays out `count` tiles of `w × h` in rows of `COLUMNS` from `(x, y)`,
/// each with room for its channel number above; returns the tiles and the
/// y below the grid.
fn grid(x: usize, y: usize, count: usize, w: usize, h: usize) -> (Vec<Rect>, usize) {
    let tiles: Vec<Rect> = (0..count)
        .map(|i| Rect {
            x: x + (i % COLUMNS) * (w + GAP),
            y: y + INDEX_H + (i / COLUMNS) * (INDEX_H + h + GAP),
            w,
            h,
        })
        .collect();
    let bottom = tiles.iter().map(Rect::bottom).max().unwrap_or(y);
    (tiles, bottom)
}

impl ExplainLayout {
    pub fn new() -> ExplainLayout {
        let top = MARGIN + Canvas::line_height(TITLE) + 20;

        // The header: the input on the left, the probabilities on the right.
        let input_label = (MARGIN, top);
        let input = Rect {
            x: MARGIN,
            y: top + 3 * LINE + 4,
            w: 32 * INPUT_SCALE,
            h: 32 * INPUT_SCALE,
        };
        let bars_label = (MARGIN + BARS_X, top);
        let bars: Vec<Rect> = (0..10)
            .map(|class| Rect {
                x: MARGIN + BARS_X + 2 * CHAR,
                y: top + 2 * LINE + 6 + class * BAR_PITCH,
                w: BAR_LEN,
                h: BAR_H,
            })
            .collect();
        let header_bottom = input.bottom().max(bars[9].bottom());

        // One panel per layer with maps: two lines of label, then the grid.
        let mut y = header_bottom + 2 * MARGIN;
        let mut width = MARGIN + BARS_X + 2 * CHAR + BAR_LEN + 16 * CHAR;
        let mut maps = Vec::new();
        for layer in MAP_LAYERS {
            let (c, h, w) = map_shape(layer);
            let scale = TILE.div_ceil(h).max(1);
            let (tiles, bottom) = grid(MARGIN, y + 2 * LINE, c, w * scale, h * scale);
            width = width.max(tiles.iter().map(Rect::right).max().unwrap_or(0));
            maps.push(MapPanel {
                layer,
                label: (MARGIN, y),
                scale,
                tiles,
            });
            y = bottom + MARGIN + 8;
        }
        ExplainLayout {
            width: width + MARGIN,
            height: y - 8,
            input,
            input_label,
            bars_label,
            bars,
            maps,
        }
    }
}

/// `lo..hi` of a set of values.
fn range(values: &[f32]) -> (f32, f32) {
    values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// A probability as a percentage, without rounding to 0% or 100%.
pub fn percent(p: f64) -> String {
    if p < 0.0001 {
        "<0.01%".to_string()
    } else if p > 0.9999 {
        ">99.99%".to_string()
    } else {
        format!("{:.2}%", 100.0 * p)
    }
}

/// A layer's name as the figures show it: `conv1`, or `layer1` for an
/// unnamed layer (its field in `LeNet5Trace`).
fn layer_name(layer: usize) -> String {
    let name = LeNet5::LAYERS[layer].name;
    if name.parse::<usize>().is_ok() {
        format!("layer{name}")
    } else {
        name.to_string()
    }
}

/// Draws `explain.png` for digit number `index` of the test set.
pub fn draw_explain(
    layout: &ExplainLayout,
    index: usize,
    label: u8,
    input: &Input,
    explained: &Explained,
) -> Canvas {
    let mut canvas = Canvas::new(layout.width, layout.height);
    let p = &explained.probabilities;
    let predicted = explained.predicted;
    canvas.text(
        MARGIN,
        MARGIN,
        &format!("LeNet-5 on MNIST test digit #{index}"),
        TITLE,
        INK,
    );

    // The input.
    let (x, y) = layout.input_label;
    let pixels = input.as_flat();
    let (lo, hi) = range(pixels);
    canvas.text(x, y, "input [1, 32, 32]", TEXT, INK);
    canvas.text(x, y + LINE, &format!("label {label}"), TEXT, INK);
    let scale = format!("black {lo:.2}, white {hi:.2}");
    canvas.text(x, y + 2 * LINE, &scale, TEXT, GREY);
    let r = layout.input;
    canvas.blit_tile(r.x, r.y, pixels, 32, INPUT_SCALE, |v| grey(v, lo, hi));

    // The probabilities.
    let (x, y) = layout.bars_label;
    canvas.text(x, y, "fc3 → softmax: P(class)", TEXT, INK);
    let verdict = format!("predicted {predicted}, p = {}", percent(p[predicted]));
    canvas.text(x, y + LINE, &verdict, TEXT, GREY);
    for (class, slot) in layout.bars.iter().enumerate() {
        let colour = if class == predicted { HIGHLIGHT } else { BAR };
        let text_y = slot.y + (BAR_H - Canvas::line_height(TEXT)) / 2;
        canvas.text(x, text_y, &class.to_string(), TEXT, INK);
        canvas.fill_rect(*slot, TRACK);
        let len = (p[class] * slot.w as f64).round() as usize;
        canvas.fill_rect(Rect { w: len, ..*slot }, colour);
        let mut note = percent(p[class]);
        if class == usize::from(label) {
            note.push_str(" ← label");
        }
        canvas.text(slot.right() + 8, text_y, &note, TEXT, INK);
    }

    // The feature maps, one colour scale per layer.
    let trace = &explained.trace;
    let maps: [&[f32]; 6] = [
        trace.conv1.as_flat(),
        trace.layer1.as_flat(),
        trace.layer2.as_flat(),
        trace.conv2.as_flat(),
        trace.layer4.as_flat(),
        trace.layer5.as_flat(),
    ];
    for (panel, values) in layout.maps.iter().zip(maps) {
        let info = &LeNet5::LAYERS[panel.layer];
        let (c, _, w) = map_shape(panel.layer);
        let (lo, hi) = range(values);
        let (x, y) = panel.label;
        let title = format!(
            "{}: {} → {:?}",
            layer_name(panel.layer),
            info.kind,
            info.output_shape
        );
        canvas.text(x, y, &title, TEXT, INK);
        let [rh, rw] = info.receptive_field;
        let scale =
            format!("black {lo:.2}, white {hi:.2} (all {c} channels) · receptive field {rh}×{rw}");
        canvas.text(x, y + LINE, &scale, TEXT, GREY);
        for (channel, (tile, map)) in panel
            .tiles
            .iter()
            .zip(values.chunks_exact(values.len() / c))
            .enumerate()
        {
            canvas.text(
                tile.x,
                tile.y - INDEX_H + 1,
                &channel.to_string(),
                TEXT,
                GREY,
            );
            canvas.blit_tile(tile.x, tile.y, map, w, panel.scale, |v| grey(v, lo, hi));
        }
    }
    canvas
}

/// The layout of `kernels.png`.
pub struct KernelsLayout {
    pub width: usize,
    pub height: usize,
    pub conv1_label: (usize, usize),
    /// conv1's 6 kernels.
    pub conv1: Vec<Rect>,
    pub conv2_label: (usize, usize),
    /// conv2's kernels, `[out][in]`: column `out`, row `in`.
    pub conv2: Vec<Vec<Rect>>,
}

impl KernelsLayout {
    pub fn new() -> KernelsLayout {
        let top = MARGIN + Canvas::line_height(TITLE) + 20;
        let conv1_label = (MARGIN, top);
        let side1 = 5 * KERNEL1_SCALE;
        let (conv1, bottom) = grid(MARGIN, top + 2 * LINE, 6, side1, side1);

        let y = bottom + 2 * MARGIN;
        let conv2_label = (MARGIN, y);
        let side2 = 5 * KERNEL2_SCALE;
        let left = MARGIN + 3 * CHAR + 8;
        let top2 = y + 2 * LINE + INDEX_H;
        let pitch = side2 + GAP / 2;
        let conv2: Vec<Vec<Rect>> = (0..16)
            .map(|out| {
                (0..6)
                    .map(|inp| Rect {
                        x: left + out * pitch,
                        y: top2 + inp * pitch,
                        w: side2,
                        h: side2,
                    })
                    .collect()
            })
            .collect();
        let right = conv2[15][0].right();
        let bottom = conv2[0][5].bottom();
        KernelsLayout {
            width: right + MARGIN,
            height: bottom + MARGIN,
            conv1_label,
            conv1,
            conv2_label,
            conv2,
        }
    }
}

/// The largest |w| of a tensor.
fn max_abs(values: &[f32]) -> f32 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Draws `kernels.png`: conv1's and conv2's weights, blue < 0 < red.
pub fn draw_kernels(layout: &KernelsLayout, net: &LeNet5) -> Canvas {
    let mut canvas = Canvas::new(layout.width, layout.height);
    canvas.text(MARGIN, MARGIN, "LeNet-5's learned 5×5 kernels", TITLE, INK);
    let scale = |m: f32| format!("blue -{m:.2}, white 0, red +{m:.2} (max |w| of the layer)");

    let w1 = net.conv1.weight.as_flat();
    let m1 = max_abs(w1);
    let (x, y) = layout.conv1_label;
    canvas.text(
        x,
        y,
        "conv1.weight [6, 1, 5, 5]: one kernel per output channel",
        TEXT,
        INK,
    );
    canvas.text(x, y + LINE, &scale(m1), TEXT, GREY);
    for (out, (tile, kernel)) in layout.conv1.iter().zip(w1.chunks_exact(25)).enumerate() {
        canvas.text(tile.x, tile.y - INDEX_H + 1, &out.to_string(), TEXT, GREY);
        canvas.blit_tile(tile.x, tile.y, kernel, 5, KERNEL1_SCALE, |v| {
            diverging(v, m1)
        });
    }

    let w2 = net.conv2.weight.as_flat();
    let m2 = max_abs(w2);
    let (x, y) = layout.conv2_label;
    let title = "conv2.weight [16, 6, 5, 5]: column = output channel, row = input channel";
    canvas.text(x, y, title, TEXT, INK);
    canvas.text(x, y + LINE, &scale(m2), TEXT, GREY);
    for (out, column) in layout.conv2.iter().enumerate() {
        let head = column[0];
        canvas.text(head.x, head.y - INDEX_H + 1, &out.to_string(), TEXT, GREY);
        for (inp, tile) in column.iter().enumerate() {
            if out == 0 {
                let text_y = tile.y + (tile.h - Canvas::line_height(TEXT)) / 2;
                canvas.text(MARGIN, text_y, &format!("{inp}"), TEXT, GREY);
            }
            let kernel = &w2[(out * 6 + inp) * 25..][..25];
            canvas.blit_tile(tile.x, tile.y, kernel, 5, KERNEL2_SCALE, |v| {
                diverging(v, m2)
            });
        }
    }
    canvas
}

/// What [`write_figures`] wrote.
pub struct Written {
    pub explained: Explained,
    pub explain_png: PathBuf,
    pub explain_size: (usize, usize),
    pub kernels_png: PathBuf,
    pub kernels_size: (usize, usize),
}

/// Runs digit number `index` (with its `label`) through `net` and writes
/// `explain.png` and `kernels.png` into `out_dir`.
pub fn write_figures(
    net: &LeNet5,
    index: usize,
    digit: &Digit,
    label: u8,
    out_dir: &Path,
) -> Result<Written, Box<dyn Error>> {
    let input = lenet_input(digit);
    let explained = explain(net, &input);

    let layout = ExplainLayout::new();
    let canvas = draw_explain(&layout, index, label, &input, &explained);
    let explain_png = out_dir.join("explain.png");
    canvas.save_png(&explain_png)?;

    let layout = KernelsLayout::new();
    let kernels = draw_kernels(&layout, net);
    let kernels_png = out_dir.join("kernels.png");
    kernels.save_png(&kernels_png)?;

    Ok(Written {
        explained,
        explain_png,
        explain_size: (canvas.width, canvas.height),
        kernels_png,
        kernels_size: (kernels.width, kernels.height),
    })
}
