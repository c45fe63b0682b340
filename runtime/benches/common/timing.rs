//! The quick second measurement behind the benches' summary tables.

use std::time::{Duration, Instant};

/// The median and the best of 101 timings of `f`, each over enough calls
/// (doubled until they last 200 µs) to make the clock's resolution
/// negligible; per call.
pub fn median_and_best(f: &mut dyn FnMut()) -> (Duration, Duration) {
    let mut reps = 1u32;
    loop {
        let start = Instant::now();
        for _ in 0..reps {
            f();
        }
        if start.elapsed() > Duration::from_micros(200) || reps >= 1 << 20 {
            break;
        }
        reps *= 2;
    }
    let mut samples: Vec<Duration> = (0..101)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..reps {
                f();
            }
            start.elapsed() / reps
        })
        .collect();
    samples.sort();
    (samples[samples.len() / 2], samples[0])
}
