//! Recognising the two common naming mistakes in a mismatch: keys under a
//! prefix, and named layers against `nn.Sequential` indices.
//!
//! Both are guesses from the pattern of the problems, so each fires only
//! when its pattern is unambiguous; a wrong hint is worse than none.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use safetensors::SafeTensors;

use super::check::Declared;
use super::error::{Hint, TensorProblem};

/// The prefix under which the file holds the most declared tensors, if that
/// is most of them and more than the loader found as it was asked to read
/// the file (`found_now`).
///
/// "Most" keeps a file of another model quiet: ResNet's `layer1.0.conv1.weight`
/// holds a LeNet's `conv1.weight` under `layer1.0.`, and nothing else.
///
/// Candidates are the file's keys cut after a `.`: `module.`, `model.`,
/// `features.`, `module.model.`. Ties go to the shortest, then the first in
/// byte order, so the hint never depends on hash order.
pub(super) fn prefix(
    file: &SafeTensors<'_>,
    found_now: usize,
    declared: &[Declared<'_>],
) -> Option<Hint> {
    let names: BTreeSet<&str> = declared.iter().map(|&(name, _)| name).collect();
    let mut found: BTreeMap<&str, usize> = BTreeMap::new();
    for (key, _) in file.iter() {
        for (i, _) in key.match_indices('.') {
            if names.contains(&key[i + 1..]) {
                *found.entry(&key[..=i]).or_default() += 1;
            }
        }
    }
    let (prefix, found) = found
        .into_iter()
        .max_by(|(a, m), (b, n)| m.cmp(n).then(b.len().cmp(&a.len())).then(b.cmp(a)))?;
    (found > found_now && 2 * found > declared.len()).then(|| Hint::StripPrefix {
        prefix: prefix.to_string(),
        found,
        declared: declared.len(),
    })
}

/// Named layers in the file against indices in the declaration, or the
/// reverse: every missing key on one side, every unexpected key on the
/// other. `stripped` is the prefix the loader removed from the file's keys.
pub(super) fn naming(problems: &[TensorProblem], stripped: &str) -> Option<Hint> {
    let mut missing = Vec::new();
    let mut unexpected = Vec::new();
    for problem in problems {
        match problem {
            TensorProblem::Missing { tensor, shape } => missing.push(split(tensor, shape)?),
            TensorProblem::Unexpected { tensor, shape } => {
                let key = tensor.strip_prefix(stripped).unwrap_or(tensor);
                unexpected.push(split(key, shape)?);
            }
            _ => {}
        }
    }
    let indexed_only = |side: &[Tensor<'_>]| side.iter().all(|t| indexed(t.layer));
    let named_only = |side: &[Tensor<'_>]| side.iter().all(|t| !indexed(t.layer));
    let file_named = named_only(&unexpected) && indexed_only(&missing);
    let file_indexed = indexed_only(&unexpected) && named_only(&missing);
    if missing.is_empty() || unexpected.is_empty() || !(file_named || file_indexed) {
        return None;
    }
    // Show a pair that differs only in the layer: `0.weight` and `fc1.weight`.
    let declared_key = first_key(problems, |p| matches!(p, TensorProblem::Missing { .. }))?;
    let wanted = tensor_name(&declared_key);
    let file_key = first_key(
        problems,
        |p| matches!(p, TensorProblem::Unexpected { tensor, .. } if tensor_name(tensor) == wanted),
    )
    .or_else(|| first_key(problems, |p| matches!(p, TensorProblem::Unexpected { .. })))?;
    let renames = renames(&missing, &unexpected);
    Some(if file_named {
        Hint::NamedLayersInFile {
            file_key,
            declared_key,
            renames,
        }
    } else {
        Hint::IndexedLayersInFile {
            file_key,
            declared_key,
            renames,
        }
    })
}

/// A key cut into its layer and tensor name: `features.0` and `weight`.
#[derive(Clone, Copy)]
struct Tensor<'k> {
    layer: &'k str,
    name: &'k str,
    shape: &'k [usize],
}

/// `None` for a key without a layer part: it fits neither pattern.
fn split<'k>(key: &'k str, shape: &'k [usize]) -> Option<Tensor<'k>> {
    let (layer, name) = key.rsplit_once('.')?;
    Some(Tensor { layer, name, shape })
}

/// The tensor's own name, after the layer: `weight` of `fc1.weight`.
fn tensor_name(key: &str) -> &str {
    key.rsplit_once('.').map_or(key, |(_, name)| name)
}

/// Whether a layer path is `nn.Sequential` indices only: `3`, `0.1`.
fn indexed(layer: &str) -> bool {
    layer
        .split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

fn first_key(problems: &[TensorProblem], pick: impl Fn(&TensorProblem) -> bool) -> Option<String> {
    problems
        .iter()
        .find(|p| pick(p))
        .map(|p| p.tensor().to_string())
}

/// The tensors of one layer, sorted: what a layer must match to be renamed.
type Signature<'k> = Vec<(&'k str, &'k [usize])>;

/// Layers grouped in first-seen order, each with its signature.
fn layers<'k>(tensors: &[Tensor<'k>]) -> Vec<(&'k str, Signature<'k>)> {
    let mut groups: Vec<(&str, Signature<'k>)> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tensors {
        let i = *index.entry(t.layer).or_insert_with(|| {
            groups.push((t.layer, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push((t.name, t.shape));
    }
    for (_, signature) in &mut groups {
        signature.sort_unstable();
    }
    groups
}

/// Each missing layer paired with the one unexpected layer of the same
/// tensor names and shapes; empty unless every missing layer has exactly
/// one such partner, and no two share one.
fn renames(missing: &[Tensor<'_>], unexpected: &[Tensor<'_>]) -> Vec<(String, String)> {
    let mut by_signature: BTreeMap<Signature<'_>, Vec<&str>> = BTreeMap::new();
    for (layer, signature) in layers(unexpected) {
        by_signature.entry(signature).or_default().push(layer);
    }
    let mut pairs = Vec::new();
    for (layer, signature) in layers(missing) {
        match by_signature.get(&signature).map(Vec::as_slice) {
            Some([partner]) => pairs.push((layer.to_string(), (*partner).to_string())),
            _ => return Vec::new(),
        }
    }
    let partners: BTreeSet<&str> = pairs.iter().map(|(_, p)| p.as_str()).collect();
    if partners.len() == pairs.len() {
        pairs
    } else {
        Vec::new()
    }
}
