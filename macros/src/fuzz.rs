//! Structure-aware fuzzing of the whole pipeline: the macro must never panic,
//! and every declaration it accepts must expand to valid Rust.
//!
//! Random tokens rarely get past the parser, so the cases are *valid-shaped
//! declarations* built from the layer vocabulary itself (`spec::LAYERS`:
//! every layer, every argument, positional or keyword, values of the right
//! type and of the wrong one), with sizes drawn from 0 to `u64::MAX` and
//! beyond, deep nesting, attributes, names and shape assertions — then
//! mutated at the token level (a token deleted, duplicated, swapped or
//! replaced by an extreme number). That reaches the checker and the
//! expander, where the panics were.
//!
//! The default run is 100,000 cases on all cores (about half a minute in a
//! debug build on two cores); `CONSTNET_FUZZ_CASES=N` runs more, and
//! `CONSTNET_FUZZ_SEED=S` another sequence.

use std::panic::{catch_unwind, AssertUnwindSafe};

use proc_macro2::{Group, TokenStream, TokenTree};

use crate::spec::{self, Ty};

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Integers that break arithmetic: zero, powers of two up to and beyond
/// `usize`, `u64::MAX`, the `i128` extremes, negatives.
const EXTREMES: &[&str] = &[
    "0",
    "1",
    "2",
    "65536",
    "4294967296",
    "1073741824",
    "4611686018427387904",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "170141183460469231731687303715884105727",
    "-1",
    "-170141183460469231731687303715884105727",
];

/// A size: mostly small (so that many networks check), sometimes extreme,
/// sometimes an expression.
fn size(rng: &mut Rng) -> String {
    match rng.below(40) {
        0..=24 => (1 + rng.below(8)).to_string(),
        25..=32 => (1 + rng.below(40)).to_string(),
        33..=35 => rng.pick(EXTREMES).to_string(),
        36 => format!("1 << {}", rng.below(70)),
        37 => format!("{} * {}", size(rng), size(rng)),
        38 if rng.chance(50) => format!("if c == 1 {{ {} }} else {{ {} }}", size(rng), size(rng)),
        38 => format!("({} - {})", size(rng), size(rng)),
        _ => format!("{} / {}", size(rng), rng.below(3)),
    }
}

fn pair(rng: &mut Rng) -> String {
    if rng.chance(60) {
        size(rng)
    } else {
        format!("({}, {})", size(rng), size(rng))
    }
}

const FLOATS: &[&str] = &[
    "0.5", "1e-5", "0.0", "-1.0", "1.0", "2", "1e300", "1e39", "-0.0", "0.2",
];
const WRONG: &[&str] = &["\"x\"", "true", "None", "_", "(1, 2, 3)", "N", "0.5", "[1]"];

/// A value for an argument of type `ty`; one in thirty is of another type.
fn value(rng: &mut Rng, ty: Ty, inferable: bool) -> String {
    if rng.below(30) == 0 {
        return rng.pick(WRONG).to_string();
    }
    match ty {
        Ty::Int if inferable && rng.chance(80) => "_".into(),
        Ty::Int => size(rng),
        Ty::IntOrPair => pair(rng),
        Ty::OptIntOrPair | Ty::OptInt if rng.chance(20) => "None".into(),
        Ty::OptIntOrPair => pair(rng),
        Ty::OptInt => size(rng),
        Ty::IntOrPairOrStr(allowed) if rng.chance(30) => format!("{:?}", rng.pick(allowed)),
        Ty::IntOrPairOrStr(_) => pair(rng),
        Ty::Bool => rng
            .pick(&["true", "false", "false", "True", "1"])
            .to_string(),
        Ty::Float => rng.pick(FLOATS).to_string(),
        Ty::Str(allowed) if rng.chance(80) => format!("{:?}", rng.pick(allowed)),
        Ty::Str(_) => "\"bogus\"".into(),
        Ty::IntOrQuad if rng.chance(50) => format!(
            "({}, {}, {}, {})",
            rng.below(3),
            rng.below(3),
            rng.below(3),
            size(rng)
        ),
        Ty::IntOrQuad | Ty::Any => size(rng),
        Ty::OptDim if rng.chance(20) => "None".into(),
        Ty::OptDim => format!("{}", rng.below(9) as i64 - 4),
    }
}

