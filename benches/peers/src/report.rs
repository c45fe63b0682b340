//! The Markdown tables, and ONNX Runtime's results from Python (`ort.py`).

use std::collections::HashMap;
use std::path::Path;

use crate::engine::{Kind, Res};

/// One engine's times on one network, µs per image (the percentile
/// `measure::SHOWN` of its calls).
#[derive(Clone)]
pub struct Cell {
    pub one: f64,
    pub big: f64,
    /// Heap allocations per call, as a range ("51", "176–177"), at batch 1
    /// and at the large batch; `None` where not counted (Python).
    pub allocations: Option<(String, String)>,
}

/// One network's line of the tables.
pub struct Row {
    pub name: &'static str,
    pub macs: usize,
    /// Indexed by `Kind as usize`.
    pub cells: [Option<Cell>; Kind::ALL.len()],
    /// The engines that cannot load this network, and why.
    pub unsupported: Vec<(Kind, String)>,
}

impl Row {
    pub fn new(name: &'static str, macs: usize) -> Self {
        Row {
            name,
            macs,
            cells: Default::default(),
            unsupported: Vec::new(),
        }
    }

    fn cell(&self, kind: Kind) -> Option<&Cell> {
        self.cells[kind as usize].as_ref()
    }

    /// Whether `kind` could not load this network.
    fn unsupported_by(&self, kind: Kind) -> bool {
        self.unsupported.iter().any(|(k, _)| *k == kind)
    }

    /// What a table shows where `kind` has no cell.
    fn missing(&self, kind: Kind) -> &'static str {
        if self.unsupported_by(kind) {
            "n/s"
        } else {
            "—"
        }
    }

    /// The faster ONNX Runtime over constnet (µs/image), at batch 1 or not.
    fn ratio(&self, big: bool) -> Option<f64> {
        let time = |c: &Cell| if big { c.big } else { c.one };
        let ort = [Kind::OrtRust, Kind::OrtPython]
            .iter()
            .filter_map(|&k| self.cell(k).map(time))
            .reduce(f64::min)?;
        Some(ort / time(self.cell(Kind::Constnet)?))
    }
}

/// A range of counts: "51", or "176–177" if calls differ.
pub fn range(v: &[usize]) -> String {
    match (v.iter().min(), v.iter().max()) {
        (Some(lo), Some(hi)) if lo != hi => format!("{lo}–{hi}"),
        (Some(lo), _) => lo.to_string(),
        _ => "?".into(),
    }
}

/// 416520 as "416,520".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The engines that have a cell in some row.
fn present(rows: &[Row]) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|&k| {
            rows.iter()
                .any(|r| r.cell(k).is_some() || r.unsupported_by(k))
        })
        .collect()
}

/// The table of one batch size (`big`: the large one), and the geometric
/// mean of ORT ÷ constnet under it.
pub fn print_times(rows: &[Row], batch: usize, big: bool, peak: Option<f64>) {
    let kinds = present(rows);
    let mut header = String::from("| network | MACs |");
    for k in &kinds {
        header += &format!(" {} |", k.label());
    }
    header += " constnet GFLOP/s | % of peak | ORT ÷ constnet |";
    println!(
        "µs per image at batch {batch} ({}th percentile of calls):\n",
        crate::measure::SHOWN
    );
    println!("{header}");
    println!("|---|---:|{}---:|---:|---:|", "---:|".repeat(kinds.len()));
    for row in rows {
        let mut line = format!("| {} | {} |", row.name, thousands(row.macs));
        for &k in &kinds {
            line += &match row.cell(k) {
                Some(c) => format!(" {:.2} |", if big { c.big } else { c.one }),
                None => format!(" {} |", row.missing(k)),
            };
        }
        let gflops = row
            .cell(Kind::Constnet)
            .map(|c| 2.0 * row.macs as f64 / (if big { c.big } else { c.one }) / 1e3);
        line += &match gflops {
            Some(g) => format!(" {g:.1} |"),
            None => " — |".into(),
        };
        line += &match gflops.zip(peak) {
            Some((g, p)) => format!(" {:.0}% |", 100.0 * g / p),
            None => " — |".into(),
        };
        line += &match row.ratio(big) {
            Some(r) => format!(" {r:.2} |"),
            None => " — |".into(),
        };
        println!("{line}");
    }
    println!();
    let ratios: Vec<f64> = rows.iter().filter_map(|r| r.ratio(big)).collect();
    if !ratios.is_empty() {
        let geomean = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        println!(
            "Geometric mean of ORT ÷ constnet at batch {batch} over {} networks: **{geomean:.2}**\n",
            ratios.len()
        );
    }
}

/// Allocations per call of the Rust engines.
pub fn print_allocations(rows: &[Row], batch: usize) {
    let kinds: Vec<Kind> = present(rows)
        .into_iter()
        .filter(|&k| {
            rows.iter()
                .any(|r| r.cell(k).is_some_and(|c| c.allocations.is_some()))
        })
        .collect();
    println!("Heap allocations per call, batch 1 / batch {batch}:\n");
    let labels: Vec<&str> = kinds.iter().map(|k| k.label()).collect();
    println!("| network | {} |", labels.join(" | "));
    println!("|---|{}", "---:|".repeat(kinds.len()));
    for row in rows {
        let cells: Vec<String> = kinds
            .iter()
            .map(
                |&k| match row.cell(k).and_then(|c| c.allocations.as_ref()) {
                    Some((one, big)) => format!("{one} / {big}"),
                    None => row.missing(k).into(),
                },
            )
            .collect();
        println!("| {} | {} |", row.name, cells.join(" | "));
    }
    println!();
}

/// The footnote for "n/s": which engine cannot load which network, and why.
pub fn print_unsupported(rows: &[Row]) {
    let notes: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.unsupported
                .iter()
                .map(move |(k, why)| format!("{} cannot load {}: {why}.", k.label(), r.name))
        })
        .collect();
    if !notes.is_empty() {
        println!("n/s, not supported: {}\n", notes.join(" "));
    }
}

/// `ort.py --results FILE`'s file: a `# onnxruntime <version>` line, then
/// `<network>\t<µs/image batch 1>\t<µs/image batch 64>` lines (10th
/// percentiles).
pub struct Python {
    pub version: String,
    pub times: HashMap<String, (f64, f64)>,
}

impl Python {
    pub fn read(path: &Path) -> Res<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut version = String::from("?");
        let mut times = HashMap::new();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("# onnxruntime ") {
                version = v.trim().to_string();
            } else if let [name, one, big] = line.split('\t').collect::<Vec<_>>()[..] {
                times.insert(name.to_string(), (one.parse()?, big.parse()?));
            } else if !line.trim().is_empty() {
                return Err(format!("{}: unexpected line {line:?}", path.display()).into());
            }
        }
        Ok(Python { version, times })
    }

    pub fn cell(&self, network: &str) -> Option<Cell> {
        self.times.get(network).map(|&(one, big)| Cell {
            one,
            big,
            allocations: None,
        })
    }
}
