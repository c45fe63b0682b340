//! The lowered DAG as the DSL's nesting: a chain of layers, where a value
//! used by several nodes starts branches that must meet again at one `Add`
//! or `Concat` (its immediate post-dominator) — `Add { … }`, `Cat { … }`,
//! or `Residual { … }` when one branch is the value itself.

use std::collections::BTreeSet;

use crate::lower::{Op, SNode};

#[derive(Debug)]
pub enum Item {
    /// The lowered node of a layer.
    Layer(usize),
    /// `x + body(x)`; the node is the merge.
    Residual(Vec<Item>, usize),
    /// The merge node (`Add` or `Cat`) and its branches; an empty branch is
    /// the identity.
    Merge(usize, Vec<Vec<Item>>),
}

struct Dag<'a> {
    nodes: &'a [SNode],
    consumers: Vec<Vec<usize>>,
    emitted: Vec<u32>,
}

/// The chain from the input (node 0) to `output`.
pub fn structure(nodes: &[SNode], output: usize) -> Result<Vec<Item>, String> {
    let mut consumers = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for &j in &n.inputs {
            if !consumers[j].contains(&i) {
                consumers[j].push(i);
            }
        }
    }
    let mut dag = Dag {
        nodes,
        consumers,
        emitted: vec![0; nodes.len()],
    };
    let items = dag.chain(0, output)?;
    if let Some(i) = dag.emitted.iter().position(|&n| n > 1) {
        return Err(format!(
            "a value computed in one branch is also used by another (node {i}): constnet's branches are independent until they meet"
        ));
    }
    Ok(items)
}

impl Dag<'_> {
    /// The nodes from which `sink` can be reached (itself included).
    fn ancestors(&self, sink: usize) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![sink];
        while let Some(v) = stack.pop() {
            if !seen[v] {
                seen[v] = true;
                stack.extend(self.nodes[v].inputs.iter().copied());
            }
        }
        seen
    }

    fn is_merge(&self, v: usize) -> bool {
        matches!(self.nodes[v].op, Op::Add | Op::Cat)
    }

    /// The nearest node after `from` that every path from `from` to `end`
    /// passes through.
    fn ipdom(&self, from: usize, end: usize, allowed: &[bool]) -> Option<usize> {
        let n = self.nodes.len();
        let mut pdom: Vec<Option<BTreeSet<usize>>> = vec![None; n];
        for v in (from..=end).rev() {
            if !allowed[v] {
                continue;
            }
            let set = if v == end {
                BTreeSet::from([end])
            } else {
                let mut acc: Option<BTreeSet<usize>> = None;
                for &c in &self.consumers[v] {
                    if c > end || !allowed[c] {
                        continue;
                    }
                    let Some(s) = &pdom[c] else { continue };
                    acc = Some(match acc {
                        None => s.clone(),
                        Some(a) => a.intersection(s).copied().collect(),
                    });
                }
                let Some(mut a) = acc else { continue };
                a.insert(v);
                a
            };
            pdom[v] = Some(set);
        }
        pdom[from].as_ref()?.iter().copied().find(|&d| d != from)
    }

    fn chain(&mut self, start: usize, end: usize) -> Result<Vec<Item>, String> {
        let allowed = self.ancestors(end);
        let mut items = Vec::new();
        let mut cur = start;
        while cur != end {
            let cons: Vec<usize> = self.consumers[cur]
                .iter()
                .copied()
                .filter(|&c| allowed[c])
                .collect();
            if cons.is_empty() {
                return Err("a branch does not reach the merge it should meet".into());
            }
            if let [next] = cons[..] {
                if !self.is_merge(next) {
                    self.emitted[next] += 1;
                    items.push(Item::Layer(next));
                    cur = next;
                    continue;
                }
            }
            let m = self
                .ipdom(cur, end, &allowed)
                .ok_or("branches that never meet again")?;
            if !self.is_merge(m) {
                return Err(format!(
                    "branches from one value meet at a layer (node {m}), not at a sum or a concatenation"
                ));
            }
            self.emitted[m] += 1;
            let inputs = self.nodes[m].inputs.clone();
            let mut branches = Vec::new();
            for x in inputs {
                branches.push(if x == cur {
                    Vec::new()
                } else {
                    self.chain(cur, x)?
                });
            }
            let residual = matches!(self.nodes[m].op, Op::Add)
                && branches.len() == 2
                && branches.iter().filter(|b| b.is_empty()).count() == 1;
            if residual {
                let body = branches
                    .into_iter()
                    .find(|b| !b.is_empty())
                    .unwrap_or_default();
                items.push(Item::Residual(body, m));
            } else {
                items.push(Item::Merge(m, branches));
            }
            cur = m;
        }
        Ok(items)
    }
}
