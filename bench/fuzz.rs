//! A random-mutation fuzzer for the parsers of untrusted bytes, with no dependency beyond the
//! crate's own (cargo-fuzz needs a nightly toolchain and libFuzzer, which builds and CI here do
//! not have). Each target starts from valid seeds, mutates them (bit flips, magic numbers,
//! huge decimal and octal fields, cut, duplicated and spliced ranges, tar checksums fixed up so
//! mutations reach past the header check), keeps an input that produced an outcome not seen
//! before, and counts executions, panics and slow inputs. Inputs that panic or take over a
//! second are written to `target/fuzz-findings/TARGET/`; an input still running after 20 s
//! stops the run with its file named.
//!
//!     cargo run --release --example fuzz -- [--seconds N] [--seed S] [TARGET...]
//!
//! Targets: tarstream, archive, layout, retime, lock, dpkg, metadata, dockerfile. `bench/fuzz.sh` runs
//! them all.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use docker_repro::image::tarstream::TarStream;
use docker_repro::inventory::{catalog, layers};

/// What one execution said, reduced to something worth telling apart (not the data).
type Outcome = u64;

struct Target {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    /// Keeps tar checksums valid after mutation (for the tar and archive targets).
    tar: bool,
    run: fn(&[u8]) -> Outcome,
}

