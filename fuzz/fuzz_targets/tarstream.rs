//! The tar header reader, streaming and seeking: no panic, no endless loop, and the seeking
//! reader finds no more entries than the streaming one reads.
#![no_main]

use std::io;

use docker_repro::image::tarstream::TarStream;
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    docker_repro_fuzz::mutate_tar(data, size, max_size, seed, 0)
});

fuzz_target!(|data: &[u8]| {
    let mut streamed = 0usize;
    let mut stream = TarStream::new(data);
    while let Ok(Some(_)) = stream.next_header() {
        streamed += 1;
        if io::copy(&mut stream.data(), &mut io::sink()).is_err() {
            break;
        }
    }
    // The same bytes as a file of known length, skipping data by seeking.
    let seek: fn(&mut &[u8], u64) -> io::Result<()> = |rest, n| {
        let n = usize::try_from(n).map_err(|_| io::Error::other("past the end"))?;
        *rest = rest
            .get(n..)
            .ok_or_else(|| io::Error::other("past the end"))?;
        Ok(())
    };
    let mut seeked = 0usize;
    let mut file = TarStream::with_seek(data, seek, data.len() as u64);
    while let Ok(Some(_)) = file.next_header() {
        seeked += 1;
    }
    // Every header takes at least one 512-byte block.
    assert!(seeked <= data.len() / 512 && streamed <= data.len() / 512);
});
