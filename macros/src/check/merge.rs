//! `Residual`, `Add` and `Cat`: parallel branches from one input, merged
//! into one value. `Add` needs every branch to produce the same shape;
//! `Cat` concatenates along channels (or features, for vectors), so the
//! branches must agree on everything else. A mismatch is one error spanning
//! the branches, naming each with its shape and how it was computed.

use super::walk::{Scope, Tip, Walker};
use super::Flow;
use crate::ast::{Branch, Entry, Group, Range};
use crate::graph::Row;
use crate::op::Op;
use crate::shape::Shape;

/// One branch's result: where it is written, and what it produced.
struct Out {
    range: Range,
    /// `branch 2 (the identity)` …
    name: String,
    tip: Option<Tip>,
}

impl Walker<'_> {
    /// `Residual { … }`: `entries(x) + x`; `Residual(when = cond) { … }`:
    /// the same where `cond` holds, `entries(x)` alone where it does not.
    pub(super) fn residual(
        &mut self,
        group: &Group,
        entries: &[Entry],
        scope: &mut Scope,
        tip: Option<Tip>,
    ) -> Option<Tip> {
        if !self.residual_when(group, scope)? {
            return self.entries(entries, scope, tip);
        }
        let body = self.entries(entries, scope, tip.clone());
        let range = Range::single(group.brace_span);
        let outs = vec![
            Out {
                range,
                name: "the body".into(),
                tip: body,
            },
            Out {
                range,
                name: "the shortcut (the identity)".into(),
                tip,
            },
        ];
        self.merge(group, "add", outs, scope)
    }

    /// The condition of `Residual(when = cond)` (true without one); `None`
    /// after reporting a malformed one.
    fn residual_when(&mut self, group: &Group, scope: &Scope) -> Option<bool> {
        let Some(args) = &group.args else {
            return Some(true);
        };
        let cond = match args.items.as_slice() {
            [crate::ast::Arg::Keyword { name, value }] if name == "when" => value,
            _ => {
                self.error(
                    Range::single(args.paren_span),
                    "`Residual` takes one argument, a condition: `Residual(when = stride == 1 && inp == oup) { … }`",
                );
                return None;
            }
        };
        match crate::eval::eval_bool(cond, &scope.env) {
            Ok(b) => Some(b),
            Err(e) => {
                self.report([e]);
                None
            }
        }
    }

    /// `Add { … }` and `Cat { … }`: each branch from the same input.
    pub(super) fn branches(
        &mut self,
        group: &Group,
        branches: &[Branch],
        scope: &mut Scope,
        tip: Option<Tip>,
    ) -> Option<Tip> {
        let label = if group.kind == "Add" {
            self.no_args(group);
            "add"
        } else {
            self.cat_args(group);
            "cat"
        };
        let mut outs = Vec::new();
        for (i, branch) in branches.iter().enumerate() {
            let number = i.saturating_add(1);
            let (range, entries) = match branch {
                Branch::Seq { range, entries } => (*range, entries.as_slice()),
                Branch::If(cond) if cond.otherwise.is_none() => {
                    let msg = format!(
                        "an `if` among the branches of `{}` needs an `else`: `else {{}}` is the identity (to keep the sum only under a condition, write `Residual(when = …) {{ … }}`)",
                        group.kind
                    );
                    self.error(Range::single(cond.keyword), msg);
                    return None;
                }
                Branch::If(cond) => match self.choose(cond, &scope.env) {
                    Ok(chosen) => (Range::single(cond.keyword), chosen.unwrap_or_default()),
                    Err(()) => return None,
                },
            };
            let name = if entries.is_empty() {
                format!("branch {number} (the identity)")
            } else {
                format!("branch {number}")
            };
            let tip = self.entries(entries, scope, tip.clone());
            outs.push(Out { range, name, tip });
        }
        if outs.len() < 2 {
            let msg = format!("`{}` needs at least two branches", group.kind);
            self.error(Range::single(group.kind.span()), msg);
            return None;
        }
        self.merge(group, label, outs, scope)
    }

    /// `Cat(dim = 1)`: only PyTorch's dimension 1 (or −1 for vectors, −3
    /// for maps), the channels.
    fn cat_args(&mut self, group: &Group) {
        let Some(args) = &group.args else { return };
        let ok = match args.items.as_slice() {
            [crate::ast::Arg::Keyword { name, value }] if name == "dim" => {
                matches!(
                    crate::eval::eval_int(value, &crate::eval::Env::default()),
                    Ok(1 | -1 | -3)
                )
            }
            [crate::ast::Arg::Positional(value)] => {
                matches!(
                    crate::eval::eval_int(value, &crate::eval::Env::default()),
                    Ok(1 | -1 | -3)
                )
            }
            _ => false,
        };
        if !ok {
            self.error(
                Range::single(args.paren_span),
                "`Cat` concatenates along dimension 1 (the channels of a map, the features of a vector): write `Cat { … }` or `Cat(dim = 1) { … }`",
            );
        }
    }

    /// Merges the branches' outputs into one node.
    fn merge(
        &mut self,
        group: &Group,
        label: &'static str,
        outs: Vec<Out>,
        scope: &mut Scope,
    ) -> Option<Tip> {
        let tips: Option<Vec<&Tip>> = outs.iter().map(|o| o.tip.as_ref()).collect();
        let shapes: Vec<Shape> = tips?.iter().map(|t| t.flow.shape).collect();
        let range = Range {
            start: outs.first()?.range.start,
            end: outs.last()?.range.end,
        };
        let merged = if label == "add" {
            Self::add_shape(&shapes)
        } else {
            Self::cat_shape(&shapes)
        };
        let (shape, formula) = match merged {
            Ok(ok) => ok,
            Err(why) => {
                let msg = mismatch(&group.kind.to_string(), &why, &outs);
                self.error(range, msg);
                return None;
            }
        };
        let place = self.merge_place(group, label, scope);
        let values: Option<Vec<_>> = outs.iter().map(|o| o.tip.as_ref()?.value).collect();
        let first = outs.first()?.tip.as_ref()?;
        let display = group.kind.to_string();
        let flow = Flow {
            shape,
            by: format!("the output of {}", place.describe(&display)),
            formula: formula.clone(),
            channels_by: if label == "add" {
                first.flow.channels_by.clone()
            } else {
                format!("the concatenation {}", place.describe(&display))
            },
            map: None,
        };
        let value = values.map(|inputs| {
            let row = Row {
                name: place.key.clone(),
                field: self.field(&place, group.kind.span()),
                display,
                input: first.flow.shape,
                output: shape,
                value: crate::graph::Value::Input,
                depth: scope.depth,
                params: 0,
                macs: 0,
                formula,
                receptive: (1, 1),
            };
            let op = if label == "add" { Op::Add } else { Op::Cat };
            self.node(op, inputs, row, &place.key, group.kind.span())
        });
        Some(Tip { flow, value })
    }

    /// The name of a merge: its own (`sum: Add { … }`), or `add`, `add1`, …
    /// in its module. Not an entry of the module: no index.
    fn merge_place(
        &mut self,
        group: &Group,
        label: &'static str,
        scope: &mut Scope,
    ) -> super::Place {
        let local = match &group.name {
            Some(name) => name.to_string(),
            None => {
                let n = scope.merges.entry(label).or_insert(0);
                let local = if *n == 0 {
                    label.to_string()
                } else {
                    format!("{label}{n}")
                };
                *n = n.saturating_add(1);
                local
            }
        };
        scope.place_named(&local)
    }

    fn add_shape(shapes: &[Shape]) -> Result<(Shape, String), String> {
        let first = shapes[0];
        if shapes.iter().all(|&s| s == first) {
            Ok((first, String::new()))
        } else {
            Err("the branches of `Add` must produce the same shape".into())
        }
    }

    fn cat_shape(shapes: &[Shape]) -> Result<(Shape, String), String> {
        let parts: Vec<String> = shapes.iter().map(|s| s.dims()[0].to_string()).collect();
        let total = shapes
            .iter()
            .try_fold(0usize, |acc, s| acc.checked_add(s.dims()[0]))
            .ok_or("arithmetic overflow: the concatenation's size does not fit in usize")?;
        match shapes[0] {
            Shape::Flat(_) if shapes.iter().all(|s| matches!(s, Shape::Flat(_))) => Ok((
                Shape::Flat(total),
                format!("N = {} = {total}", parts.join(" + ")),
            )),
            Shape::Map { h, w, .. }
                if shapes
                    .iter()
                    .all(|s| matches!(*s, Shape::Map { h: h2, w: w2, .. } if (h2, w2) == (h, w))) =>
            {
                Ok((
                    Shape::Map { c: total, h, w },
                    format!("C = {} = {total}", parts.join(" + ")),
                ))
            }
            Shape::Map { .. } if shapes.iter().all(|s| matches!(s, Shape::Map { .. })) => Err(
                "the branches of `Cat` must have the same height and width (it concatenates channels)".into(),
            ),
            _ => Err("the branches of `Cat` must all be maps or all be vectors".into()),
        }
    }
}

/// The error for branches that do not fit together: each branch with its
/// shape and how it was computed.
fn mismatch(kind: &str, why: &str, outs: &[Out]) -> String {
    let mut msg = format!("{why}:");
    for out in outs {
        if let Some(tip) = &out.tip {
            let flow = &tip.flow;
            msg.push_str(&format!(
                "\n{} produces {}, {}",
                out.name, flow.shape, flow.by
            ));
            if !flow.formula.is_empty() {
                msg.push_str(&format!(": {}", flow.formula));
            }
        }
    }
    if kind == "Add" || kind == "Residual" {
        msg.push_str("\nhelp: a projection shortcut (e.g. `Conv2d(in, out, 1, stride = s)`) in the other branch makes the shapes agree");
    }
    msg
}