fn outcome(parts: impl Hash) -> Outcome {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// The shape of an error: its first words, without the numbers and names in it.
fn shape(message: &str) -> String {
    message
        .split_whitespace()
        .take(6)
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) {
                "#"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_tarstream(data: &[u8]) -> Outcome {
    let mut kinds = Vec::new();
    let mut t = TarStream::new(data);
    let end = loop {
        match t.next_header() {
            Ok(Some(h)) => {
                kinds.push(format!("{:?}", h.kind));
                if let Err(e) = io::copy(&mut t.data(), &mut io::sink()) {
                    break shape(&e.to_string());
                }
            }
            Ok(None) => break "end".into(),
            Err(e) => break shape(&e.to_string()),
        }
        if kinds.len() > 10_000 {
            break "many".into();
        }
    };
    // The same bytes as a file of known length, skipping data by seeking.
    let seek: fn(&mut &[u8], u64) -> io::Result<()> = |r, n| {
        let n = usize::try_from(n).map_err(|_| io::Error::other("far"))?;
        *r = r.get(n..).unwrap_or_default();
        Ok(())
    };
    let mut t = TarStream::with_seek(data, seek, data.len() as u64);
    let mut seeked = 0usize;
    while let Ok(Some(_)) = t.next_header() {
        seeked += 1;
        if seeked > 10_000 {
            break;
        }
    }
    kinds.dedup();
    outcome((kinds, end, seeked.min(8)))
}

fn run_archive(data: &[u8]) -> Outcome {
    let known = HashMap::new();
    match layers::scan_archive(data, &known, &mut |_| {}) {
        Ok(scan) => {
            let files: usize = scan.layers.iter().map(|(_, l)| l.files.len()).sum();
            let inv = docker_repro::inventory::Inventory::from_scan(&scan);
            outcome((
                "ok",
                scan.layers.len(),
                files.min(16),
                inv.apt.len().min(16),
            ))
        }
        Err(e) => outcome(("err", shape(&e.to_string()))),
    }
}

/// The manifest digest the layout seeds' release has: what a verifier asks an archive for.
static WANTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// An OCI layout read for the image a lock names, for a name, and as its only image: index →
/// manifest (or image index → platform manifest) → config and layers, each checked.
fn run_layout(data: &[u8]) -> Outcome {
    let known = HashMap::new();
    let wanted = WANTED.get().cloned().unwrap_or_default();
    let mut outcomes = Vec::new();
    for select in [
        layers::Select::Manifest(wanted),
        layers::Select::Named("paper:base".into()),
        layers::Select::Only,
    ] {
        outcomes.push(
            match layers::scan_archive_selected(data, &select, &known, &mut |_| {}) {
                Ok(scan) => ("ok".to_string(), scan.layers.len()),
                Err(e) => (shape(&e.to_string()), 0),
            },
        );
    }
    outcome(outcomes)
}

fn run_lock(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    match docker_repro::lock::Lock::from_toml(&text, Path::new("fuzz.lock")) {
        Ok(lock) => outcome(("ok", lock.to_toml().len() / 64)),
        Err(e) => outcome(("err", shape(&e.to_string()))),
    }
}

fn run_dpkg(data: &[u8]) -> Outcome {
    let a = catalog::parse_dpkg_status(data, true);
    let b = catalog::parse_dpkg_status(data, false);
    let r = |r: Result<Vec<catalog::AptPackage>, String>| match r {
        Ok(p) => format!("ok {}", p.len().min(8)),
        Err(e) => shape(&e),
    };
    outcome((r(a), r(b)))
}

fn run_metadata(data: &[u8]) -> Outcome {
    let meta = match catalog::parse_python_metadata(data) {
        Ok((name, version)) => {
            let normal = catalog::normalise_python_name(&name);
            format!(
                "ok {} {} {}",
                name.len().min(8),
                version.len().min(8),
                normal.len().min(8)
            )
        }
        Err(e) => shape(&e),
    };
    outcome(meta)
}

fn run_dockerfile(data: &[u8]) -> Outcome {
    let args = BTreeMap::from([("PY".to_string(), "3.11".to_string())]);
    match docker_repro::dockerfile::parse(data, &args, "linux/amd64") {
        Ok(d) => outcome(("ok", format!("{d:?}").len() / 32)),
        Err(e) => outcome(("err", shape(&e.to_string()))),
    }
}

fn tar_of(entries: &[(&str, u8, &[u8], &str)], pax: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    if !pax.is_empty() {
        b.append_pax_extensions(pax.iter().map(|(k, v)| (*k, v.as_bytes())))
            .unwrap();
    }
    for (path, kind, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if link.is_empty() {
            b.append_data(&mut h, path, *data).unwrap();
        } else {
            b.append_link(&mut h, path, link).unwrap();
        }
    }
    b.into_inner().unwrap()
}

const DPKG: &[u8] = b"Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b7\nDescription: GNU Bourne Again SHell\n multi-line\n .\n continued\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n";
const METADATA: &[u8] = b"Metadata-Version: 2.1\nName: Torch_Vision\nVersion: 0.18.1+cu121\nSummary: x\n\nlong description: with colons\n";

/// Clamping a layer's file times: no panic; what it writes, clamped again, is unchanged; and
/// the scan says "later time" exactly when the clamp changed something.
fn run_retime(data: &[u8]) -> Outcome {
    use docker_repro::image::retime::{clamp_times, holds_later_time};
    const EPOCH: u64 = 1_700_000_000;
    let mut out = Vec::new();
    match clamp_times(data, &mut out, EPOCH) {
        Ok(changed) => {
            let mut again = Vec::new();
            assert!(
                !clamp_times(&out[..], &mut again, EPOCH).expect("a clamped stream reads again"),
                "a second clamp changed something"
            );
            assert_eq!(again, out, "a second clamp changed the bytes");
            assert_eq!(holds_later_time(data, EPOCH).ok(), Some(changed));
            outcome(("ok", changed, out.len() == data.len()))
        }
        Err(e) => outcome(shape(&e.to_string())),
    }
}

fn layer_seed() -> Vec<u8> {
    let site = "usr/lib/python3/dist-packages";
    tar_of(
        &[
            ("var/lib/dpkg/status", b'0', DPKG, ""),
            (
                &format!("{site}/a-1.dist-info/METADATA"),
                b'0',
                METADATA,
                "",
            ),
            (&format!("{site}/.wh.b-1.dist-info"), b'0', b"", ""),
            ("opt/.wh..wh..opq", b'0', b"", ""),
            ("usr/lib/libcudnn.so.8.9.7", b'0', b"elf", ""),
            ("var/lib/dpkg/status.d/x", b'1', b"", "var/lib/dpkg/status"),
            ("usr/lib/libnccl.so.2", b'2', b"", "libnccl.so.2.18.3"),
            (
                "opt/conda/conda-meta/numpy-1.26.4-0.json",
                b'0',
                br#"{"name":"numpy","version":"1.26.4","build":"0","channel":"c"}"#,
                "",
            ),
        ],
        &[("path", "usr/local/cuda-12.1/version.json")],
    )
}

fn archive_seed(layer: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let hex = |b: &[u8]| format!("{:x}", Sha256::digest(b));
    let config = br#"{"config":{"Env":["CUDA_VERSION=12.1.1"]},"rootfs":{"type":"layers"}}"#;
    let (l, c) = (hex(layer), hex(config));
    let manifest = format!(
        r#"[{{"Config":"blobs/sha256/{c}","RepoTags":["x:1"],"Layers":["blobs/sha256/{l}"]}}]"#
    );
    tar_of(
        &[
            (&format!("blobs/sha256/{l}"), b'0', layer, ""),
            (&format!("blobs/sha256/{c}"), b'0', config, ""),
            ("manifest.json", b'0', manifest.as_bytes(), ""),
        ],
        &[],
    )
}

/// An OCI layout holding a base and a release (sharing a layer) and a two-platform image
/// index, as `release --archive` writes them; sets [`WANTED`] to the release's manifest.
fn layout_seed(layer: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let digest = |b: &[u8]| format!("sha256:{:x}", Sha256::digest(b));
    let blob = |d: &str| format!("blobs/sha256/{}", &d[7..]);
    let config = |x: &str| format!(r#"{{"config":{{}},"rootfs":{{"type":"layers"}},"x":"{x}"}}"#);
    let manifest = |config: &str, layers: &[&[u8]]| {
        let layers: Vec<String> = layers
            .iter()
            .map(|l| format!(r#"{{"digest":"{}","size":{}}}"#, digest(l), l.len()))
            .collect();
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{}","size":{}}},"layers":[{}]}}"#,
            digest(config.as_bytes()),
            config.len(),
            layers.join(",")
        )
    };
    let code = b"print(1)\n".as_slice();
    let (cb, cr, ca) = (config("base"), config("release"), config("arm"));
    let mb = manifest(&cb, &[layer]);
    let mr = manifest(&cr, &[layer, code]);
    let ma = manifest(&ca, &[code]);
    let nested = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"digest":"{}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},{{"digest":"{}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}}]}}"#,
        digest(mr.as_bytes()),
        digest(ma.as_bytes())
    );
    let _ = WANTED.set(digest(mr.as_bytes()));
    let entry = |d: &str, name: &str| {
        format!(
            r#"{{"digest":"{d}","size":1,"annotations":{{"io.containerd.image.name":"docker.io/library/{name}"}}}}"#
        )
    };
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{},{}]}}"#,
        entry(&digest(mb.as_bytes()), "paper:base"),
        entry(&digest(nested.as_bytes()), "paper:0123")
    );
    let docs: Vec<(String, Vec<u8>)> = [
        layer.to_vec(),
        code.to_vec(),
        cb.into_bytes(),
        cr.into_bytes(),
        ca.into_bytes(),
        mb.into_bytes(),
        mr.into_bytes(),
        ma.into_bytes(),
        nested.into_bytes(),
    ]
    .into_iter()
    .map(|b| (blob(&digest(&b)), b))
    .collect();
    let mut entries: Vec<(&str, u8, &[u8], &str)> = docs
        .iter()
        .map(|(p, b)| (p.as_str(), b'0', b.as_slice(), ""))
        .collect();
    entries.push(("index.json", b'0', index.as_bytes(), ""));
    tar_of(&entries, &[])
}

