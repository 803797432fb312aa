//! `cargo bench -p kafkatwin-core --bench offsets`: what moving a fetched partition's record
//! batches into logical offsets costs (one copy of the records and a walk over the batch
//! headers), in GB/s, on 1 MiB of 1 KiB records in batches of 16. This is the extra work of a
//! fetch served by a cluster whose offsets differ from the authority's; compare it with the
//! consume figures of `bench/run-reads.sh`. Prints figures; no assertions.

use kafkatwin_core::wire::records::shift_base_offsets;
use std::time::Instant;

/// Batch headers (base offset, length) with `body` bytes after each; records are not decoded.
fn records(batches: usize, body: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(batches * (12 + body));
    for b in 0..batches {
        out.extend((1_000_000 + (b * 16) as i64).to_be_bytes());
        out.extend((body as i32).to_be_bytes());
        out.extend(std::iter::repeat_n(0xAB, body));
    }
    out
}

fn main() {
    let data = records(64, 16 * 1024);
    let rounds = 2000;
    let started = Instant::now();
    let mut check = 0u64;
    for _ in 0..rounds {
        let shifted = shift_base_offsets(&data, 1_000_000);
        check += u64::from(shifted[7]);
    }
    let secs = started.elapsed().as_secs_f64();
    let bytes = (data.len() * rounds) as f64;
    println!(
        "shift base offsets: {:.2} GB/s ({:.0} µs per MiB; checksum {check})",
        bytes / secs / 1e9,
        secs * 1e6 / (bytes / (1024.0 * 1024.0))
    );
    // At the kt-1 consume rate of ~0.5 GB/s (500k 1 KiB msg/s), this share of a core is what
    // rewriting adds.
    let share = 0.5e9 / (bytes / secs);
    println!(
        "at 0.5 GB/s of fetched data: {:.1}% of one core",
        share * 100.0
    );
}