/// `n` levels of parentheses around `inner`.
fn nest(inner: &str, n: usize) -> String {
    format!("{}{inner}{}", "(".repeat(n), ")".repeat(n))
}

/// The layers that need a `[C, H, W]` map, and those that need a vector.
const MAP_ONLY: &[&str] = &[
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "BatchNorm2d",
    "Dropout2d",
];
const FLAT_ONLY: &[&str] = &["Linear"];

/// A value for parameter `param`: geometry small and mostly valid, the
/// rest by type.
fn argument(rng: &mut Rng, param: &spec::Param) -> String {
    let small = |rng: &mut Rng, lo: usize, hi: usize| (lo + rng.below(hi - lo + 1)).to_string();
    if rng.below(30) != 0 {
        match param.name {
            "kernel_size" | "output_size" => return small(rng, 1, 3),
            "stride" | "dilation" => return small(rng, 1, 2),
            "padding" => return small(rng, 0, 1),
            "groups" => return "1".into(),
            "p" => return rng.pick(&["0.0", "0.25", "0.5", "1.0"]).to_string(),
            "dim" | "start_dim" if rng.chance(70) => return "1".into(),
            "end_dim" if rng.chance(70) => return "-1".into(),
            _ => {}
        }
    }
    value(rng, param.ty, param.inferable)
}

/// One layer with a random subset of its arguments; mostly one that fits
/// the rank of its input (`flat` tracks it), sometimes any.
fn layer(rng: &mut Rng, flat: &mut bool) -> String {
    let spec = loop {
        let spec = &spec::LAYERS[rng.below(spec::LAYERS.len())];
        let wrong = if *flat { MAP_ONLY } else { FLAT_ONLY };
        if !wrong.contains(&spec.name) || rng.chance(5) {
            break spec;
        }
    };
    match spec.name {
        "Flatten" | "Linear" => *flat = true,
        n if MAP_ONLY.contains(&n) => *flat = false,
        _ => {}
    }
    let mut args = Vec::new();
    let mut keyword = false;
    for param in spec.params {
        let required = matches!(param.default, spec::Default::Required);
        if !required && rng.chance(70) {
            continue;
        }
        let mut v = argument(rng, param);
        if rng.below(100) == 0 {
            v = nest(&v, rng.pick(&[1, 5, 31, 33, 40, 300]));
        }
        keyword |= rng.chance(25);
        if keyword {
            args.push(format!("{} = {v}", param.name));
        } else {
            args.push(v);
        }
    }
    let mut text = String::new();
    if rng.chance(30) {
        // Mostly unique names; sometimes a clash or a keyword-like one.
        if rng.chance(90) {
            text.push_str(&format!("l{}", rng.next() % 1_000_000));
        } else {
            text.push_str(rng.pick(&["fc", "input", "layer0", "self_"]));
        }
        text.push_str(": ");
    }
    text.push_str(spec.name);
    if !args.is_empty() || rng.chance(10) {
        text.push_str(&format!("({})", args.join(", ")));
    }
    if rng.chance(10) {
        let dims: Vec<String> = (0..1 + 2 * rng.below(2)).map(|_| size(rng)).collect();
        text.push_str(&format!(" -> [{}]", dims.join(", ")));
    }
    text
}

const ATTRIBUTES: &[&str] = &[
    "#[doc = \"Docs.\"]",
    "#[cfg(any())]",
    "#[cfg(all())]",
    "#[cfg_attr(all(), doc = \"x\")]",
    "#[cfg_attr(any(), cfg(any()))]",
    "#[derive(Default)]",
    "#[weights(\"../tests/ui/weights/wrong_shape.safetensors\")]",
    "#[weights(\"missing.safetensors\")]",
    "#[weights(1)]",
    "#[allow(dead_code)]",
    "#[int8]",
    "#[int8]",
    "#[int8(weights = \"missing.safetensors\")]",
];