fn targets() -> Vec<Target> {
    let layer = layer_seed();
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut e, &layer).unwrap();
        e.finish().unwrap()
    };
    let zst = zstd::stream::encode_all(&layer[..], 1).unwrap();
    vec![
        Target {
            name: "tarstream",
            seeds: vec![layer.clone(), archive_seed(&layer)],
            tar: true,
            run: run_tarstream,
        },
        Target {
            name: "archive",
            seeds: vec![
                archive_seed(&layer),
                archive_seed(&gz),
                archive_seed(&zst),
            ],
            tar: true,
            run: run_archive,
        },
        Target {
            name: "layout",
            seeds: vec![layout_seed(&layer), layout_seed(&gz)],
            tar: true,
            run: run_layout,
        },
        Target {
            name: "retime",
            seeds: vec![
                layer.clone(),
                {
                    let mut gz = Vec::new();
                    io::Read::read_to_end(
                        &mut flate2::read::GzDecoder::new(
                            &include_bytes!("../tests/fixtures/layers/buildkit-copy.tar.gz")[..],
                        ),
                        &mut gz,
                    )
                    .unwrap();
                    gz
                },
            ],
            tar: true,
            run: run_retime,
        },
        Target {
            name: "lock",
            seeds: vec![
                include_bytes!("../tests/fixtures/sample.lock").to_vec(),
                include_bytes!("../tests/fixtures/sample-multi.lock").to_vec(),
            ],
            tar: false,
            run: run_lock,
        },
        Target {
            name: "dpkg",
            seeds: vec![DPKG.to_vec()],
            tar: false,
            run: run_dpkg,
        },
        Target {
            name: "metadata",
            seeds: vec![METADATA.to_vec(), b"Name: a\r\nVersion: 1\r\n".to_vec()],
            tar: false,
            run: run_metadata,
        },
        Target {
            name: "dockerfile",
            seeds: vec![
                include_bytes!("../examples/curvenet/docker/Dockerfile.base").to_vec(),
                include_bytes!("../examples/curvenet/docker/Dockerfile.release").to_vec(),
                b"# syntax=docker/dockerfile:1\n# escape=`\nARG PY=3.11\nFROM python:${PY}-slim@sha256:aa AS base\nRUN apt-get update && \\\n    apt-get install -y curl=7.88 \\\n # comment\n && pip install x==1\nCOPY --chmod=644 <<EOF /etc/x\nhello\nEOF\nFROM base\nENV A=1 B=\"two words\"\n".to_vec(),
            ],
            tar: false,
            run: run_dockerfile,
        },
    ]
}

