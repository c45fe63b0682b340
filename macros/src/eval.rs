//! Evaluation of argument expressions: integer constant arithmetic
//! (`16 * 5 * 5`), `(h, w)` pairs, booleans, floats, strings, `_` and `None`.
//!
//! A proc macro sees tokens, not values, so only literals and arithmetic on
//! them can be evaluated; a named constant cannot. All arithmetic is checked:
//! an overflow is an error, never a wrap or a panic.

use quote::ToTokens;
use syn::{BinOp, Expr, ExprLit, Lit, UnOp};

/// The value of one argument.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i128),
    Pair(i128, i128),
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
            Value::Bool(b) => b.to_string(),
            Value::Float(f) => format!("{f:?}"),
            Value::Str(s) => format!("{s:?}"),
            Value::Infer => "_".into(),
            Value::None => "None".into(),
        }
    }
}

/// Evaluates an argument expression. The error is spanned on the innermost
/// offending sub-expression.
pub fn eval(expr: &Expr) -> syn::Result<Value> {
    match expr {
        Expr::Infer(_) => Ok(Value::Infer),
        Expr::Paren(p) => eval(&p.expr),
        Expr::Group(g) => eval(&g.expr),
        Expr::Tuple(t) => {
            let items: Vec<&Expr> = t.elems.iter().collect();
            if items.len() != 2 {
                return Err(syn::Error::new_spanned(
                    expr,
                    format!(
                        "expected an `(h, w)` pair, found a tuple of {} elements",
                        items.len()
                    ),
                ));
            }
            Ok(Value::Pair(eval_int(items[0])?, eval_int(items[1])?))
        }
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Int(_) => eval_int(expr).map(Value::Int),
            Lit::Float(f) => parse_float(f.base10_digits(), expr).map(Value::Float),
            Lit::Bool(b) => Ok(Value::Bool(b.value)),
            Lit::Str(s) => Ok(Value::Str(s.value())),
            _ => Err(unsupported(expr)),
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
            eval_int(expr).map(Value::Int)
        }
        Expr::Binary(_) => eval_int(expr).map(Value::Int),
        _ => Err(unsupported(expr)),
    }
}

fn parse_float(digits: &str, expr: &Expr) -> syn::Result<f64> {
    digits
        .parse::<f64>()
        .map_err(|_| syn::Error::new_spanned(expr, "invalid float literal"))
}

fn unsupported(expr: &Expr) -> syn::Error {
    syn::Error::new_spanned(
        expr,
        format!(
            "cannot evaluate `{}` at macro expansion time: arguments must be literals, \
             integer arithmetic on literals (`+ - * / %`, parentheses), `(h, w)` pairs, \
             `_`, `true`/`false`, strings or `None`",
            expr.to_token_stream()
        ),
    )
}

/// Evaluates integer constant arithmetic with checked `i128` operations.
pub fn eval_int(expr: &Expr) -> syn::Result<i128> {
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
        Expr::Paren(p) => eval_int(&p.expr),
        Expr::Group(g) => eval_int(&g.expr),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => {
            let v = eval_int(&u.expr)?;
            v.checked_neg().ok_or_else(|| overflow(expr))
        }
        Expr::Binary(b) => {
            let l = eval_int(&b.left)?;
            let r = eval_int(&b.right)?;
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
        _ => Err(unsupported(expr)),
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
        eval(&e).map_err(|e| e.to_string())
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
        assert!(ev(parse_quote!(1 << 3)).unwrap_err().contains("only"));
        assert!(ev(parse_quote!(((1, 2), 3)))
            .unwrap_err()
            .contains("integer"));
    }
}
