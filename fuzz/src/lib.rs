//! What the fuzz targets share: a mutator that keeps tar header checksums valid, so that
//! libFuzzer's mutations reach past the readers' checksum check into the fields behind it.

/// Recomputes the checksum of every 512-byte block of `bytes` that reads as a ustar or GNU
/// tar header (the `ustar` magic at offset 257 and not all zeros).
pub fn fix_tar_checksums(bytes: &mut [u8]) {
    for block in bytes.chunks_exact_mut(512) {
        if &block[257..262] != b"ustar" || block.iter().all(|b| *b == 0) {
            continue;
        }
        block[148..156].fill(b' ');
        let sum: u64 = block.iter().map(|b| u64::from(*b)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }
}

/// libFuzzer's own mutation of `data[skip..size]`, then, three times in four (the fourth keeps
/// bad checksums reachable), every header checksum after `skip` repaired. Returns the new size.
pub fn mutate_tar(data: &mut [u8], size: usize, max_size: usize, seed: u32, skip: usize) -> usize {
    let size = libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    if seed % 4 != 0 {
        let end = size.min(data.len());
        fix_tar_checksums(&mut data[skip.min(end)..end]);
    }
    size
}
