//! The project's tar reader against Go's `archive/tar`, the reader the engine unpacks layers
//! with: `tests/fixtures/tarlist`, built by scripts/testbed.sh, lists what Go reads. Each
//! hostile layer below once made a reader of ours see other files than the engine creates;
//! then the two readers are compared on every hostile layer and on thousands of mutated ones,
//! and the clamp is shown to change nothing Go reads but times.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use docker_repro::image::retime::clamp_times;
use docker_repro::image::tarstream::{TarStream, Time};
use sha2::{Digest, Sha256};

use crate::common::{docker, serial};
use crate::dos::{header, save_archive, small_layer, whiteout_layer};

const TARLIST: &str = "/var/cache/docker-repro-testbed/bin/tarlist";
const EPOCH: u64 = 1_700_000_000;
/// 7999999999: in the year 2223.
const FAR: &[u8; 12] = b"73465447777\0";

/// One entry as a reader sees it: name and link as text (invalid UTF-8 replaced), the type
/// flag, the size Go reports, the owner, the times and the data's sha256.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    name: String,
    typeflag: u8,
    size: i64,
    link: String,
    uid: i64,
    gid: i64,
    mtime: Option<Time>,
    atime: Option<Time>,
    ctime: Option<Time>,
    sha256: String,
}

/// The entries read before the stream ended, and whether it ended in an error.
#[derive(Debug, Clone, PartialEq)]
struct Listing {
    entries: Vec<Entry>,
    error: bool,
}

impl Listing {
    fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }
}

