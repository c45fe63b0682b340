//! Evaluation of argument expressions: integer constant arithmetic
//! (`16 * 5 * 5`), `(h, w)` pairs and `(left, right, top, bottom)` quads,
//! booleans, floats, strings, `_` and `None`; inside a block, its
//! parameters by name, and conditions (`stride != 1 || inp != out`).
//!
//! A proc macro sees tokens, not values, so only literals, block
//! parameters and arithmetic on them can be evaluated; a named constant
//! cannot. All arithmetic is checked: an overflow is an error, never a wrap
//! or a panic.

use std::collections::BTreeMap;

use quote::ToTokens;
use syn::{BinOp, Expr, ExprLit, Lit, UnOp};

/// The value of one argument.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i128),
    Pair(i128, i128),
    /// `(left, right, top, bottom)`, as PyTorch's padding layers take it.
    Quad([i128; 4]),
    Bool(bool),
    Float(f64),
    Str(String),
    /// `_`: infer from the previous layer.
    Infer,
    /// `None`, as in PyTorch's `divisor_override=None`.
    None,
}

impl Value {
    /// How the value is spelled in an error message.
    pub fn describe(&self) -> String {
        match self {
            Value::Int(v) => v.to_string(),
            Value::Pair(a, b) => format!("({a}, {b})"),
            Value::Quad([l, r, t, b]) => format!("({l}, {r}, {t}, {b})"),
            Value::Bool(b) => b.to_string(),
            Value::Float(f) => format!("{f:?}"),
            Value::Str(s) => format!("{s:?}"),
            Value::Infer => "_".into(),
            Value::None => "None".into(),
        }
    }
}

/// The names an expression may use: a block's parameters, bound to the
/// values of one use of the block. Empty outside blocks.
#[derive(Clone, Default)]
pub struct Env {
    pub values: BTreeMap<String, Value>,
}

impl Env {
    fn get(&self, expr: &Expr) -> Option<&Value> {
        match expr {
            Expr::Path(p) if p.qself.is_none() => {
                let name = p.path.get_ident()?.to_string();
                self.values.get(&name)
            }
            _ => None,
        }
    }
}

/// Evaluates an argument expression. The error is spanned on the innermost
/// offending sub-expression.
pub fn eval(expr: &Expr, env: &Env) -> syn::Result<Value> {
    if let Some(v) = env.get(expr) {
        return Ok(v.clone());
    }
    match expr {
        Expr::Infer(_) => Ok(Value::Infer),
        Expr::Paren(p) => eval(&p.expr, env),
        Expr::Group(g) => eval(&g.expr, env),
        Expr::Tuple(t) => {
            let items = t
                .elems
                .iter()
                .map(|e| eval_int(e, env))
                .collect::<syn::Result<Vec<i128>>>();
            match *items?.as_slice() {
                [h, w] => Ok(Value::Pair(h, w)),
                [l, r, t, b] => Ok(Value::Quad([l, r, t, b])),
                ref other => Err(syn::Error::new_spanned(
                    expr,
                    format!(
                        "expected an `(h, w)` pair or a `(left, right, top, bottom)` quad, found a tuple of {} elements",
                        other.len()
                    ),
                )),
            }
        }
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Int(_) => eval_int(expr, env).map(Value::Int),
            Lit::Float(f) => parse_float(f.base10_digits(), expr).map(Value::Float),
            Lit::Bool(b) => Ok(Value::Bool(b.value)),
            Lit::Str(s) => Ok(Value::Str(s.value())),
            _ => Err(unsupported(expr, env)),
        },
        Expr::Path(p) if p.qself.is_none() && p.path.is_ident("None") => Ok(Value::None),
        Expr::Path(p) if p.qself.is_none() && p.path.is_ident("True") => Ok(Value::Bool(true)),
        Expr::Path(p) if p.qself.is_none() && p.path.is_ident("False") => Ok(Value::Bool(false)),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => {
            if let Expr::Lit(ExprLit {
                lit: Lit::Float(f), ..
            }) = &*u.expr
            {
                return parse_float(f.base10_digits(), expr).map(|v| Value::Float(-v));
            }
            eval_int(expr, env).map(Value::Int)
        }
        Expr::If(_) | Expr::Block(_) => eval(chosen(expr, env)?, env),
        Expr::Unary(u) if matches!(u.op, UnOp::Not(_)) => eval_bool(expr, env).map(Value::Bool),
        Expr::Binary(b) if is_logical(b.op) => eval_bool(expr, env).map(Value::Bool),
        Expr::Binary(_) => eval_int(expr, env).map(Value::Int),
        _ => Err(unsupported(expr, env)),
    }
}

