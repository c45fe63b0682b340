//! `peers`: the benchmark zoo in constnet and in other inference engines,
//! on one thread, at batch 1 and 64 (see `../README.md`).
//!
//! Networks (`nets.rs`): the shipped LeNet-5 on the 2,000 held-out MNIST
//! digits, the zoo of `data/zoo/` (LeNet-5 with Tanh and average pooling,
//! MLPerf Tiny's ResNet-8, DS-CNN, MobileNetV1 ×0.25 and autoencoder) and
//! the networks of `tests/golden/` that have an ONNX export, each with its
//! constnet declaration shared with the root crate.
//!
//! Engines: constnet (`forward_with` on one workspace at batch 1,
//! `constnet::batch::forward_batch` at 64), ONNX Runtime through the `ort`
//! crate (the library `ORT_DYLIB_PATH` names, loaded at run time),
//! tract-onnx (a plan per batch size with the batch pinned), candle
//! (LeNet-5 only); ONNX Runtime from Python (`ort.py`) joins the tables
//! through `--python-results`.
//!
//! First it checks every engine on every network: every golden input at
//! batch 1 and in batches of 64, each output within 1e-4 (or 1e-3 relative
//! above 1) of PyTorch's; any failure stops the run. Then, network by
//! network, it times the engines in interleaved rounds (µs per image: the
//! 10th percentile of calls, at batch 64 divided by 64) and counts heap
//! allocations per call. It measures the single-core FMA peak before and
//! after, and prints one Markdown table per batch size: µs/image per engine,
//! constnet's GFLOP/s and its fraction of the peak, and ORT ÷ constnet
//! (the faster ORT), with their geometric mean.
//!
//! ```text
//! peers [--quick] [--python-results FILE] [NETWORK...]
//! ```
//!
//! `NETWORK`s select the networks whose names contain one of them. Build and
//! run it with `../run.sh`, which adds ONNX Runtime from Python.

mod alloc;
mod candle;
mod engine;
mod int8;
mod measure;
mod nets;
mod onnxruntime;
mod peak;
mod report;
mod tract;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use engine::{Engine, Kind, Res, BIG};
use measure::{Budget, Samples};
use nets::{Case, Entry};
use report::{Cell, Python, Row};

/// The version of `package` in this crate's Cargo.lock (for the logs).
pub fn locked_version(package: &str) -> String {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .unwrap_or_default();
    let needle = format!("name = \"{package}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|i| lock[i + needle.len()..].split('"').next())
        .unwrap_or("?")
        .to_string()
}

const USAGE: &str = "usage: peers [--quick] [--python-results FILE] [NETWORK...]";

struct Args {
    quick: bool,
    python_results: Option<PathBuf>,
    filters: Vec<String>,
}

impl Args {
    fn parse() -> Res<Self> {
        let mut args = Args {
            quick: false,
            python_results: None,
            filters: Vec::new(),
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => args.quick = true,
                "--python-results" => {
                    args.python_results = Some(it.next().ok_or(USAGE)?.into());
                }
                "-h" | "--help" => return Err(USAGE.into()),
                a if a.starts_with('-') => {
                    return Err(format!("unknown option {a:?}\n{USAGE}").into())
                }
                a => args.filters.push(a.to_string()),
            }
        }
        Ok(args)
    }

    fn selects(&self, network: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| network.contains(f.as_str()))
    }

    fn budget(&self) -> (usize, Budget) {
        if self.quick {
            let budget = Budget {
                per_round: Duration::from_millis(10),
                min_calls_one: 5,
                min_calls_big: 1,
            };
            (2, budget)
        } else {
            let budget = Budget {
                per_round: Duration::from_millis(50),
                min_calls_one: 20,
                min_calls_big: 3,
            };
            (10, budget)
        }
    }
}

/// One network's engines, built and checked.
struct Bench {
    case: Case,
    engines: Vec<Box<dyn Engine>>,
    /// The ONNX engines that cannot load this network, and why.
    unsupported: Vec<(Kind, String)>,
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text += &format!(": {s}");
        source = s.source();
    }
    text
}

/// Builds every engine for `entry` and checks each against PyTorch. An ONNX
/// engine that cannot load the network is left out of it (and noted); an
/// engine whose outputs are wrong stops the run.
fn prepare(entry: &Entry, root: &Path, ort: Option<&onnxruntime::Runtime>) -> Res<Bench> {
    let (case, constnet) = entry.load(root)?;
    let mut engines = vec![constnet];
    let mut unsupported = Vec::new();
    let mut onnx_engine = |kind: Kind, built: Res<Box<dyn Engine>>| match built {
        Ok(engine) => engines.push(engine),
        Err(e) => {
            eprintln!(
                "{:<18} {} cannot load it: {}",
                case.name,
                kind.label(),
                chain(&*e)
            );
            unsupported.push((kind, chain(&*e)));
        }
    };
    if let Some(runtime) = ort {
        let built = onnxruntime::Ort::new(runtime, &case).map(|e| Box::new(e) as Box<dyn Engine>);
        onnx_engine(Kind::OrtRust, built);
    }
    let built = tract::Tract::new(&case).map(|e| Box::new(e) as Box<dyn Engine>);
    onnx_engine(Kind::Tract, built);
    if entry.candle {
        engines.push(Box::new(candle::Candle::lenet5(&case)?));
    }
    for engine in &mut engines {
        let diff = measure::check(&mut **engine, &case)
            .map_err(|e| format!("{}: {} failed the check: {e}", case.name, engine.name()))?;
        eprintln!(
            "{:<18} {:<36} max |output − PyTorch| {diff:.1e} ({} images at batch 1 and {BIG})",
            case.name,
            engine.name(),
            case.images()
        );
    }
    Ok(Bench {
        case,
        engines,
        unsupported,
    })
}

