//! Running a network over many samples.
//!
//! [`forward_batch`] runs a slice of inputs on the calling thread with one
//! workspace on the stack: no heap allocation at all. It calls
//! [`Network::forward_batch_with`], which networks ending in dense layers
//! override to run tiles of samples through each of those layers at once
//! (each weight read once per tile; the layers before them, sample by
//! sample); every output has the bits
//! [`Network::forward`] gives its input alone. With the `rayon`
//! feature, [`par_forward_batch`] spreads the slice over rayon's thread
//! pool; each worker reuses one heap workspace for all the samples it runs,
//! so the number of allocations depends on how rayon splits the work, never
//! on the number of samples.

use crate::network::Network;

/// Runs `net` on every input, writing the matching output, on this thread.
///
/// # Panics
///
/// If `inputs` and `outputs` differ in length.
pub fn forward_batch<N: Network>(net: &N, inputs: &[N::Input], outputs: &mut [N::Output]) {
    assert_eq!(
        inputs.len(),
        outputs.len(),
        "forward_batch: {} inputs but {} outputs",
        inputs.len(),
        outputs.len()
    );
    let mut workspace = <N::Workspace as bytemuck::Zeroable>::zeroed();
    net.forward_batch_with(inputs, outputs, &mut workspace);
}

/// [`forward_batch`] on all cores with rayon (feature `rayon`).
///
/// Samples are processed in chunks; each rayon job gets one heap
/// workspace, reused for its whole chunk.
///
/// # Panics
///
/// If `inputs` and `outputs` differ in length.
#[cfg(feature = "rayon")]
pub fn par_forward_batch<N>(net: &N, inputs: &[N::Input], outputs: &mut [N::Output])
where
    N: Network + Sync,
    N::Input: Sync,
    N::Output: Send,
{
    use rayon::prelude::*;
    assert_eq!(
        inputs.len(),
        outputs.len(),
        "par_forward_batch: {} inputs but {} outputs",
        inputs.len(),
        outputs.len()
    );
    // Large enough chunks that a workspace is amortised over many samples,
    // small enough that two cores share 64 samples evenly.
    let chunk = inputs
        .len()
        .div_ceil(4 * rayon::current_num_threads())
        .max(8);
    inputs
        .par_chunks(chunk)
        .zip(outputs.par_chunks_mut(chunk))
        .for_each_init(N::new_workspace, |workspace, (xs, ys)| {
            net.forward_batch_with(xs, ys, workspace);
        });
}
