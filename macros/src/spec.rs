//! The layer vocabulary: each layer's PyTorch name, its arguments in
//! PyTorch's positional order, their types and defaults.
//!
//! Binding the written arguments to this table (positional, then keyword,
//! then defaults) is generic; what a layer *means* is in `check`.

use std::collections::BTreeMap;

use syn::{Expr, Ident};

use crate::ast::{Arg, Layer, Range};
use crate::eval::{eval, Env, Value};

/// The type an argument accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// An integer (possibly `_` where the spec allows inference).
    Int,
    /// An integer or an `(h, w)` pair.
    IntOrPair,
    /// An integer, an `(h, w)` pair or `None` (a pooling stride).
    OptIntOrPair,
    /// An integer, an `(h, w)` pair, or one of the strings (a padding).
    IntOrPairOrStr(&'static [&'static str]),
    /// An integer or `None`.
    OptInt,
    Bool,
    /// A number (integers are accepted too).
    Float,
    /// One of the strings.
    Str(&'static [&'static str]),
    /// An integer that may be negative (a dimension index) or `None`.
    OptDim,
    /// An integer or a `(left, right, top, bottom)` quad (a padding
    /// layer's `padding`).
    IntOrQuad,
    /// Any value but `_` (a block's parameter).
    Any,
}

/// An argument's default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Default<'a> {
    /// The argument must be given.
    Required,
    Int(i128),
    Bool(bool),
    Float(f64),
    Str(&'static str),
    /// PyTorch's `None`.
    None,
    /// The value of another argument (`stride` defaults to `kernel_size`).
    SameAs(&'static str),
    /// A value given in the declaration (a block parameter's default).
    Given(&'a Value),
}

/// One argument of a layer.
#[derive(Clone, Copy, Debug)]
pub struct Param<'a> {
    pub name: &'a str,
    pub ty: Ty,
    pub default: Default<'a>,
    /// Whether `_` may be written (inferred from the previous layer).
    pub inferable: bool,
}

/// One layer kind.
#[derive(Debug)]
pub struct Spec<'a> {
    pub name: &'a str,
    pub params: &'a [Param<'a>],
}