/// A whole declaration, as source text: sometimes blocks first, then a
/// network whose entries may use them.
fn declaration(rng: &mut Rng) -> String {
    let mut text = String::new();
    let blocks = if rng.chance(30) { 1 + rng.below(2) } else { 0 };
    for b in 0..blocks {
        let mut flat = false;
        let params = ["c", "k", "s"];
        let n = 1 + rng.below(3);
        let list: Vec<String> = params[..n]
            .iter()
            .map(|p| {
                if rng.chance(30) {
                    format!("{p} = {}", 1 + rng.below(3))
                } else {
                    (*p).to_string()
                }
            })
            .collect();
        text.push_str(&format!("block B{b}({}) {{ ", list.join(", ")));
        text.push_str(&entries(rng, 1, &mut flat, b));
        text.push_str("} ");
    }
    for _ in 0..rng.pick(&[0, 0, 0, 1, 1, 2]) {
        text.push_str(rng.pick(ATTRIBUTES));
        text.push(' ');
    }
    text.push_str(rng.pick(&["pub struct N {", "struct N {", "pub(crate) struct Net {"]));
    let mut flat = false;
    let input = if rng.chance(70) {
        let (c, h, w) = if rng.chance(80) {
            let hw = (4 + rng.below(29)).to_string();
            ((1 + rng.below(6)).to_string(), hw.clone(), hw)
        } else {
            (size(rng), size(rng), size(rng))
        };
        format!("input: [{c}, {h}, {w}],")
    } else {
        flat = true;
        format!("input: [{}],", size(rng))
    };
    text.push_str(&input);
    text.push_str(&entries(rng, 0, &mut flat, blocks));
    text.push('}');
    text
}

/// Entries: mostly layers; below a few levels of nesting, also groups,
/// conditions and uses of the first `blocks` blocks (`B0`, `B1`, …).
fn entries(rng: &mut Rng, depth: usize, flat: &mut bool, blocks: usize) -> String {
    let mut text = String::new();
    for _ in 0..1 + rng.below(if depth == 0 { 8 } else { 4 }) {
        text.push(' ');
        let nested = depth < 3 && rng.chance(20);
        let entry = match (nested, rng.below(6)) {
            (true, 0) if blocks > 0 => {
                let args: Vec<String> = (0..1 + rng.below(3))
                    .map(|_| {
                        if rng.chance(80) {
                            (1 + rng.below(3)).to_string()
                        } else {
                            size(rng)
                        }
                    })
                    .collect();
                format!("B{}({})", rng.below(blocks), args.join(", "))
            }
            (true, 1) => format!("Sequential {{ {} }}", entries(rng, depth + 1, flat, blocks)),
            (true, 2) => format!(
                "Residual{} {{ {} }}",
                rng.pick(&["", "(when = c == 1)", "(when = true)"]),
                entries(rng, depth + 1, flat, blocks)
            ),
            (true, 3 | 4) => {
                let kind = rng.pick(&["Add", "Cat", "Cat(dim = 1)"]);
                let start = *flat;
                let branches: Vec<String> = (0..1 + rng.below(3))
                    .map(|_| {
                        *flat = start;
                        match rng.below(4) {
                            0 => "{}".to_string(),
                            1 => {
                                format!("if c != 1 {{ {} }}", entries(rng, depth + 1, flat, blocks))
                            }
                            _ => format!("{{ {} }}", entries(rng, depth + 1, flat, blocks)),
                        }
                    })
                    .collect();
                format!("{kind} {{ {} }}", branches.join(", "))
            }
            (true, _) => format!(
                "if {} {{ {} }} else {{ {} }}",
                rng.pick(&["true", "c == 1", "s != 2 || k > 1", "!false", "c"]),
                entries(rng, depth + 1, flat, blocks),
                entries(rng, depth + 1, flat, blocks)
            ),
            (false, _) => layer(rng, flat),
        };
        text.push_str(&entry);
        text.push(',');
    }
    text
}