/// xorshift64*: fast, seeded, and good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "18446744073709551615",
    "18446744073709550080",
    "9223372036854775808",
    "77777777777",
    "99999999999999999999999",
    "1e999",
    "4294967296",
];
const TOKENS: &[&str] = &[
    "\n",
    "\n\n",
    ": ",
    " ",
    "\\\n",
    "=",
    "\"",
    "'",
    "${",
    "}",
    "[",
    "]",
    "{",
    "/",
    "..",
    ".wh.",
    ".wh..wh..opq",
    "<<EOF\n",
    "EOF\n",
    "\r\n",
    "\0",
    "\u{feff}",
    "é",
    "size=",
    "path=",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(6) {
        let len = input.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = [0, 0xff, 0x7f, 0x80, b'0', b'7', b' ', b'\n'][rng.below(8)];
            }
            2 if len > 0 => {
                let (a, b) = (rng.below(len), rng.below(len));
                input.drain(a.min(b)..a.max(b).min(a.min(b) + 4096));
            }
            3 if len > 0 => {
                let (a, n) = (rng.below(len), 1 + rng.below(1024));
                let chunk: Vec<u8> = input[a..(a + n).min(len)].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, chunk);
            }
            4 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let at = rng.below(len + 1);
                input.splice(at..at, t.iter().copied());
            }
            5 if len > 0 => {
                // A number where a number was.
                let n = NUMBERS[rng.below(NUMBERS.len())].as_bytes();
                let at = rng.below(len);
                let end = input[at..]
                    .iter()
                    .position(|b| !b.is_ascii_alphanumeric())
                    .map_or(len, |p| at + p);
                input.splice(at..end, n.iter().copied());
            }
            6 if len >= 512 => {
                // A huge value in a tar header's size, mode, uid or mtime field.
                let block = rng.below(len / 512) * 512;
                let (start, width) = [(124, 12), (100, 8), (108, 8), (136, 12)][rng.below(4)];
                let field = &mut input[block + start..block + start + width];
                if rng.below(2) == 0 {
                    field.fill(b'7');
                    field[width - 1] = 0;
                } else {
                    field.fill(0xff);
                }
            }
            7 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let (a, b) = (rng.below(other.len()), rng.below(other.len()));
                    let at = rng.below(len + 1);
                    input.splice(at..at, other[a.min(b)..a.max(b)].iter().copied());
                }
            }
            8 if len > 0 => input.truncate(rng.below(len)),
            9 if len > 0 && len < 1 << 20 => {
                let (a, b) = (rng.below(len), rng.below(len));
                let chunk = input[a.min(b)..a.max(b)].to_vec();
                for _ in 0..rng.below(64) {
                    input.extend_from_slice(&chunk);
                }
            }
            _ => {
                let n = rng.below(8);
                for _ in 0..n {
                    input.push(rng.next() as u8);
                }
            }
        }
    }
}

/// Recomputes the checksum of every 512-byte block that reads as a tar header.
fn fix_tar_checksums(input: &mut [u8]) {
    for block in input.chunks_exact_mut(512) {
        let magic = &block[257..262];
        if magic != b"ustar" || block.iter().all(|b| *b == 0) {
            continue;
        }
        block[148..156].fill(b' ');
        let sum: u64 = block.iter().map(|b| *b as u64).sum();
        let text = format!("{sum:06o}\0 ");
        block[148..156].copy_from_slice(text.as_bytes());
    }
}

struct Tally {
    execs: u64,
    panics: u64,
    slow: u64,
    outcomes: usize,
    corpus: usize,
    slowest_ms: u128,
}

