//! The MNIST digits shipped in `data/mnist/` (IDX format, gzipped; see
//! `data/mnist/README.md` for provenance and licence), and LeNet-5's input
//! preprocessing. Shared by the examples and the tests (`#[path]`-included;
//! each uses a part, hence the `dead_code` allowance).
#![allow(dead_code)]

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One 28×28 digit: row-major bytes, 0 = background, 255 = ink.
pub type Digit = [[u8; 28]; 28];

/// A set of digits with their labels.
pub struct Mnist {
    pub images: Vec<Digit>,
    pub labels: Vec<u8>,
}

/// Why the digits could not be read.
#[derive(Debug)]
pub enum MnistError {
    Io(PathBuf, std::io::Error),
    Format(PathBuf, String),
}

impl fmt::Display for MnistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MnistError::Io(path, e) => write!(
                f,
                "cannot read {}: {e} (the digits ship in data/mnist/; run from the repository root, or regenerate them with tools/fetch_mnist.py)",
                path.display()
            ),
            MnistError::Format(path, why) => write!(f, "{} is not a valid IDX file: {why}", path.display()),
        }
    }
}

impl std::error::Error for MnistError {}

/// Reads a gzipped IDX file and checks its magic number and dimensions.
fn read_idx(path: &Path, magic: u32, dims: &[u32]) -> Result<Vec<u8>, MnistError> {
    let file = std::fs::File::open(path).map_err(|e| MnistError::Io(path.into(), e))?;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut raw)
        .map_err(|e| MnistError::Io(path.into(), e))?;
    let bad = |why: String| MnistError::Format(path.into(), why);
    let header_len = 4 * (2 + dims.len());
    if raw.len() < header_len {
        return Err(bad(format!(
            "{} bytes is too short for a header",
            raw.len()
        )));
    }
    let word =
        |i: usize| u32::from_be_bytes([raw[4 * i], raw[4 * i + 1], raw[4 * i + 2], raw[4 * i + 3]]);
    if word(0) != magic {
        return Err(bad(format!(
            "magic {:#010x}, expected {magic:#010x}",
            word(0)
        )));
    }
    for (i, &d) in dims.iter().enumerate() {
        if word(2 + i) != d {
            return Err(bad(format!(
                "dimension {} is {}, expected {d}",
                i + 1,
                word(2 + i)
            )));
        }
    }
    let count = word(1) as usize;
    let item: usize = dims.iter().map(|&d| d as usize).product();
    let body = &raw[header_len..];
    if body.len() != count * item {
        return Err(bad(format!(
            "{} data bytes for {count} items of {item}",
            body.len()
        )));
    }
    Ok(body.to_vec())
}

impl Mnist {
    /// Loads `{prefix}-images-idx3-ubyte.gz` and `{prefix}-labels-idx1-ubyte.gz`
    /// from `dir` (`prefix` is `t10k` for the 2,000 test digits, `train` for
    /// the 8,000 training digits).
    pub fn load(dir: &Path, prefix: &str) -> Result<Mnist, MnistError> {
        let images_path = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
        let labels_path = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
        let pixels = read_idx(&images_path, 0x0803, &[28, 28])?;
        let labels = read_idx(&labels_path, 0x0801, &[])?;
        let images: Vec<Digit> = pixels
            .chunks_exact(28 * 28)
            .map(|d| {
                let mut digit = [[0u8; 28]; 28];
                for (row, src) in digit.iter_mut().zip(d.chunks_exact(28)) {
                    row.copy_from_slice(src);
                }
                digit
            })
            .collect();
        if images.len() != labels.len() {
            return Err(MnistError::Format(
                labels_path,
                format!("{} labels for {} images", labels.len(), images.len()),
            ));
        }
        Ok(Mnist { images, labels })
    }
}

/// LeNet-5's input, exactly as `tools/train_lenet.py` makes it: the digit is
/// zero-padded by 2 to 32×32 (on the bytes), then each byte `b` becomes
/// `(b / 255 − 0.1307) / 0.3081` in `f32`, with true division at each step
/// (the bits equal PyTorch's).
pub fn lenet_input(digit: &Digit) -> [[[f32; 32]; 32]; 1] {
    let normalise = |b: u8| (f32::from(b) / 255.0 - 0.1307) / 0.3081;
    let mut x = [[[normalise(0); 32]; 32]; 1];
    for (row, src) in x[0][2..30].iter_mut().zip(digit) {
        for (v, &b) in row[2..30].iter_mut().zip(src) {
            *v = normalise(b);
        }
    }
    x
}

/// The index of the largest value.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Softmax probabilities of logits, in `f64` for display.
pub fn probabilities(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let exps: Vec<f64> = logits.iter().map(|&v| f64::from(v - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// The digit drawn with Unicode half blocks: two pixel rows per text line.
pub fn draw(digit: &Digit) -> Vec<String> {
    let shade = |b: u8| b >= 96;
    digit
        .chunks_exact(2)
        .map(|pair| {
            pair[0]
                .iter()
                .zip(&pair[1])
                .map(|(&top, &bottom)| match (shade(top), shade(bottom)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                })
                .collect()
        })
        .collect()
}
