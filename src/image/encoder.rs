//! The layer encoders: what turns a layer's tar stream into the compressed blob a release
//! locks. Their bytes are part of a release's digests, so each one's output is a function of
//! the uncompressed bytes and of the encoder (the lock names it) only: never of how the stream
//! is cut into writes, of the number of threads or of timing.
//!
//! - [`Encoding::SingleStream`]: one gzip (level 6) or zstd (level 3) stream on the caller's
//!   thread, fed in fixed 128 KiB chunks. Locks written before the lock named its encoder are
//!   rebuilt with it.
//! - [`Encoding::Parallel1`] (`layer_encoder = "parallel/1"`), on every core: gzip is cut into
//!   fixed 1 MiB blocks, each deflated on its own (level 6) with the 32 KiB before it as its
//!   dictionary and ended with a sync flush, the last with the final block; the blocks make one
//!   gzip member, as pigz writes (every gunzip reads it), its CRC-32 combined from the blocks'.
//!   zstd is libzstd's multithreaded mode (level 3), whose frame is the same for any number of
//!   workers from one on.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Crc, FlushCompress, Status};

use crate::image::layer::Stored;

const GZIP_LEVEL: u32 = 6;
const ZSTD_LEVEL: i32 = 3;

/// The size of the chunks every encoder is fed: deflate's single stream writes other bytes when
/// its input is cut otherwise (measured here).
const CHUNK: usize = 1 << 17;

/// The uncompressed size of one block of the parallel gzip encoder.
const GZIP_BLOCK: usize = 1 << 20;

/// The window of deflate: a block is primed with this much of the data before it.
const DEFLATE_WINDOW: usize = 32 << 10;

/// Blocks compressing or compressed and not yet written, per thread: enough to keep every thread
/// busy while the caller writes the oldest out, never the whole layer in memory.
const BLOCKS_IN_FLIGHT_PER_THREAD: usize = 2;

/// What gzip writes before the deflate stream: no name, no comment, no time (mtime 0), level 6
/// (XFL 0), OS unknown (255): the header flate2's `GzEncoder` writes at level 6.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Which encoder writes a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// One stream on one thread.
    SingleStream,
    /// Fixed blocks (gzip) or libzstd's jobs (zstd) on every core.
    Parallel1,
}

/// The number of threads the parallel encoders use: every core this process may run on.
pub fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A layer's tar stream compressed as `stored` says by `encoding`'s encoder; [`Compressor::finish`]
/// ends the stream and gives back the writer.
pub fn compressor<W: Write>(
    stored: Stored,
    encoding: Encoding,
    inner: W,
) -> io::Result<Compressor<W>> {
    compressor_on(stored, encoding, all_cores(), inner)
}

/// As [`compressor`], with the parallel encoders on `threads` threads (at least one).
pub fn compressor_on<W: Write>(
    stored: Stored,
    encoding: Encoding,
    threads: usize,
    inner: W,
) -> io::Result<Compressor<W>> {
    let threads = threads.max(1);
    let encoder = match (stored, encoding) {
        (Stored::Gzip, Encoding::SingleStream) => Encoder::Gzip(flate2::write::GzEncoder::new(
            inner,
            flate2::Compression::new(GZIP_LEVEL),
        )),
        (Stored::Gzip, Encoding::Parallel1) => {
            Encoder::ParallelGzip(ParallelGzip::new(inner, threads))
        }
        (Stored::Zstd, encoding) => {
            let mut encoder = zstd::stream::write::Encoder::new(inner, ZSTD_LEVEL)?;
            if encoding == Encoding::Parallel1 {
                encoder.multithread(u32::try_from(threads).unwrap_or(u32::MAX))?;
            }
            Encoder::Zstd(encoder)
        }
        (Stored::Plain, _) => Encoder::Plain(inner),
    };
    Ok(Compressor {
        encoder,
        pending: Vec::with_capacity(CHUNK),
    })
}

/// A stream compressed at fixed levels, fed to its encoder in chunks of one fixed size: how a
/// decompressor cuts the stream it reads depends on the blob it reads, so the same tar stream
/// would otherwise not always give the same bytes.
pub struct Compressor<W: Write> {
    encoder: Encoder<W>,
    pending: Vec<u8>,
}

enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    ParallelGzip(ParallelGzip<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Plain(W),
}

impl<W: Write> Encoder<W> {
    fn write_all(&mut self, chunk: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(chunk),
            Encoder::ParallelGzip(e) => e.write_all(chunk),
            Encoder::Zstd(e) => e.write_all(chunk),
            Encoder::Plain(w) => w.write_all(chunk),
        }
    }
}

impl<W: Write> Compressor<W> {
    /// Ends the stream; the writer it was written to.
    pub fn finish(mut self) -> io::Result<W> {
        self.encoder.write_all(&self.pending)?;
        match self.encoder {
            Encoder::Gzip(e) => e.finish(),
            Encoder::ParallelGzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Plain(mut w) => w.flush().map(|_| w),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == CHUNK {
            self.encoder.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(n)
    }

    /// Writes nothing on: a flush would end a compressed block where the writes fell.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One block for a thread to deflate.
struct Job {
    /// The [`DEFLATE_WINDOW`] bytes before the block (fewer for the first block, none for it).
    dictionary: Vec<u8>,
    data: Vec<u8>,
    last: bool,
    done: SyncSender<io::Result<Deflated>>,
}

/// A block deflated, with the CRC-32 of its uncompressed bytes.
struct Deflated {
    bytes: Vec<u8>,
    crc: Crc,
}

/// gzip on `threads` threads: one member whose deflate stream is the blocks' deflated bytes one
/// after the other. Each block's bytes depend only on it and the window before it, so neither
/// the thread count nor timing changes them.
struct ParallelGzip<W: Write> {
    /// The writer; taken back by `finish`.
    inner: Option<W>,
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    /// The blocks handed to the threads, oldest first, to be written in that order.
    in_flight: VecDeque<Receiver<io::Result<Deflated>>>,
    max_in_flight: usize,
    /// The block being filled; it is handed out once a byte after it arrives, so that the last
    /// block (the one `finish` ends the stream with) is known.
    block: Vec<u8>,
    /// The end of the last block handed out: the next one's dictionary.
    window: Vec<u8>,
    crc: Crc,
    header_written: bool,
}

impl<W: Write> ParallelGzip<W> {
    fn new(inner: W, threads: usize) -> Self {
        let (jobs, queue) = mpsc::sync_channel::<Job>(threads);
        let queue = Arc::new(Mutex::new(queue));
        let workers = (0..threads)
            .map(|_| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || deflate_jobs(&queue))
            })
            .collect();
        ParallelGzip {
            inner: Some(inner),
            jobs: Some(jobs),
            workers,
            in_flight: VecDeque::new(),
            max_in_flight: threads * BLOCKS_IN_FLIGHT_PER_THREAD,
            block: Vec::with_capacity(GZIP_BLOCK),
            window: Vec::new(),
            crc: Crc::new(),
            header_written: false,
        }
    }

    fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.block.len() == GZIP_BLOCK {
                self.hand_out(false)?;
            }
            let n = data.len().min(GZIP_BLOCK - self.block.len());
            self.block.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        Ok(())
    }