fn save(dir: &Path, kind: &str, n: u64, input: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{kind}-{n}.bin"));
    std::fs::write(&path, input).unwrap();
    path
}

fn fuzz(target: &Target, budget: Duration, seed: u64, findings: &Path) -> Tally {
    let mut rng = Rng(seed | 1);
    let mut corpus = target.seeds.clone();
    let mut seen: HashSet<Outcome> = HashSet::new();
    let dir = findings.join(target.name);
    let current: Arc<Mutex<(Vec<u8>, Instant)>> =
        Arc::new(Mutex::new((Vec::new(), Instant::now())));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A watchdog: an input still running after 20 s is a hang; name it and stop.
    let watchdog = {
        let (current, done, dir, name) = (current.clone(), done.clone(), dir.clone(), target.name);
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let (input, started) = current.lock().unwrap().clone();
                if started.elapsed() > Duration::from_secs(20) {
                    let path = save(&dir, "hang", 0, &input);
                    eprintln!("{name}: an input runs past 20 s: {}", path.display());
                    std::process::exit(3);
                }
            }
        })
    };
    let mut tally = Tally {
        execs: 0,
        panics: 0,
        slow: 0,
        outcomes: 0,
        corpus: 0,
        slowest_ms: 0,
    };
    let start = Instant::now();
    let mut i = 0usize;
    while start.elapsed() < budget {
        let mut input = if i < corpus.len() {
            corpus[i].clone()
        } else {
            let mut input = corpus[rng.below(corpus.len())].clone();
            mutate(&mut rng, &mut input, &corpus);
            if target.tar && rng.below(4) != 0 {
                fix_tar_checksums(&mut input);
            }
            input
        };
        // Real Dockerfiles are kilobytes; at megabytes one parse takes half a second and the
        // budget buys a few thousand runs. Its scaling is checked by the size-growth test.
        input.truncate(if target.name == "dockerfile" {
            64 << 10
        } else {
            4 << 20
        });
        i += 1;
        *current.lock().unwrap() = (input.clone(), Instant::now());
        let t0 = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        let took = t0.elapsed();
        tally.execs += 1;
        tally.slowest_ms = tally.slowest_ms.max(took.as_millis());
        if took > Duration::from_secs(1) {
            tally.slow += 1;
            let path = save(&dir, "slow", tally.slow, &input);
            eprintln!(
                "{}: {} ms on {}",
                target.name,
                took.as_millis(),
                path.display()
            );
        }
        match result {
            Ok(o) => {
                if seen.insert(o) && corpus.len() < 512 {
                    corpus.push(input);
                }
            }
            Err(_) => {
                tally.panics += 1;
                let path = save(&dir, "panic", tally.panics, &input);
                eprintln!("{}: panic on {}", target.name, path.display());
            }
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    watchdog.join().unwrap();
    tally.outcomes = seen.len();
    tally.corpus = corpus.len();
    tally
}

fn main() {
    let mut seconds = 30u64;
    let mut seed = 0x5eed_u64;
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--seconds N")
            }
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed S"),
            name => names.push(name.to_string()),
        }
    }
    // Panics are counted and their inputs saved; their messages would drown the table.
    let messages: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let messages = messages.clone();
        panic::set_hook(Box::new(move |info| {
            let mut m = messages.lock().unwrap_or_else(|e| e.into_inner());
            if m.len() < 20 {
                m.push(info.to_string().replace('\n', " "));
            }
        }));
    }
    let findings = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-findings");
    println!(
        "{:<11} {:>10} {:>8} {:>7} {:>6} {:>9} {:>7} {:>11}",
        "target", "execs", "execs/s", "panics", "slow", "outcomes", "corpus", "slowest ms"
    );
    let mut total_panics = 0;
    for target in targets() {
        if !names.is_empty() && !names.iter().any(|n| n == target.name) {
            continue;
        }
        let budget = Duration::from_secs(seconds);
        let t = fuzz(&target, budget, seed, &findings);
        total_panics += t.panics;
        println!(
            "{:<11} {:>10} {:>8} {:>7} {:>6} {:>9} {:>7} {:>11}",
            target.name,
            t.execs,
            t.execs / seconds.max(1),
            t.panics,
            t.slow,
            t.outcomes,
            t.corpus,
            t.slowest_ms
        );
    }
    for m in messages.lock().unwrap().iter() {
        eprintln!("{m}");
    }
    if total_panics > 0 {
        eprintln!("inputs that panicked are in {}", findings.display());
        std::process::exit(1);
    }
}
