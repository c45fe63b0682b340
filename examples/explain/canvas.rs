//! An RGB canvas with the three drawing operations the figures need
//! (rectangles, upscaled tiles of values, text), saved as a PNG.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::font::{glyph, GLYPH_H, GLYPH_W};

/// An 8-bit RGB colour.
pub type Rgb = [u8; 3];

pub const INK: Rgb = [20, 20, 20];
pub const GREY: Rgb = [110, 110, 110];

/// A rectangle in canvas pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

impl Rect {
    pub fn right(&self) -> usize {
        self.x + self.w
    }
    pub fn bottom(&self) -> usize {
        self.y + self.h
    }
}

/// Row-major RGB8 pixels.
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(width: usize, height: usize) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![255; width * height * 3],
        }
    }

    /// Sets one pixel; pixels outside the canvas are ignored.
    pub fn put(&mut self, x: usize, y: usize, c: Rgb) {
        if x < self.width && y < self.height {
            let i = 3 * (y * self.width + x);
            self.pixels[i..i + 3].copy_from_slice(&c);
        }
    }

    pub fn fill_rect(&mut self, r: Rect, c: Rgb) {
        for y in r.y..r.bottom() {
            for x in r.x..r.right() {
                self.put(x, y, c);
            }
        }
    }

    /// Draws a `rows × cols` map of values (row-major) at `(x, y)`, each value
    /// a `scale × scale` square (nearest neighbour) coloured by `colour`,
    /// inside a one-pixel grey frame. Returns the map's rectangle (without
    /// the frame).
    pub fn blit_tile(
        &mut self,
        x: usize,
        y: usize,
        values: &[f32],
        cols: usize,
        scale: usize,
        colour: impl Fn(f32) -> Rgb,
    ) -> Rect {
        let rows = values.len() / cols;
        let r = Rect {
            x,
            y,
            w: cols * scale,
            h: rows * scale,
        };
        let frame = Rect {
            x: x - 1,
            y: y - 1,
            w: r.w + 2,
            h: r.h + 2,
        };
        self.fill_rect(frame, [170, 170, 170]);
        for (i, &v) in values.iter().enumerate() {
            let cell = Rect {
                x: x + (i % cols) * scale,
                y: y + (i / cols) * scale,
                w: scale,
                h: scale,
            };
            self.fill_rect(cell, colour(v));
        }
        r
    }

    /// The height in pixels of a line of text at `scale`.
    pub fn line_height(scale: usize) -> usize {
        GLYPH_H * scale
    }

    /// Draws `s` with its top-left corner at `(x, y)`, each font pixel a
    /// `scale × scale` square. Returns the x just past the text.
    pub fn text(&mut self, x: usize, y: usize, s: &str, scale: usize, c: Rgb) -> usize {
        let mut cx = x;
        for ch in s.chars() {
            for (col, bits) in glyph(ch).iter().enumerate() {
                for row in 0..GLYPH_H {
                    if bits >> row & 1 == 1 {
                        let px = Rect {
                            x: cx + col * scale,
                            y: y + row * scale,
                            w: scale,
                            h: scale,
                        };
                        self.fill_rect(px, c);
                    }
                }
            }
            cx += (GLYPH_W + 1) * scale;
        }
        cx
    }

    /// Writes the canvas as an 8-bit RGB PNG.
    pub fn save_png(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let file =
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let mut encoder =
            png::Encoder::new(BufWriter::new(file), self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer.finish()?;
        Ok(())
    }
}

/// Grey level of `v` on the scale `lo` (black) .. `hi` (white).
pub fn grey(v: f32, lo: f32, hi: f32) -> Rgb {
    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
    let g = (255.0 * t.clamp(0.0, 1.0)).round() as u8;
    [g, g, g]
}

/// Diverging colour of `v` on the symmetric scale `−m` (blue) .. 0 (white)
/// .. `m` (red).
pub fn diverging(v: f32, m: f32) -> Rgb {
    let t = if m > 0.0 {
        (v / m).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let end: Rgb = if t >= 0.0 {
        [200, 30, 35]
    } else {
        [25, 75, 190]
    };
    let a = t.abs();
    let mix = |w: u8, e: u8| (f32::from(w) * (1.0 - a) + f32::from(e) * a).round() as u8;
    [mix(255, end[0]), mix(255, end[1]), mix(255, end[2])]
}
