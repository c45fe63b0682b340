//! The declaration's text and its tensors under the declaration's keys.

use std::collections::HashSet;

use crate::lower::{Lowered, Op};
use crate::structure::Item;

/// A tensor the declaration reads: its key, shape and values.
pub type Tensor = (String, Vec<usize>, Vec<f32>);

const RESERVED: &[&str] = &[
    "input", "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen", "block", "union",
];

/// A field name from an ONNX tensor name: `layer1.0.conv1.weight` →
/// `layer1_0_conv1`.
pub fn field_name(onnx: &str) -> String {
    let mut base = onnx;
    for suffix in [".weight", "_weight", "/weight", ".scale"] {
        if let Some(s) = base.strip_suffix(suffix) {
            base = s;
            break;
        }
    }
    let mut out = String::new();
    for ch in base.chars() {
        let c = ch.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut out = out.trim_matches('_').to_string();
    if out.len() > 48 {
        out = out[out.len() - 48..].trim_start_matches('_').to_string();
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("layer_{out}");
    }
    if RESERVED.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

pub struct Emitted {
    pub body: String,
    pub tensors: Vec<Tensor>,
}

struct Emitter<'a> {
    low: &'a Lowered,
    names: HashSet<String>,
    tensors: Vec<Tensor>,
}

/// The struct's body lines (indented for the struct) and the tensors.
pub fn emit(low: &Lowered, items: &[Item]) -> Emitted {
    let mut e = Emitter {
        low,
        names: HashSet::new(),
        tensors: Vec::new(),
    };
    let mut out = String::new();
    let shape = low.input_shape.clone();
    e.list(items, 2, &shape, &mut out);
    Emitted {
        body: out,
        tensors: e.tensors,
    }
}

fn shape_text(s: &[usize]) -> String {
    let parts: Vec<String> = s.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

impl Emitter<'_> {
    fn unique(&mut self, base: String) -> String {
        let mut name = base.clone();
        let mut k = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// One layer's text (without comma) and its tensors.
    fn layer(&mut self, node: usize) -> String {
        let Op::Layer(layer) = &self.low.nodes[node].op else {
            return String::new();
        };
        let call = if layer.args.is_empty() {
            layer.kind.to_string()
        } else {
            format!("{}({})", layer.kind, layer.args.join(", "))
        };
        if layer.params.is_empty() {
            return call;
        }
        let hint = layer.hint.as_deref().unwrap_or(layer.kind);
        let name = self.unique(field_name(hint));
        for (suffix, shape, values) in &layer.params {
            self.tensors
                .push((format!("{name}.{suffix}"), shape.clone(), values.clone()));
        }
        format!("{name}: {call}")
    }

    /// The items of one list at `depth` (4 spaces each), from a value of
    /// shape `shape`; appends the text, returns the list's output shape.
    fn list(
        &mut self,
        items: &[Item],
        depth: usize,
        shape: &[usize],
        out: &mut String,
    ) -> Vec<usize> {
        let pad = "    ".repeat(depth);
        let mut shape = shape.to_vec();
        // (text lines, comment): one-line layers' comments are aligned.
        let mut lines: Vec<(String, Option<String>, bool)> = Vec::new();
        for item in items {
            match item {
                Item::Layer(n) => {
                    let text = format!("{pad}{},", self.layer(*n));
                    let s = &self.low.nodes[*n].shape;
                    let comment = (*s != shape).then(|| format!("// -> {}", shape_text(s)));
                    shape.clone_from(s);
                    lines.push((text, comment, true));
                }
                Item::Residual(body, m) => {
                    let mut text = format!("{pad}Residual {{\n");
                    self.list(body, depth + 1, &shape, &mut text);
                    text.push_str(&format!("{pad}}},"));
                    let s = &self.low.nodes[*m].shape;
                    let comment = (*s != shape).then(|| format!("// -> {}", shape_text(s)));
                    shape.clone_from(s);
                    lines.push((text, comment, false));
                }
                Item::Merge(m, branches) => {
                    let kind = if matches!(self.low.nodes[*m].op, Op::Add) {
                        "Add"
                    } else {
                        "Cat"
                    };
                    let inner = "    ".repeat(depth + 1);
                    let mut text = format!("{pad}{kind} {{\n");
                    for b in branches {
                        if b.is_empty() {
                            text.push_str(&format!("{inner}{{}},\n"));
                        } else {
                            text.push_str(&format!("{inner}{{\n"));
                            self.list(b, depth + 2, &shape, &mut text);
                            text.push_str(&format!("{inner}}},\n"));
                        }
                    }
                    text.push_str(&format!("{pad}}},"));
                    let s = &self.low.nodes[*m].shape;
                    let comment = (*s != shape).then(|| format!("// -> {}", shape_text(s)));
                    shape.clone_from(s);
                    lines.push((text, comment, false));
                }
            }
        }
        let width = lines
            .iter()
            .filter(|(_, c, one)| *one && c.is_some())
            .map(|(t, _, _)| t.len())
            .max()
            .unwrap_or(0);
        for (text, comment, one) in lines {
            out.push_str(&text);
            if let Some(c) = comment {
                let w = if one {
                    width
                } else {
                    text.len() - text.rfind('\n').map_or(0, |i| i + 1)
                };
                let last_len = text.len() - text.rfind('\n').map_or(0, |i| i + 1);
                out.push_str(&" ".repeat(w.saturating_sub(last_len) + 2));
                out.push_str(&c);
            }
            out.push('\n');
        }
        shape
    }
}