/// Token-level mutations: a token deleted, duplicated, swapped with its
/// neighbour, or replaced by an extreme number or a stray token, at the top
/// level or inside a random group (so that delimiters stay balanced).
fn mutate(rng: &mut Rng, tokens: TokenStream) -> TokenStream {
    let mut tokens: Vec<TokenTree> = tokens.into_iter().collect();
    if tokens.is_empty() {
        return TokenStream::new();
    }
    let i = rng.below(tokens.len());
    if let (TokenTree::Group(g), true) = (&tokens[i], rng.chance(60)) {
        let mut inner = Group::new(g.delimiter(), mutate(rng, g.stream()));
        inner.set_span(g.span());
        tokens[i] = TokenTree::Group(inner);
        return tokens.into_iter().collect();
    }
    let stray = |rng: &mut Rng| -> TokenStream {
        let text = rng.pick(&[",", "->", "=", ":", "_", "Conv2d", "ReLU", "()", "[]", "-"]);
        let extreme = rng.pick(EXTREMES);
        let text = if rng.chance(50) { extreme } else { text };
        text.parse().unwrap_or_default()
    };
    match rng.below(4) {
        0 => {
            tokens.remove(i);
        }
        1 => tokens.insert(i, tokens[i].clone()),
        2 => {
            let j = (i + 1) % tokens.len();
            tokens.swap(i, j);
        }
        _ => {
            let new: Vec<TokenTree> = stray(rng).into_iter().collect();
            tokens.splice(i..=i, new);
        }
    }
    tokens.into_iter().collect()
}

/// What happened to one case.
#[derive(Default)]
struct Tally {
    cases: usize,
    unlexable: usize,
    rejected: usize,
    accepted: usize,
    failures: Vec<String>,
}

fn run_case(tokens: TokenStream, tally: &mut Tally) {
    tally.cases += 1;
    let source = tokens.to_string();
    match catch_unwind(AssertUnwindSafe(|| crate::network(tokens))) {
        Err(_) => tally.failures.push(format!("panicked on: {source}")),
        Ok(Err(_)) => tally.rejected += 1,
        Ok(Ok(expansion)) => {
            tally.accepted += 1;
            if let Err(e) = syn::parse2::<syn::File>(expansion) {
                tally
                    .failures
                    .push(format!("invalid expansion ({e}) of: {source}"));
            }
        }
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn structured_declarations_never_panic_and_expand_to_rust() {
    let cases = env("CONSTNET_FUZZ_CASES", 100_000);
    let seed = env("CONSTNET_FUZZ_SEED", 0x5eed_c0de);
    let threads = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut rng = Rng(seed ^ (t + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    let mut tally = Tally::default();
                    for _ in (t..cases).step_by(threads as usize) {
                        let Ok(mut tokens) = declaration(&mut rng).parse::<TokenStream>() else {
                            tally.unlexable += 1;
                            continue;
                        };
                        // Half the cases as generated, half mutated 1–3 times.
                        let mutations = if rng.chance(50) { 0 } else { 1 + rng.below(3) };
                        for _ in 0..mutations {
                            tokens = mutate(&mut rng, tokens);
                        }
                        // The wrapper's `$crate`, never user input.
                        run_case(quote::quote!([::constnet] #tokens), &mut tally);
                    }
                    tally
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let mut total = Tally::default();
    for t in tallies {
        total.cases += t.cases;
        total.unlexable += t.unlexable;
        total.rejected += t.rejected;
        total.accepted += t.accepted;
        total.failures.extend(t.failures);
    }
    eprintln!(
        "fuzz: {} cases, {} accepted and expanded, {} rejected with errors, {} not token trees",
        total.cases, total.accepted, total.rejected, total.unlexable
    );
    assert!(
        total.failures.is_empty(),
        "{} failures, the first ones:\n{}",
        total.failures.len(),
        total.failures[..total.failures.len().min(5)].join("\n")
    );
    assert_eq!(total.cases as u64, cases);
    // The generator reaches the checker and the expander, not just the
    // parser: several thousand declarations are accepted and expanded.
    assert!(total.accepted * 20 >= total.cases, "too few accepted");
    assert!(total.rejected * 10 >= total.cases, "too few rejected");
}