const fn req(name: &'static str, ty: Ty) -> Param<'static> {
    Param {
        name,
        ty,
        default: Default::Required,
        inferable: false,
    }
}

const fn inferable(name: &'static str) -> Param<'static> {
    Param {
        name,
        ty: Ty::Int,
        default: Default::Required,
        inferable: true,
    }
}

const fn opt(name: &'static str, ty: Ty, default: Default<'static>) -> Param<'static> {
    Param {
        name,
        ty,
        default,
        inferable: false,
    }
}

/// `inplace = false`: accepted wherever PyTorch has it, and ignored
/// (constnet always works in place).
const INPLACE: Param<'static> = opt("inplace", Ty::Bool, Default::Bool(false));

/// Strings accepted by `Conv2d(padding = …)`.
pub const CONV_PADDING: &[&str] = &["same", "valid"];
/// Strings accepted by `Conv2d(padding_mode = …)`.
pub const PADDING_MODES: &[&str] = &["zeros", "reflect", "replicate", "circular"];
/// Strings accepted by `GELU(approximate = …)`.
pub const GELU_APPROXIMATIONS: &[&str] = &["none", "tanh"];

/// Every layer `network!` understands, with PyTorch's argument order.
pub static LAYERS: &[Spec<'static>] = &[
    Spec {
        name: "Conv2d",
        params: &[
            inferable("in_channels"),
            req("out_channels", Ty::Int),
            req("kernel_size", Ty::IntOrPair),
            opt("stride", Ty::IntOrPair, Default::Int(1)),
            opt("padding", Ty::IntOrPairOrStr(CONV_PADDING), Default::Int(0)),
            opt("dilation", Ty::IntOrPair, Default::Int(1)),
            opt("groups", Ty::Int, Default::Int(1)),
            opt("bias", Ty::Bool, Default::Bool(true)),
            opt(
                "padding_mode",
                Ty::Str(PADDING_MODES),
                Default::Str("zeros"),
            ),
        ],
    },
    Spec {
        name: "MaxPool2d",
        params: &[
            req("kernel_size", Ty::IntOrPair),
            opt("stride", Ty::OptIntOrPair, Default::SameAs("kernel_size")),
            opt("padding", Ty::IntOrPair, Default::Int(0)),
            opt("dilation", Ty::IntOrPair, Default::Int(1)),
            opt("return_indices", Ty::Bool, Default::Bool(false)),
            opt("ceil_mode", Ty::Bool, Default::Bool(false)),
        ],
    },
    Spec {
        name: "AvgPool2d",
        params: &[
            req("kernel_size", Ty::IntOrPair),
            opt("stride", Ty::OptIntOrPair, Default::SameAs("kernel_size")),
            opt("padding", Ty::IntOrPair, Default::Int(0)),
            opt("ceil_mode", Ty::Bool, Default::Bool(false)),
            opt("count_include_pad", Ty::Bool, Default::Bool(true)),
            opt("divisor_override", Ty::OptInt, Default::None),
        ],
    },
    Spec {
        name: "AdaptiveAvgPool2d",
        params: &[req("output_size", Ty::IntOrPair)],
    },
    Spec {
        name: "AdaptiveMaxPool2d",
        params: &[
            req("output_size", Ty::IntOrPair),
            opt("return_indices", Ty::Bool, Default::Bool(false)),
        ],
    },
    Spec {
        name: "BatchNorm2d",
        params: &[
            inferable("num_features"),
            opt("eps", Ty::Float, Default::Float(1e-5)),
            opt("momentum", Ty::Float, Default::Float(0.1)),
            opt("affine", Ty::Bool, Default::Bool(true)),
            opt("track_running_stats", Ty::Bool, Default::Bool(true)),
        ],
    },
    Spec {
        name: "BatchNorm1d",
        params: &[
            inferable("num_features"),
            opt("eps", Ty::Float, Default::Float(1e-5)),
            opt("momentum", Ty::Float, Default::Float(0.1)),
            opt("affine", Ty::Bool, Default::Bool(true)),
            opt("track_running_stats", Ty::Bool, Default::Bool(true)),
        ],
    },
    Spec {
        name: "Linear",
        params: &[
            inferable("in_features"),
            req("out_features", Ty::Int),
            opt("bias", Ty::Bool, Default::Bool(true)),
        ],
    },
    Spec {
        name: "ZeroPad2d",
        params: &[req("padding", Ty::IntOrQuad)],
    },
    Spec {
        name: "ConstantPad2d",
        params: &[req("padding", Ty::IntOrQuad), req("value", Ty::Float)],
    },
    Spec {
        name: "ReflectionPad2d",
        params: &[req("padding", Ty::IntOrQuad)],
    },
    Spec {
        name: "ReplicationPad2d",
        params: &[req("padding", Ty::IntOrQuad)],
    },
    Spec {
        name: "CircularPad2d",
        params: &[req("padding", Ty::IntOrQuad)],
    },
    Spec {
        name: "Flatten",
        params: &[
            opt("start_dim", Ty::Int, Default::Int(1)),
            opt("end_dim", Ty::Int, Default::Int(-1)),
        ],
    },
    Spec {
        name: "Dropout",
        params: &[opt("p", Ty::Float, Default::Float(0.5)), INPLACE],
    },
    Spec {
        name: "Dropout2d",
        params: &[opt("p", Ty::Float, Default::Float(0.5)), INPLACE],
    },
    Spec {
        name: "Identity",
        params: &[],
    },
    Spec {
        name: "ReLU",
        params: &[INPLACE],
    },
    Spec {
        name: "ReLU6",
        params: &[INPLACE],
    },
    Spec {
        name: "LeakyReLU",
        params: &[
            opt("negative_slope", Ty::Float, Default::Float(0.01)),
            INPLACE,
        ],
    },
    Spec {
        name: "ELU",
        params: &[opt("alpha", Ty::Float, Default::Float(1.0)), INPLACE],
    },
    Spec {
        name: "SELU",
        params: &[INPLACE],
    },
    Spec {
        name: "GELU",
        params: &[opt(
            "approximate",
            Ty::Str(GELU_APPROXIMATIONS),
            Default::Str("none"),
        )],
    },
    Spec {
        name: "SiLU",
        params: &[INPLACE],
    },
    Spec {
        name: "Hardswish",
        params: &[INPLACE],
    },
    Spec {
        name: "Hardsigmoid",
        params: &[INPLACE],
    },
    Spec {
        name: "Sigmoid",
        params: &[],
    },
    Spec {
        name: "Tanh",
        params: &[],
    },
    Spec {
        name: "Softmax",
        params: &[opt("dim", Ty::OptDim, Default::None)],
    },
    Spec {
        name: "LogSoftmax",
        params: &[opt("dim", Ty::OptDim, Default::None)],
    },
];

/// Looks a layer kind up by its exact name.
pub fn find(name: &str) -> Option<&'static Spec<'static>> {
    LAYERS.iter().find(|s| s.name == name)
}

/// The closest known name to a misspelt one, if any is close: same letters
/// in another case (`Relu`, `Conv2D`), or at most two edits away.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        let d = if cand.to_ascii_lowercase() == lower {
            0
        } else {
            edit_distance(&lower, &cand.to_ascii_lowercase())
        };
        let limit = if name.len() <= 3 { 1 } else { 2 };
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// Levenshtein distance (small strings only).
#[allow(clippy::arithmetic_side_effects)] // indices and distances at most the string lengths
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// One bound argument: its value and where it was written (`None` for a
/// default).
#[derive(Clone)]
pub struct Bound {
    pub value: Value,
    pub expr: Option<Expr>,
}