/// The expression a conditional value stands for: `if cond { a } else { b
/// }` (with `else if` chains) chooses by its condition; a block `{ a }` is
/// its one expression. Inside blocks this lets an argument depend on a
/// parameter: `padding = if stride == 1 { 1 } else { 0 }`.
fn chosen<'e>(expr: &'e Expr, env: &Env) -> syn::Result<&'e Expr> {
    let single = |block: &'e syn::Block| match block.stmts.as_slice() {
        [syn::Stmt::Expr(e, None)] => Ok(e),
        _ => Err(syn::Error::new_spanned(
            block,
            "expected one value in braces, as in `if stride == 1 { 1 } else { 0 }`",
        )),
    };
    match expr {
        Expr::Block(b) => single(&b.block),
        Expr::If(i) => {
            if eval_bool(&i.cond, env)? {
                single(&i.then_branch)
            } else {
                match &i.else_branch {
                    Some((_, e)) => Ok(e),
                    None => Err(syn::Error::new_spanned(
                        expr,
                        "a conditional value needs an `else`: `if stride == 1 { 1 } else { 0 }`",
                    )),
                }
            }
        }
        _ => Ok(expr),
    }
}

/// Whether `op` makes a boolean: a comparison or `&&`, `||`.
fn is_logical(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq(_)
            | BinOp::Ne(_)
            | BinOp::Lt(_)
            | BinOp::Le(_)
            | BinOp::Gt(_)
            | BinOp::Ge(_)
            | BinOp::And(_)
            | BinOp::Or(_)
    )
}

/// Evaluates a condition: `true`/`false`, a boolean block parameter,
/// integer comparisons, `!`, `&&` and `||`.
pub fn eval_bool(expr: &Expr, env: &Env) -> syn::Result<bool> {
    let not_bool = |v: &Value| {
        syn::Error::new_spanned(
            expr,
            format!(
                "expected a condition (`true`, `false`, a comparison such as `stride != 1`, `!`, `&&`, `||`), found {}",
                v.describe()
            ),
        )
    };
    match expr {
        Expr::Paren(p) => eval_bool(&p.expr, env),
        Expr::Group(g) => eval_bool(&g.expr, env),
        Expr::Unary(u) if matches!(u.op, UnOp::Not(_)) => Ok(!eval_bool(&u.expr, env)?),
        Expr::Binary(b) if matches!(b.op, BinOp::And(_)) => {
            Ok(eval_bool(&b.left, env)? && eval_bool(&b.right, env)?)
        }
        Expr::Binary(b) if matches!(b.op, BinOp::Or(_)) => {
            Ok(eval_bool(&b.left, env)? || eval_bool(&b.right, env)?)
        }
        Expr::Binary(b) if is_logical(b.op) => {
            let (l, r) = (eval_int(&b.left, env)?, eval_int(&b.right, env)?);
            Ok(match b.op {
                BinOp::Eq(_) => l == r,
                BinOp::Ne(_) => l != r,
                BinOp::Lt(_) => l < r,
                BinOp::Le(_) => l <= r,
                BinOp::Gt(_) => l > r,
                _ => l >= r,
            })
        }
        _ => match eval(expr, env)? {
            Value::Bool(b) => Ok(b),
            other => Err(not_bool(&other)),
        },
    }
}

fn parse_float(digits: &str, expr: &Expr) -> syn::Result<f64> {
    digits
        .parse::<f64>()
        .map_err(|_| syn::Error::new_spanned(expr, "invalid float literal"))
}

fn unsupported(expr: &Expr, env: &Env) -> syn::Error {
    let names = if env.values.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = env.values.keys().map(String::as_str).collect();
        format!("; the block's parameters are {}", names.join(", "))
    };
    syn::Error::new_spanned(
        expr,
        format!(
            "cannot evaluate `{}` at macro expansion time: arguments must be literals, \
             integer arithmetic on literals (`+ - * / %`, parentheses), `(h, w)` pairs, \
             `_`, `true`/`false`, strings or `None`, a block's parameters, or \
             `if cond {{ a }} else {{ b }}`{names}",
            expr.to_token_stream()
        ),
    )
}

/// Evaluates integer constant arithmetic with checked `i128` operations.
pub fn eval_int(expr: &Expr, env: &Env) -> syn::Result<i128> {
    if let Some(v) = env.get(expr) {
        return match v {
            Value::Int(i) => Ok(*i),
            other => Err(syn::Error::new_spanned(
                expr,
                format!(
                    "expected an integer, but `{}` is {}",
                    expr.to_token_stream(),
                    other.describe()
                ),
            )),
        };
    }
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => {
            if !i.suffix().is_empty() && !is_int_suffix(i.suffix()) {
                return Err(syn::Error::new_spanned(expr, "expected an integer literal"));
            }
            i.base10_parse::<i128>().map_err(|_| {
                syn::Error::new_spanned(expr, "arithmetic overflow: the literal is too large")
            })
        }
        Expr::Paren(p) => eval_int(&p.expr, env),
        Expr::Group(g) => eval_int(&g.expr, env),
        Expr::If(_) | Expr::Block(_) => eval_int(chosen(expr, env)?, env),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => {
            let v = eval_int(&u.expr, env)?;
            v.checked_neg().ok_or_else(|| overflow(expr))
        }
        Expr::Binary(b) => {
            let l = eval_int(&b.left, env)?;
            let r = eval_int(&b.right, env)?;
            let v = match b.op {
                BinOp::Add(_) => l.checked_add(r),
                BinOp::Sub(_) => l.checked_sub(r),
                BinOp::Mul(_) => l.checked_mul(r),
                BinOp::Div(_) | BinOp::Rem(_) if r == 0 => {
                    return Err(syn::Error::new_spanned(expr, "division by zero"));
                }
                BinOp::Div(_) => l.checked_div(r),
                BinOp::Rem(_) => l.checked_rem(r),
                _ => {
                    return Err(syn::Error::new_spanned(
                        b.op,
                        "only `+`, `-`, `*`, `/` and `%` are allowed in a size",
                    ))
                }
            };
            v.ok_or_else(|| overflow(expr))
        }
        Expr::Lit(_) | Expr::Tuple(_) | Expr::Infer(_) => {
            Err(syn::Error::new_spanned(expr, "expected an integer"))
        }
        _ => Err(unsupported(expr, env)),
    }
}