/// What Go's archive/tar reads in `bytes`.
fn go(bytes: &[u8]) -> Listing {
    assert!(
        Path::new(TARLIST).exists(),
        "{TARLIST} is missing: run scripts/testbed.sh, which builds Go's tar lister"
    );
    let mut child = Command::new(TARLIST)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    // Go may stop reading at an error: a closed pipe is not a failure of the test.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success());
    writer.join().unwrap();
    let text = |v: &serde_json::Value| {
        let bytes = hex_decode(v.as_str().unwrap());
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let time = |v: &serde_json::Value| {
        v.as_array().map(|pair| Time {
            seconds: pair[0].as_i64().unwrap(),
            nanos: pair[1].as_u64().unwrap() as u32,
        })
    };
    let mut listing = Listing {
        entries: Vec::new(),
        error: false,
    };
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v.get("end").is_some() {
            return listing;
        }
        if v.get("error").is_some() {
            listing.error = true;
            return listing;
        }
        listing.entries.push(Entry {
            name: text(&v["name"]),
            typeflag: v["typeflag"].as_u64().unwrap() as u8,
            size: v["size"].as_i64().unwrap(),
            link: text(&v["link"]),
            uid: v["uid"].as_i64().unwrap(),
            gid: v["gid"].as_i64().unwrap(),
            mtime: time(&v["mtime"]),
            atime: time(&v["atime"]),
            ctime: time(&v["ctime"]),
            sha256: v["sha256"].as_str().unwrap().to_string(),
        });
    }
    panic!("tarlist stopped without a last line:\n{out}");
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Go's zero time, which it reports as no time at all.
const GO_ZERO: Time = Time {
    seconds: -62_135_596_800,
    nanos: 0,
};

/// What the project's reader reads in `bytes`.
fn ours(bytes: &[u8]) -> Listing {
    let mut tar = TarStream::new(bytes);
    let mut entries = Vec::new();
    let set = |t: Time| (t != GO_ZERO).then_some(t);
    loop {
        let header = match tar.next_header() {
            Ok(Some(h)) => h,
            Ok(None) => {
                return Listing {
                    entries,
                    error: false,
                }
            }
            Err(_) => {
                return Listing {
                    entries,
                    error: true,
                }
            }
        };
        let sha256 = if header.typeflag == b'S' {
            String::new()
        } else {
            let mut data = Vec::new();
            if tar.data().read_to_end(&mut data).is_err() {
                return Listing {
                    entries,
                    error: true,
                };
            }
            format!("{:x}", Sha256::digest(&data))
        };
        entries.push(Entry {
            name: header.path,
            typeflag: header.typeflag,
            size: header.declared_size,
            link: header.link,
            uid: header.uid as i64,
            gid: header.gid as i64,
            mtime: set(header.modified),
            atime: header.accessed.and_then(set),
            ctime: header.changed.and_then(set),
            sha256,
        });
    }
}

/// A raw header block, written field by field; the checksum is computed last.
#[derive(Clone)]
struct Raw([u8; 512]);

impl Raw {
    /// A USTAR (`ustar\0` `00`) or GNU (`ustar  \0`) header with mode 0644 and mtime 1.
    fn new(gnu: bool, name: &str, typeflag: u8, size: usize) -> Raw {
        let mut raw = Raw([0u8; 512]);
        raw.set(0, name.as_bytes())
            .set(100, b"0000644\0")
            .set(108, b"0000000\0")
            .set(116, b"0000000\0")
            .set(124, format!("{size:011o}\0").as_bytes())
            .set(136, b"00000000001\0")
            .set(156, &[typeflag]);
        if gnu {
            raw.set(257, b"ustar  \0");
        } else {
            raw.set(257, b"ustar\0").set(263, b"00");
        }
        raw
    }

    fn set(&mut self, at: usize, bytes: &[u8]) -> &mut Raw {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
        self
    }

    fn block(&self) -> [u8; 512] {
        let mut b = self.0;
        b[148..156].fill(b' ');
        let sum: u32 = b.iter().map(|&x| x as u32).sum();
        b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        b
    }

    /// The block followed by `data`, padded to whole blocks.
    fn with(&self, data: &[u8]) -> Vec<u8> {
        let mut bytes = self.block().to_vec();
        bytes.extend_from_slice(data);
        bytes.resize(bytes.len().div_ceil(512) * 512, 0);
        bytes
    }
}

fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

fn pax(records: &[(&str, &str)]) -> Vec<u8> {
    let data: String = records.iter().map(|(k, v)| pax_record(k, v)).collect();
    Raw::new(false, "PaxHeaders/x", b'x', data.len()).with(data.as_bytes())
}

const STATUS: &str = "Package: apt\nStatus: install ok installed\nPriority: important\nVersion: 2.6.1\nArchitecture: amd64\n\n";
const METADATA: &str = "Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n";
const METADATA_PATH: &str = "usr/lib/python3/dist-packages/evil-1.0.dist-info/METADATA";

/// A GNU header whose atime ends in a tab: Go cannot parse it, so it takes bytes 345–500 as
/// a USTAR prefix and the file is `77777777777\t00000000000/etc/atk-preload`.
fn gnu_atime_with_a_tab() -> Vec<u8> {
    let mut h = Raw::new(true, "etc/atk-preload", b'0', 5);
    h.set(345, b"77777777777\t").set(357, b"00000000000\0");
    [h.with(b"hello"), vec![0; 1024]].concat()
}

/// A symbolic link whose size field covers the next header and its data: Go gives a link no
/// data, and reads the dpkg database after it.
fn symlink_with_a_size() -> Vec<u8> {
    let status = Raw::new(false, "var/lib/dpkg/status", b'0', STATUS.len()).with(STATUS.as_bytes());
    let mut link = Raw::new(false, "usr/bin/apt-get-link", b'2', status.len());
    link.set(157, b"apt-get");
    [link.block().to_vec(), status, vec![0; 1024]].concat()
}

/// An old regular entry (type NUL) named `opt/data/` whose size covers two files from the
/// year 2223: Go reads a directory, with no data, and then both files.
fn nul_type_directory_with_a_size() -> Vec<u8> {
    let mut status = Raw::new(false, "var/lib/dpkg/status", b'0', STATUS.len());
    status.set(136, FAR);
    let mut metadata = Raw::new(false, METADATA_PATH, b'0', METADATA.len());
    metadata.set(136, FAR);
    let inside = [
        status.with(STATUS.as_bytes()),
        metadata.with(METADATA.as_bytes()),
    ]
    .concat();
    let dir = Raw::new(false, "opt/data/", 0, inside.len());
    [dir.block().to_vec(), inside, vec![0; 1024]].concat()
}

/// An empty PAX `mtime=`: Go keeps the header's own (year 2223) time.
fn empty_pax_mtime() -> Vec<u8> {
    let mut file = Raw::new(false, "etc/motd", b'0', 2);
    file.set(136, FAR);
    [pax(&[("mtime", "")]), file.with(b"hi"), vec![0; 1024]].concat()
}

fn clamped(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clamp_times(bytes, &mut out, EPOCH).map(|_| out)
}

/// What Go must read after the clamp: the same entries, each time later than the epoch at it.
fn with_times_clamped(listing: &Listing) -> Listing {
    let limit = Time::from_seconds(EPOCH as i64);
    let clamp = |t: Option<Time>| t.map(|t| t.min(limit));
    Listing {
        entries: listing
            .entries
            .iter()
            .map(|e| Entry {
                mtime: clamp(e.mtime),
                atime: clamp(e.atime),
                ctime: clamp(e.ctime),
                ..e.clone()
            })
            .collect(),
        error: listing.error,
    }
}

/// `inspect --archive` of a save archive around `layer`, as JSON.
fn inspect(layer: &[u8]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let archive = save_archive(dir.path(), "image.tar", layer);
    let out = Command::new(env!("CARGO_BIN_EXE_docker-repro"))
        .args(["inspect", "-q", "--format", "json", "--archive"])
        .arg(&archive)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(report: &serde_json::Value, manager: &str) -> usize {
    report[manager].as_array().map_or(0, Vec::len)
}

/// The clamp trimmed the tab as Rust's `trim` does (Go trims only spaces and NULs), found a
/// time in 2242, rewrote the field as a clean number, and Go then read no prefix: the file
/// moved from `/77777777777\t00000000000/etc/atk-preload` to `/etc/atk-preload`. The clamp
/// leaves bytes Go does not read as a time alone now. (Failed before: the name changed.)
#[test]
fn the_clamp_never_moves_a_file_whose_gnu_atime_go_cannot_parse() {
    let layer = gnu_atime_with_a_tab();
    let before = go(&layer);
    assert_eq!(before.names(), ["77777777777\t00000000000/etc/atk-preload"]);
    assert_eq!(ours(&layer), before);
    let after = go(&clamped(&layer).unwrap());
    assert_eq!(after, with_times_clamped(&before));
}

/// `tarstream` read a symbolic link's size field as data and skipped the dpkg database's
/// header inside it: "apt 0 packages" for an image whose engine creates the database. (Failed
/// before: 0 packages.)
#[test]
fn a_link_with_a_size_hides_no_package_database() {
    let layer = symlink_with_a_size();
    let go_read = go(&layer);
    assert_eq!(
        go_read.names(),
        ["usr/bin/apt-get-link", "var/lib/dpkg/status"]
    );
    assert_eq!(ours(&layer), go_read);
    assert_eq!(count(&inspect(&layer), "apt"), 1);
    assert_eq!(go(&clamped(&layer).unwrap()), with_times_clamped(&go_read));
}

/// A NUL-type entry ending in `/` is a directory to Go, with no data; the inventory and the
/// clamp read its size as data, so two files the engine creates were missed by the inventory
/// and kept their year-2223 times after "file times clamped". (Failed before: 0 packages, and
/// times after the epoch.)
#[test]
fn a_nul_type_directory_with_a_size_hides_no_file_from_the_inventory_or_the_clamp() {
    let layer = nul_type_directory_with_a_size();
    let go_read = go(&layer);
    assert_eq!(
        go_read.names(),
        ["opt/data/", "var/lib/dpkg/status", METADATA_PATH]
    );
    assert_eq!(go_read.entries[0].typeflag, b'5');
    assert_eq!(ours(&layer), go_read);
    let report = inspect(&layer);
    assert_eq!((count(&report, "apt"), count(&report, "pip")), (1, 1));
    let after = go(&clamped(&layer).unwrap());
    assert_eq!(after, with_times_clamped(&go_read));
    assert!(after
        .entries
        .iter()
        .all(|e| e.mtime <= Some(Time::from_seconds(EPOCH as i64))));
}

/// An empty PAX `mtime=` is no time to Go, which keeps the header's own: the clamp refused
/// the layer ("not a number") although the engine takes it. (Failed before: an error.)
#[test]
fn an_empty_pax_mtime_is_the_header_time_and_is_clamped() {
    let layer = empty_pax_mtime();
    let go_read = go(&layer);
    assert!(!go_read.error);
    assert_eq!(
        go_read.entries[0].mtime,
        Some(Time::from_seconds(7_999_999_999))
    );
    assert_eq!(ours(&layer), go_read);
    let after = go(&clamped(&layer).unwrap());
    assert_eq!(after, with_times_clamped(&go_read));
    assert_eq!(
        after.entries[0].mtime,
        Some(Time::from_seconds(EPOCH as i64))
    );
}

/// Layers from the hostile generators here and in `dos.rs`, and tar crate archives with GNU
/// long names, PAX records, links and directories.
fn corpus() -> Vec<Vec<u8>> {
    let mut layers = vec![
        gnu_atime_with_a_tab(),
        symlink_with_a_size(),
        nul_type_directory_with_a_size(),
        empty_pax_mtime(),
        small_layer(),
        zstd::decode_all(&whiteout_layer(20, "x")[..]).unwrap(),
    ];
    let mut link = header("usr/lib/libx.so", b'2', 0, "libx.so.1")
        .as_bytes()
        .to_vec();
    link.extend_from_slice(header("etc/hosts", b'1', 0, "etc/hostname").as_bytes());
    link.extend_from_slice(&[0; 1024]);
    layers.push(link);
    let mut b = tar::Builder::new(Vec::new());
    let long = format!("usr/lib/python3/dist-packages/{}/METADATA", "a".repeat(120));
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_mtime(EPOCH + 7);
    h.set_size(METADATA.len() as u64);
    b.append_data(&mut h, &long, METADATA.as_bytes()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mtime(EPOCH - 7);
    b.append_link(&mut h, "opt/link", "a".repeat(130)).unwrap();
    b.append_pax_extensions([
        ("mtime", &b"1800000000.5"[..]),
        ("atime", b"1600000000"),
        ("path", b"opt/conda/conda-meta/numpy-1.26.4-0.json"),
        ("SCHILY.xattr.user.x", b"y"),
    ])
    .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(2);
    b.append_data(&mut h, "short", &b"{}"[..]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    b.append_data(&mut h, "opt/dir/", &[][..]).unwrap();
    layers.push(b.into_inner().unwrap());
    layers
}

#[test]
fn every_hostile_layer_reads_as_go_reads_it_and_the_clamp_changes_only_times() {
    for (i, layer) in corpus().iter().enumerate() {
        let go_read = go(layer);
        assert!(!go_read.error, "layer {i}: {go_read:?}");
        assert_eq!(ours(layer), go_read, "layer {i}");
        let after = go(&clamped(layer).unwrap());
        assert_eq!(after, with_times_clamped(&go_read), "layer {i}");
    }
}

/// A deterministic pseudo-random sequence (xorshift64*): the same mutants on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Changes one header of `layer` where readers have disagreed: a numeric field's text and
/// padding, the type flag, the magic, a name's trailing slash, a byte of a PAX record; the
/// checksum is mostly made to match again, so that the change gets past it.
fn mutate(layer: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = layer.to_vec();
    let blocks = bytes.len() / 512;
    let at = rng.below(blocks) * 512;
    let numbers: &[&[u8]] = &[
        b"00000000001\0",
        b"0000001000 \0",
        b" 1000\0\0\0\0\0\0\0",
        b"77777777777\t",
        b"77777777777 ",
        b"\t1000\0\0\0\0\0\0\0",
        b"+1000\0\0\0\0\0\0\0",
        b"-1\0\0\0\0\0\0\0\0\0\0",
        b"00000001\x0000",
        b"0000000008\0\0",
        b"\x80\0\0\0\0\0\0\0\0\0\x02\0",
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        b"73465447777\0",
        b"\0\0\0\0\0\0\0\0\0\0\0\0",
        b"            ",
        b"00000001000\0",
        b"00000002000\0",
    ];
    let fields = [
        (100, 8),
        (108, 8),
        (116, 8),
        (124, 12),
        (136, 12),
        (329, 8),
        (337, 8),
        (345, 12),
        (357, 12),
        (476, 12),
        (483, 12),
    ];
    match rng.below(7) {
        0 | 1 => {
            let (start, len) = *rng.pick(&fields);
            let value = rng.pick(numbers);
            let n = len.min(value.len());
            bytes[at + start..at + start + n].copy_from_slice(&value[value.len() - n..]);
        }
        2 => {
            bytes[at + 156] = *rng.pick(&[
                0, b'0', b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'x', b'g', b'L', b'K', b'S',
                b'V', b'D',
            ]);
        }
        3 => {
            let magics = [*b"ustar\x0000", *b"ustar  \0", [0u8; 8], *b"ustar\x00 \0"];
            let magic = *rng.pick(&magics);
            bytes[at + 257..at + 265].copy_from_slice(&magic);
            if rng.below(3) == 0 {
                bytes[at + 508..at + 512].copy_from_slice(b"tar\0");
            }
        }
        4 => {
            let end = bytes[at..at + 100]
                .iter()
                .position(|b| *b == 0)
                .unwrap_or(99);
            bytes[at + end] = b'/';
        }
        _ => {
            let i = at + rng.below(512);
            bytes[i] = *rng.pick(&[
                0, b' ', b'\t', b'\n', b'=', b'/', b'0', b'9', b'.', 0x80, 0xff,
            ]);
        }
    }
    if rng.below(10) != 0 {
        let block = &mut bytes[at..at + 512];
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&x| x as u32).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }
    bytes
}

/// 3000 mutants of the corpus (seeded, so the same on every run). For each, both readers
/// list the same entries and stop with an error at the same place; where Go reads the whole
/// layer, the clamp succeeds and Go reads its output with nothing but times changed.
#[test]
fn three_thousand_mutated_layers_read_as_go_reads_them_and_clamp_alike() {
    let corpus = corpus();
    let mut rng = Rng(0x5eed_7a12_0000_0001);
    let (mut read_whole, mut refused) = (0, 0);
    for n in 0..3000 {
        let seed = rng.pick(&corpus).clone();
        let mut layer = mutate(&seed, &mut rng);
        if rng.below(4) == 0 {
            layer = mutate(&layer, &mut rng);
        }
        let go_read = go(&layer);
        let ours_read = ours(&layer);
        if ours_read != go_read {
            let path = std::env::temp_dir().join(format!("tar-mutant-{n}.tar"));
            std::fs::write(&path, &layer).unwrap();
            panic!(
                "mutant {n} ({}) read otherwise:\n go:   {go_read:?}\n ours: {ours_read:?}",
                path.display()
            );
        }
        if go_read.error {
            refused += 1;
            continue;
        }
        read_whole += 1;
        let out = clamped(&layer).unwrap_or_else(|e| panic!("mutant {n}: the clamp failed: {e}"));
        assert_eq!(go(&out), with_times_clamped(&go_read), "mutant {n}");
    }
    eprintln!("mutants: {read_whole} read whole by Go, {refused} refused by Go");
    // Both kinds are well represented, or the comparison proves little.
    assert!(read_whole > 600 && refused > 300, "{read_whole} {refused}");
}

/// Loads a one-layer image of `layer` (plain tar) into the engine as `name`, creates a
/// container of it (nothing runs) and exports the container's files as the engine unpacked
/// them; the image and container are removed.
fn engine_files(dir: &Path, name: &str, layer: &[u8]) -> Listing {
    let diff_id = format!("sha256:{:x}", Sha256::digest(layer));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/nothing"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    );
    let config_name = format!("{:x}.json", Sha256::digest(config.as_bytes()));
    let manifest =
        format!(r#"[{{"Config":"{config_name}","RepoTags":["{name}"],"Layers":["layer.tar"]}}]"#);
    let archive = dir.join(format!("{}.tar", name.replace([':', '/'], "-")));
    let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    for (member, data) in [
        ("layer.tar", layer),
        (config_name.as_str(), config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, member, data).unwrap();
    }
    b.finish().unwrap();
    drop(b);
    let archive = archive.to_str().unwrap();
    let run = |args: &[&str]| {
        let run = docker(args);
        assert_eq!(run.code, 0, "docker {args:?}: {}", run.stderr);
        run
    };
    run(&["load", "-q", "-i", archive]);
    let container = run(&["create", name]).stdout.trim().to_string();
    let export = dir.join("export.tar");
    let exported = docker(&["export", "-o", export.to_str().unwrap(), &container]);
    run(&["rm", &container]);
    run(&["rmi", name]);
    assert_eq!(exported.code, 0, "docker export: {}", exported.stderr);
    go(&std::fs::read(&export).unwrap())
}

fn file<'a>(listing: &'a Listing, name: &str) -> &'a Entry {
    let found = listing.entries.iter().find(|e| e.name == name);
    found.unwrap_or_else(|| panic!("the engine made no {name:?}: {:?}", listing.names()))
}

/// The real engine, not only its tar library: for each hostile layer and its clamped copy,
/// the container holds the files the inventory reads, at the paths the reader names, and after
/// the clamp at the same paths with times no later than the epoch.
#[test]
fn the_engine_creates_the_files_the_reader_names_and_the_clamp_keeps_them_there() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let epoch = Some(Time::from_seconds(EPOCH as i64));
    let cases: [(&str, Vec<u8>, &[&str]); 4] = [
        (
            "atk",
            gnu_atime_with_a_tab(),
            &["77777777777\t00000000000/etc/atk-preload"],
        ),
        ("link", symlink_with_a_size(), &["var/lib/dpkg/status"]),
        (
            "nul",
            nul_type_directory_with_a_size(),
            &["var/lib/dpkg/status", METADATA_PATH],
        ),
        ("pax", empty_pax_mtime(), &["etc/motd"]),
    ];
    for (name, layer, files) in cases {
        let read = ours(&layer);
        let built = engine_files(dir.path(), &format!("repro-tar-test:{name}"), &layer);
        let clamped_layer = clamped(&layer).unwrap();
        let after = engine_files(
            dir.path(),
            &format!("repro-tar-test:{name}-clamped"),
            &clamped_layer,
        );
        for path in files {
            let ours = read.entries.iter().find(|e| e.name == *path);
            let ours = ours.unwrap_or_else(|| panic!("{name}: the reader has no {path:?}"));
            let (before, clamped) = (file(&built, path), file(&after, path));
            assert_eq!(before.sha256, ours.sha256, "{name}: {path}");
            assert_eq!(clamped.sha256, ours.sha256, "{name}: {path}");
            assert!(
                clamped.mtime <= epoch,
                "{name}: {path}: {:?}",
                clamped.mtime
            );
        }
        assert!(
            !after.names().contains(&"etc/atk-preload"),
            "{name}: the clamp moved a file"
        );
    }
}