impl Bound {
    /// What to point at: the argument if written, else `fallback`.
    pub fn range_or(&self, fallback: Range) -> Range {
        self.expr.as_ref().map_or(fallback, Range::of)
    }
}

/// The arguments of one layer, bound to the spec's parameter names.
pub struct Bindings<'a> {
    pub values: BTreeMap<&'a str, Bound>,
}

impl Bindings<'_> {
    pub fn get(&self, name: &str) -> &Bound {
        // Every spec parameter is bound (to a default at least) whenever
        // `bind` succeeds; `check` asks only for the spec's names.
        &self.values[name]
    }
}

/// The signature of a layer, for "missing argument" messages:
/// `Conv2d(in_channels, out_channels, kernel_size, stride = 1, …)`.
pub fn signature(spec: &Spec) -> String {
    let args: Vec<String> = spec
        .params
        .iter()
        .map(|p| match p.default {
            Default::Required => p.name.to_string(),
            Default::Int(v) => format!("{} = {v}", p.name),
            Default::Bool(v) => format!("{} = {v}", p.name),
            Default::Float(v) => format!("{} = {v:?}", p.name),
            Default::Str(v) => format!("{} = {v:?}", p.name),
            Default::None => format!("{} = None", p.name),
            Default::SameAs(other) => format!("{} = {other}", p.name),
            Default::Given(v) => format!("{} = {}", p.name, v.describe()),
        })
        .collect();
    format!("{}({})", spec.name, args.join(", "))
}

/// Binds the written arguments of `layer` to `spec`: positional arguments in
/// order, then keywords, then defaults. Reports every problem, not just the
/// first. The arguments are evaluated in `env` (a block's parameters, where
/// the layer is inside a block).
pub fn bind<'a>(
    spec: &Spec<'a>,
    layer: &Layer,
    env: &Env,
    errors: &mut Vec<syn::Error>,
) -> Option<Bindings<'a>> {
    let start = errors.len();
    let items: &[Arg] = layer.args.as_ref().map_or(&[], |a| &a.items);
    let mut values = bind_written(spec, items, env, errors);
    bind_defaults(spec, layer, items, &mut values, errors);
    (errors.len() == start).then_some(Bindings { values })
}