fn is_int_suffix(s: &str) -> bool {
    matches!(
        s,
        "usize"
            | "u8"
            | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "isize"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
    )
}

fn overflow(expr: &Expr) -> syn::Error {
    syn::Error::new_spanned(
        expr,
        format!("arithmetic overflow in `{}`", expr.to_token_stream()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn ev(e: Expr) -> Result<Value, String> {
        eval(&e, &Env::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn integer_arithmetic() {
        assert_eq!(ev(parse_quote!(16 * 5 * 5)), Ok(Value::Int(400)));
        assert_eq!(
            ev(parse_quote!((3 + 1) * 2 - 10 / 3 % 2)),
            Ok(Value::Int(7))
        );
        assert_eq!(ev(parse_quote!(-3)), Ok(Value::Int(-3)));
        assert_eq!(ev(parse_quote!(7usize)), Ok(Value::Int(7)));
    }

    #[test]
    fn other_kinds() {
        assert_eq!(ev(parse_quote!((3, 5))), Ok(Value::Pair(3, 5)));
        assert_eq!(ev(parse_quote!(_)), Ok(Value::Infer));
        assert_eq!(ev(parse_quote!(false)), Ok(Value::Bool(false)));
        assert_eq!(ev(parse_quote!(0.5)), Ok(Value::Float(0.5)));
        assert_eq!(ev(parse_quote!(-0.25)), Ok(Value::Float(-0.25)));
        assert_eq!(ev(parse_quote!("same")), Ok(Value::Str("same".into())));
        assert_eq!(ev(parse_quote!(None)), Ok(Value::None));
    }

    #[test]
    fn errors_are_values_not_panics() {
        let big = "170141183460469231731687303715884105727";
        let e: Expr = syn::parse_str(&format!("{big} * 2")).unwrap();
        assert!(ev(e).unwrap_err().contains("overflow"));
        let e: Expr = syn::parse_str(&format!("-{big} - 2")).unwrap();
        assert!(ev(e).unwrap_err().contains("overflow"));
        let e: Expr = syn::parse_str("99999999999999999999999999999999999999999").unwrap();
        assert!(ev(e).unwrap_err().contains("overflow"));
        assert!(ev(parse_quote!(4 / 0))
            .unwrap_err()
            .contains("division by zero"));
        assert!(ev(parse_quote!(4 % (2 - 2)))
            .unwrap_err()
            .contains("division by zero"));
        assert!(ev(parse_quote!(N * 2))
            .unwrap_err()
            .contains("cannot evaluate"));
        assert!(ev(parse_quote!((1, 2, 3))).unwrap_err().contains("pair"));
        assert_eq!(
            ev(parse_quote!((0, 1, 0, 1))),
            Ok(Value::Quad([0, 1, 0, 1]))
        );
        assert!(ev(parse_quote!(1 << 3)).unwrap_err().contains("only"));
        assert!(ev(parse_quote!(((1, 2), 3)))
            .unwrap_err()
            .contains("integer"));
    }

    #[test]
    fn block_parameters_and_conditions() {
        let mut env = Env::default();
        env.values.insert("inp".into(), Value::Int(16));
        env.values.insert("stride".into(), Value::Int(2));
        env.values.insert("flag".into(), Value::Bool(true));
        let ev = |e: Expr| eval(&e, &env).map_err(|e| e.to_string());
        assert_eq!(ev(parse_quote!(inp * 6)), Ok(Value::Int(96)));
        assert_eq!(ev(parse_quote!((stride, stride))), Ok(Value::Pair(2, 2)));
        assert_eq!(
            ev(parse_quote!(stride != 1 || inp != 16)),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            ev(parse_quote!(stride == 1 && inp == 16)),
            Ok(Value::Bool(false))
        );
        assert_eq!(ev(parse_quote!(!flag)), Ok(Value::Bool(false)));
        assert_eq!(ev(parse_quote!(flag)), Ok(Value::Bool(true)));
        assert!(ev(parse_quote!(flag * 2))
            .unwrap_err()
            .contains("expected an integer"));
        let e = ev(parse_quote!(planes * 2)).unwrap_err();
        assert!(
            e.contains("the block's parameters are flag, inp, stride"),
            "{e}"
        );
        let e = eval_bool(&parse_quote!(inp), &env).unwrap_err().to_string();
        assert!(e.contains("expected a condition"), "{e}");
    }
}