    /// Hands the block being filled to a thread, writing the oldest done block out first when
    /// as many as allowed are in flight.
    fn hand_out(&mut self, last: bool) -> io::Result<()> {
        while self.in_flight.len() >= self.max_in_flight {
            self.write_oldest()?;
        }
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(GZIP_BLOCK));
        let dictionary = std::mem::take(&mut self.window);
        self.window = data[data.len().saturating_sub(DEFLATE_WINDOW)..].to_vec();
        let (done, result) = mpsc::sync_channel(1);
        let job = Job {
            dictionary,
            data,
            last,
            done,
        };
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(stopped)?;
        self.in_flight.push_back(result);
        Ok(())
    }

    /// Waits for the oldest block in flight and writes it out.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(result) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let deflated = result.recv().map_err(|_| stopped())??;
        let inner = self.inner.as_mut().ok_or_else(stopped)?;
        if !self.header_written {
            inner.write_all(&GZIP_HEADER)?;
            self.header_written = true;
        }
        inner.write_all(&deflated.bytes)?;
        self.crc.combine(&deflated.crc);
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        self.hand_out(true)?;
        while !self.in_flight.is_empty() {
            self.write_oldest()?;
        }
        // ISIZE is the size modulo 2^32, as gzip defines it.
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&self.crc.amount().to_le_bytes());
        let mut inner = self.inner.take().ok_or_else(stopped)?;
        inner.write_all(&trailer)?;
        inner.flush()?;
        self.stop_workers();
        Ok(inner)
    }

    fn stop_workers(&mut self) {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl<W: Write> Drop for ParallelGzip<W> {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

fn stopped() -> io::Error {
    io::Error::other("a compression thread stopped")
}

/// A thread's loop: deflates the blocks it takes from `queue` until the encoder is done.
fn deflate_jobs(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let result = deflate_block(&job.dictionary, &job.data, job.last);
        let _ = job.done.send(result);
    }
}

/// One block as raw deflate: primed with `dictionary`, ended byte-aligned with a sync flush, or
/// with the final block when it is the `last`.
fn deflate_block(dictionary: &[u8], data: &[u8], last: bool) -> io::Result<Deflated> {
    // A new compressor for each block: zlib-rs (0.6.8) reset after other blocks can write other
    // (valid) bytes for the same block and dictionary than a new one does, depending on what it
    // compressed before (measured: blocks compressed in reverse order on one compressor), so the
    // bytes depended on which thread had taken which block.
    let mut compress = Compress::new(flate2::Compression::new(GZIP_LEVEL), false);
    if !dictionary.is_empty() {
        compress
            .set_dictionary(dictionary)
            .map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut bytes = Vec::with_capacity(data.len() + data.len() / 16 + 64);
    let mut consumed = 0;
    loop {
        let before = compress.total_in();
        let status = compress
            .compress_vec(&data[consumed..], &mut bytes, flush)
            .map_err(io::Error::other)?;
        consumed += usize::try_from(compress.total_in() - before).expect("a block's size");
        let room_left = bytes.len() < bytes.capacity();
        match status {
            Status::StreamEnd => break,
            // A sync flush is complete when all input is taken and output room is left over.
            _ if !last && consumed == data.len() && room_left => break,
            _ => bytes.reserve(bytes.capacity().max(64)),
        }
    }
    let mut crc = Crc::new();
    crc.update(data);
    Ok(Deflated { bytes, crc })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::process::{Command, Stdio};

    /// Compressible but not trivially so: runs of text, counters and noise, over several blocks
    /// and an uneven tail.
    fn sample(size: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        (0..size)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match (i / 4096) % 3 {
                    0 => b"the quick brown fox jumps over the lazy dog\n"[i % 44],
                    1 => (i / 64) as u8,
                    _ => (state % 7) as u8,
                }
            })
            .collect()
    }

    fn encode(
        stored: Stored,
        encoding: Encoding,
        threads: usize,
        data: &[u8],
        cut: usize,
    ) -> Vec<u8> {
        let mut c = compressor_on(stored, encoding, threads, Vec::new()).unwrap();
        for piece in data.chunks(cut.max(1)) {
            c.write_all(piece).unwrap();
        }
        c.finish().unwrap()
    }

    fn decode(stored: Stored, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match stored {
            Stored::Gzip => flate2::read::GzDecoder::new(bytes).read_to_end(&mut out),
            Stored::Zstd => zstd::stream::read::Decoder::new(bytes)
                .unwrap()
                .read_to_end(&mut out),
            Stored::Plain => (&bytes[..]).read_to_end(&mut out),
        }
        .unwrap();
        out
    }

    const SIZES: [usize; 6] = [
        0,
        1,
        1000,
        GZIP_BLOCK,
        2 * GZIP_BLOCK,
        3 * GZIP_BLOCK + 12_345,
    ];

    #[test]
    fn the_parallel_encoders_write_the_same_bytes_on_any_number_of_threads_and_any_cut() {
        let data = sample(9 * GZIP_BLOCK + 777);
        for stored in [Stored::Gzip, Stored::Zstd] {
            let reference = encode(stored, Encoding::Parallel1, 1, &data, data.len());
            for threads in [1, 2, 3, 4, 8] {
                for cut in [1 << 20, 7, 65_536, CHUNK + 1, 3 * GZIP_BLOCK - 5] {
                    if cut < 512 && threads != 2 {
                        continue; // byte-by-byte writes are slow; one thread count suffices
                    }
                    let bytes = encode(stored, Encoding::Parallel1, threads, &data, cut);
                    assert!(
                        bytes == reference,
                        "{stored:?} on {threads} thread(s), writes of {cut}: other bytes"
                    );
                }
            }
            assert_eq!(decode(stored, &reference), data, "{stored:?}");
        }
    }

    #[test]
    fn the_single_stream_bytes_do_not_depend_on_how_the_stream_is_cut_into_writes() {
        let data = sample(1_500_000);
        for stored in [Stored::Gzip, Stored::Zstd, Stored::Plain] {
            let reference = encode(stored, Encoding::SingleStream, 1, &data, data.len());
            for cut in [1usize, 7, 512, 8192, 100_000, CHUNK + 1] {
                let bytes = encode(stored, Encoding::SingleStream, 1, &data, cut);
                assert!(
                    bytes == reference,
                    "{stored:?}, writes of {cut}: other bytes"
                );
            }
        }
    }

    #[test]
    fn every_size_round_trips_and_is_the_same_on_one_and_many_threads() {
        for size in SIZES {
            let data = sample(size);
            for stored in [Stored::Gzip, Stored::Zstd, Stored::Plain] {
                for encoding in [Encoding::SingleStream, Encoding::Parallel1] {
                    let one = encode(stored, encoding, 1, &data, 4096);
                    let many = encode(stored, encoding, 4, &data, size.max(1));
                    assert!(one == many, "{stored:?} {encoding:?} of {size} bytes");
                    assert_eq!(decode(stored, &one), data, "{stored:?} {encoding:?} {size}");
                }
            }
        }
    }

    #[test]
    fn the_single_stream_encoder_writes_what_flate2_and_zstd_write() {
        let data = sample(2 * GZIP_BLOCK + 99);
        let mut gzip =
            flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZIP_LEVEL));
        for chunk in data.chunks(CHUNK) {
            gzip.write_all(chunk).unwrap();
        }
        let gzip = gzip.finish().unwrap();
        assert!(encode(Stored::Gzip, Encoding::SingleStream, 4, &data, 1000) == gzip);
        // The parallel one starts with the same header and ends with the same trailer.
        let parallel = encode(Stored::Gzip, Encoding::Parallel1, 2, &data, 1000);
        assert_eq!(parallel[..10], gzip[..10]);
        assert_eq!(parallel[parallel.len() - 8..], gzip[gzip.len() - 8..]);
        assert_eq!(GZIP_HEADER[..], gzip[..10]);
        let mut zstd = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL).unwrap();
        for chunk in data.chunks(CHUNK) {
            zstd.write_all(chunk).unwrap();
        }
        assert!(
            encode(Stored::Zstd, Encoding::SingleStream, 4, &data, 1000) == zstd.finish().unwrap()
        );
    }

    #[test]
    fn the_parallel_gzip_blocks_use_the_window_before_them() {
        // The same 1 MiB twice: with the window as dictionary, the second block's start matches
        // the first block's end, and the whole compresses better than two independent halves.
        let block = sample(GZIP_BLOCK);
        let twice = [&block[..], &block[..]].concat();
        let independent = 2 * encode(Stored::Gzip, Encoding::Parallel1, 2, &block, CHUNK).len();
        let primed = encode(Stored::Gzip, Encoding::Parallel1, 2, &twice, CHUNK).len();
        assert!(primed < independent, "{primed} vs {independent}");
    }

    /// The system's decompressor reads what the parallel encoder writes.
    fn system_decompressor_reads(program: &str, stored: Stored) {
        let data = sample(5 * GZIP_BLOCK + 4321);
        let bytes = encode(stored, Encoding::Parallel1, 3, &data, CHUNK);
        let mut child = Command::new(program)
            .args(["-d", "-c"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("`{program}` is needed for this test and cannot be started: {e}")
            });
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&bytes));
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(output.status.success(), "{program} -d: {output:?}");
        assert!(output.stdout == data, "{program} -d read other bytes");
    }

    #[test]
    fn gzip_decompresses_the_parallel_gzip_stream() {
        system_decompressor_reads("gzip", Stored::Gzip);
    }

    #[test]
    fn zstd_decompresses_the_parallel_zstd_stream() {
        system_decompressor_reads("zstd", Stored::Zstd);
    }
}