/// The written arguments, each to its parameter.
fn bind_written<'a>(
    spec: &Spec<'a>,
    items: &[Arg],
    env: &Env,
    errors: &mut Vec<syn::Error>,
) -> BTreeMap<&'a str, Bound> {
    let mut values: BTreeMap<&'a str, Bound> = BTreeMap::new();
    let mut positional = 0;
    let mut seen_keyword = false;
    for arg in items {
        let param = match arg {
            Arg::Positional(expr) if seen_keyword => {
                errors.push(syn::Error::new_spanned(
                    expr,
                    "positional argument after a keyword argument",
                ));
                continue;
            }
            Arg::Positional(expr) => {
                let Some(param) = spec.params.get(positional) else {
                    errors.push(too_many(spec, expr));
                    continue;
                };
                positional = positional.saturating_add(1);
                param
            }
            Arg::Keyword { name, .. } => {
                seen_keyword = true;
                let Some(param) = spec.params.iter().find(|p| name == p.name) else {
                    errors.push(unknown_keyword(spec, name));
                    continue;
                };
                if values.contains_key(param.name) {
                    let given = &spec.params[..positional];
                    let how = if given.iter().any(|p| p.name == param.name) {
                        "already given by position"
                    } else {
                        "given twice"
                    };
                    let msg = format!("argument `{}` is {how}", param.name);
                    errors.push(syn::Error::new_spanned(name, msg));
                    continue;
                }
                param
            }
        };
        match eval(arg.value(), env).and_then(|v| type_check(spec, param, v, arg.value())) {
            Ok(value) => {
                let expr = Some(arg.value().clone());
                values.insert(param.name, Bound { value, expr });
            }
            Err(e) => errors.push(e),
        }
    }
    values
}

fn too_many(spec: &Spec, expr: &Expr) -> syn::Error {
    let n = spec.params.len();
    syn::Error::new_spanned(
        expr,
        format!(
            "`{}` takes at most {n} positional argument{}: {}",
            spec.name,
            if n == 1 { "" } else { "s" },
            signature(spec)
        ),
    )
}

/// The parameters not written: their defaults, or an error for a required
/// one (unless its argument was written and failed to evaluate).
fn bind_defaults<'a>(
    spec: &Spec<'a>,
    layer: &Layer,
    items: &[Arg],
    values: &mut BTreeMap<&'a str, Bound>,
    errors: &mut Vec<syn::Error>,
) {
    for param in spec.params {
        if values.contains_key(param.name) {
            continue;
        }
        let value = match param.default {
            Default::Required => {
                let failed = items.iter().enumerate().any(|(i, a)| match a {
                    Arg::Positional(_) => spec.params.get(i).is_some_and(|p| p.name == param.name),
                    Arg::Keyword { name, .. } => name == param.name,
                });
                if !failed {
                    let at = layer
                        .args
                        .as_ref()
                        .map_or(layer.kind.span(), |a| a.paren_span);
                    let msg = format!(
                        "`{}` is missing its argument `{}`\nsignature: {}",
                        spec.name,
                        param.name,
                        signature(spec)
                    );
                    errors.push(syn::Error::new(at, msg));
                }
                continue;
            }
            Default::Int(v) => Value::Int(v),
            Default::Bool(v) => Value::Bool(v),
            Default::Float(v) => Value::Float(v),
            Default::Str(v) => Value::Str(v.to_string()),
            Default::None => Value::None,
            Default::SameAs(other) => match values.get(other) {
                Some(b) => b.value.clone(),
                None => continue,
            },
            Default::Given(v) => v.clone(),
        };
        values.insert(param.name, Bound { value, expr: None });
    }
}

fn unknown_keyword(spec: &Spec, name: &Ident) -> syn::Error {
    let names = spec.params.iter().map(|p| p.name);
    let hint = match suggest(&name.to_string(), names) {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    };
    let list: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
    let list = if list.is_empty() {
        "it takes no arguments".to_string()
    } else {
        format!("its arguments are: {}", list.join(", "))
    };
    syn::Error::new_spanned(
        name,
        format!("`{}` has no argument `{name}`{hint}\n{list}", spec.name),
    )
}

