//! Any bytes through the parallel layer encoder (`layer_encoder = "parallel/1"`), gzip and zstd:
//! the crate's own layer reader reads back the same bytes, and the encoder writes the same
//! stream whatever the number of threads and however the input is cut into writes.
#![no_main]

use std::io::{Read, Write};

use docker_repro::image::encoder::{compressor_on, Encoding};
use docker_repro::image::layer::{open_layer, Stored};
use libfuzzer_sys::fuzz_target;

fn encode(stored: Stored, threads: usize, data: &[u8], cut: usize) -> Vec<u8> {
    let mut encoder =
        compressor_on(stored, Encoding::Parallel1, threads, Vec::new()).expect("an encoder");
    for piece in data.chunks(cut) {
        encoder.write_all(piece).expect("written to memory");
    }
    encoder.finish().expect("finished in memory")
}

fuzz_target!(|input: &[u8]| {
    // The first two bytes pick the cut of the second encoding; the rest is the layer.
    let (cut, data) = match input {
        [a, b, rest @ ..] => (1 + usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => (1, input),
    };
    for stored in [Stored::Gzip, Stored::Zstd] {
        let whole = encode(stored, 1, data, data.len().max(1));
        let cut_up = encode(stored, 3, data, cut);
        assert!(whole == cut_up, "{stored:?}: other bytes on 3 threads, writes of {cut}");
        let mut layer = open_layer(&whole[..], whole.len() as u64).expect("a layer");
        let mut back = Vec::new();
        layer.read_to_end(&mut back).expect("it decodes");
        assert!(back == data, "{stored:?}: decodes to other bytes");
    }
});