/// Times every engine of `bench` in `rounds` interleaved rounds.
fn time(bench: &mut Bench, rounds: usize, budget: &Budget) -> Res<Row> {
    let mut samples: Vec<Samples> = bench.engines.iter().map(|_| Samples::default()).collect();
    let start = Instant::now();
    for _ in 0..rounds {
        for (engine, s) in bench.engines.iter_mut().zip(&mut samples) {
            measure::round(&mut **engine, &bench.case, budget, s)?;
        }
    }
    let mut row = Row::new(bench.case.name, bench.case.macs);
    row.unsupported.clone_from(&bench.unsupported);
    for (engine, s) in bench.engines.iter().zip(&mut samples) {
        s.one.sort_by(f64::total_cmp);
        s.big.sort_by(f64::total_cmp);
        let us = |v: &[f64], p: usize, per: usize| measure::percentile(v, p) / 1e3 / per as f64;
        eprintln!(
            "{:<18} {:<36} µs/image min/p10/p50/p90: batch 1 {:.2}/{:.2}/{:.2}/{:.2} ({} calls), batch {BIG} {:.2}/{:.2}/{:.2}/{:.2} ({} calls)",
            bench.case.name,
            engine.name(),
            us(&s.one, 0, 1),
            us(&s.one, 10, 1),
            us(&s.one, 50, 1),
            us(&s.one, 90, 1),
            s.one.len(),
            us(&s.big, 0, BIG),
            us(&s.big, 10, BIG),
            us(&s.big, 50, BIG),
            us(&s.big, 90, BIG),
            s.big.len(),
        );
        row.cells[engine.kind() as usize] = Some(Cell {
            one: us(&s.one, measure::SHOWN, 1),
            big: us(&s.big, measure::SHOWN, BIG),
            allocations: Some((
                report::range(&s.allocations_one),
                report::range(&s.allocations_big),
            )),
        });
    }
    eprintln!(
        "{:<18} timed in {rounds} interleaved rounds, {:.1} s",
        bench.case.name,
        start.elapsed().as_secs_f64()
    );
    Ok(row)
}

/// Measures the FMA peak and logs it.
fn peak(when: &str) -> Option<peak::Peak> {
    let peak = peak::measure();
    match &peak {
        Some(p) => eprintln!(
            "FMA peak {when}: {:.1} GFLOP/s ({}, one thread)",
            p.gflops, p.what
        ),
        None => eprintln!("FMA peak {when}: not measured on this CPU"),
    }
    peak
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(&*e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Res<()> {
    // candle sizes its thread pool from RAYON_NUM_THREADS, else from the
    // number of physical cores, ignoring the CPU affinity `taskset` sets; pin
    // it to one thread (like every other engine here) unless the caller chose.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let args = Args::parse()?;
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()?;
    let entries: Vec<Entry> = nets::all()
        .into_iter()
        .filter(|e| args.selects(e.name))
        .collect();
    if entries.is_empty() {
        let names: Vec<_> = nets::all().iter().map(|e| e.name).collect();
        return Err(format!(
            "no network matches {:?}; the networks: {}",
            args.filters,
            names.join(", ")
        )
        .into());
    }
    let python = args
        .python_results
        .as_deref()
        .map(Python::read)
        .transpose()?;
    let ort = match std::env::var_os("ORT_DYLIB_PATH") {
        Some(library) => Some(onnxruntime::Runtime::load(Path::new(&library))?),
        None => {
            eprintln!("warning: ORT_DYLIB_PATH is not set: no ONNX Runtime (Rust) column");
            None
        }
    };
    let before = peak("before");

    let mut benches = Vec::new();
    for entry in &entries {
        benches.push(prepare(entry, &root, ort.as_ref())?);
    }

    let (rounds, budget) = args.budget();
    let mut rows = Vec::new();
    for bench in &mut benches {
        let mut row = time(bench, rounds, &budget)?;
        row.cells[Kind::OrtPython as usize] = python.as_ref().and_then(|p| p.cell(row.name));
        rows.push(row);
    }
    let after = peak("after");

    let best = [before, after]
        .into_iter()
        .flatten()
        .max_by(|a, b| a.gflops.total_cmp(&b.gflops));
    if let Some(p) = &best {
        println!(
            "Single-core FMA peak, measured in this run: **{:.1} GFLOP/s** ({}, the better of before and after the networks).\n",
            p.gflops, p.what
        );
    }
    let mut versions: Vec<(Kind, String)> = Vec::new();
    for engine in benches.iter().flat_map(|b| &b.engines) {
        if !versions.iter().any(|(k, _)| *k == engine.kind()) {
            versions.push((engine.kind(), engine.name()));
        }
    }
    if let Some(p) = &python {
        versions.push((
            Kind::OrtPython,
            format!("onnxruntime {} (Python)", p.version),
        ));
    }
    versions.sort_by_key(|(k, _)| *k as usize);
    let versions: Vec<String> = versions.into_iter().map(|(_, name)| name).collect();
    println!("Engines: {}.\n", versions.join(", "));
    let peak = best.map(|p| p.gflops);
    report::print_times(&rows, 1, false, peak);
    report::print_times(&rows, BIG, true, peak);
    report::print_allocations(&rows, BIG);
    report::print_unsupported(&rows);
    if let Some(lenet) = benches.iter().find(|b| b.case.name == "lenet5") {
        int8::run(&root, &lenet.case, ort.as_ref(), rounds, &budget)?;
    }
    Ok(())
}