fn type_check(spec: &Spec, param: &Param, value: Value, expr: &Expr) -> syn::Result<Value> {
    let ok = match (&value, param.ty) {
        (Value::Infer, _) => param.inferable,
        (
            Value::Int(_),
            Ty::Int
            | Ty::IntOrPair
            | Ty::OptIntOrPair
            | Ty::IntOrPairOrStr(_)
            | Ty::OptInt
            | Ty::OptDim
            | Ty::IntOrQuad,
        )
        | (Value::Quad(_), Ty::IntOrQuad)
        | (_, Ty::Any)
        | (Value::Pair(..), Ty::IntOrPair | Ty::OptIntOrPair | Ty::IntOrPairOrStr(_))
        | (Value::None, Ty::OptIntOrPair | Ty::OptInt | Ty::OptDim)
        | (Value::Bool(_), Ty::Bool)
        | (Value::Float(_), Ty::Float) => true,
        (Value::Str(s), Ty::Str(allowed) | Ty::IntOrPairOrStr(allowed)) => {
            allowed.contains(&s.as_str())
        }
        _ => false,
    };
    if ok {
        return Ok(value);
    }
    // A number where a float is expected: `alpha = 1` means 1.0.
    if let (Value::Int(v), Ty::Float) = (&value, param.ty) {
        #[allow(clippy::cast_precision_loss)] // Small integers written in source.
        return Ok(Value::Float(*v as f64));
    }
    let quoted = |allowed: &[&str]| {
        allowed
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let expected = match (&value, param.ty) {
        (Value::Infer, _) => {
            "a value (`_` is only allowed for `in_channels`, `in_features` and `num_features`)"
                .to_string()
        }
        (_, Ty::Int) => "an integer".into(),
        (_, Ty::IntOrPair) => "an integer or an `(h, w)` pair".into(),
        (_, Ty::OptIntOrPair) => "an integer, an `(h, w)` pair or `None`".into(),
        (_, Ty::IntOrPairOrStr(allowed)) => {
            format!("an integer, an `(h, w)` pair or one of {}", quoted(allowed))
        }
        (_, Ty::OptInt) => "an integer or `None`".into(),
        (_, Ty::Bool) => "`true` or `false`".into(),
        (_, Ty::Float) => "a number".into(),
        (_, Ty::Str(allowed)) => format!("one of {}", quoted(allowed)),
        (_, Ty::OptDim) => "a dimension index or `None`".into(),
        (_, Ty::IntOrQuad) => "an integer or a `(left, right, top, bottom)` quad".into(),
        (_, Ty::Any) => "a value".into(),
    };
    Err(syn::Error::new_spanned(
        expr,
        format!(
            "`{}` argument `{}` expects {expected}, found `{}`",
            spec.name,
            param.name,
            value.describe()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let names = || LAYERS.iter().map(|s| s.name);
        assert_eq!(suggest("Relu", names()), Some("ReLU"));
        assert_eq!(suggest("Conv2D", names()), Some("Conv2d"));
        assert_eq!(suggest("Lineer", names()), Some("Linear"));
        assert_eq!(suggest("MaxPool", names()), Some("MaxPool2d"));
        assert_eq!(suggest("Transformer", names()), None);
    }

    #[test]
    fn signature_text() {
        assert_eq!(
            signature(find("Linear").unwrap()),
            "Linear(in_features, out_features, bias = true)"
        );
        assert_eq!(
            signature(find("AvgPool2d").unwrap()),
            "AvgPool2d(kernel_size, stride = kernel_size, padding = 0, ceil_mode = false, count_include_pad = true, divisor_override = None)"
        );
        assert_eq!(
            signature(find("LeakyReLU").unwrap()),
            "LeakyReLU(negative_slope = 0.01, inplace = false)"
        );
    }
}
