//! Writes the seed corpora of the fuzz targets (`fuzz/fuzz_targets/`): for each target, valid
//! inputs of the kind it reads and the hostile ones the hostile tests build (tests/hostile/:
//! a PAX size near 2^64, hard links to a dpkg database, piles of whiteouts, a bomb-shaped
//! layer, a layer under another digest, an archive whose manifest.json and index.json
//! disagree, terminal escapes in names, hostile locks), small enough to mutate quickly.
//!
//!     cargo run --release --locked --example fuzz-seeds -- [DIR]
//!
//! writes `DIR/<target>/seed-*` (DIR defaults to `fuzz/corpus`), replacing earlier seeds and
//! keeping what libFuzzer added. `bench/fuzz.sh` runs it before fuzzing.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const DPKG: &[u8] = b"Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b7\nDescription: GNU Bourne Again SHell\n multi-line\n .\n continued\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n";
const METADATA: &[u8] = b"Metadata-Version: 2.1\nName: Torch_Vision\nVersion: 0.18.1+cu121\nSummary: x\n\nlong description: with colons\n";
const SITE: &str = "usr/lib/python3/dist-packages";

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn blob(digest: &str) -> String {
    format!("blobs/sha256/{}", &digest[7..])
}

/// Named seeds: a file name (after `seed-`) and the bytes.
type Seeds = Vec<(String, Vec<u8>)>;

/// One tar member: path, type flag, data, link target (empty for none).
type Member<'a> = (&'a str, u8, &'a [u8], &'a str);

/// A tar stream of `entries`, GNU headers (long names as GNU `L` entries), after a PAX header
/// of `pax` records when there are any.
fn tar_of(entries: &[Member], pax: &[(&str, &str)]) -> Vec<u8> {
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
        h.set_mtime(1_800_000_000);
        if link.is_empty() {
            b.append_data(&mut h, path, *data).unwrap();
        } else {
            b.append_link(&mut h, path, link).unwrap();
        }
    }
    b.into_inner().unwrap()
}

/// A ustar header block written as given (no PAX, no long name), checksum set.
fn ustar(path: &str, kind: u8, size: u64, link: &str) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::new(kind));
    if !link.is_empty() {
        h.set_link_name(link).unwrap();
    }
    h.set_cksum();
    h.as_bytes().to_vec()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 1).unwrap()
}

/// A layer with something for every reader of the inventory: a dpkg database, Python
/// metadata, whiteouts, libraries, links, a conda record, a CUDA version file by PAX path.
fn layer() -> Vec<u8> {
    let metadata = format!("{SITE}/a-1.dist-info/METADATA");
    let whiteout = format!("{SITE}/.wh.b-1.dist-info");
    tar_of(
        &[
            ("var/lib/dpkg/status", b'0', DPKG, ""),
            (&metadata, b'0', METADATA, ""),
            (&whiteout, b'0', b"", ""),
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

/// The hostile layers of tests/hostile, each a plain tar stream.
fn hostile_layers() -> Vec<(&'static str, Vec<u8>)> {
    // A PAX size of 2^64 - 1536 once wrapped into a seek back onto the PAX header itself.
    let mut pax_wrap = tar_of(&[], &[("size", "18446744073709550080")]);
    pax_wrap.truncate(pax_wrap.len() - 1024);
    pax_wrap.extend(ustar(&blob(&sha256(b"x")), b'0', 0, ""));
    pax_wrap.extend([0; 1024]);
    // A PAX size passes over a GNU long name to the entry after it.
    let long = format!("{SITE}/{}/METADATA", "d".repeat(120));
    let pax_long = tar_of(&[(&long, b'0', METADATA, "")], &[("size", "4")]);
    // Hard links to one dpkg database (120,000 in the test, where the cost per link is the point).
    let mut links = tar_of(&[("var/lib/dpkg/status.d/base", b'0', DPKG, "")], &[]);
    links.truncate(links.len() - 1024);
    for i in 0..100 {
        let path = format!("var/lib/dpkg/status.d/l{i}");
        links.extend(ustar(&path, b'1', 0, "var/lib/dpkg/status.d/base"));
    }
    links.extend([0; 1024]);
    // Whiteouts of long, distinct paths (a million in the test).
    let mut whiteouts = Vec::new();
    for i in 0..60 {
        let path = format!("usr/share/doc/p-{}/.wh.changelog-{i}.Debian.gz", i % 10);
        whiteouts.extend(ustar(&path, b'0', 0, ""));
    }
    whiteouts.extend([0; 1024]);
    // Times past any epoch in every field a clamp reads: ustar, GNU atime/ctime, PAX.
    let mut times = tar::Header::new_gnu();
    times.set_size(0);
    times.set_mtime(0o77777777777);
    times.as_gnu_mut().unwrap().set_atime(0o77777777777);
    times.as_gnu_mut().unwrap().set_ctime(0o77777777777);
    let mut future = tar::Builder::new(Vec::new());
    future
        .append_pax_extensions([
            ("mtime", &b"99999999999.5"[..]),
            ("atime", b"-1"),
            ("ctime", b"1e999"),
        ])
        .unwrap();
    future.append_data(&mut times, "etc/x", &b""[..]).unwrap();
    vec![
        ("pax-size-wrap", pax_wrap),
        ("pax-size-long-name", pax_long),
        ("hard-links", links),
        ("whiteouts", whiteouts),
        ("future-times", future.into_inner().unwrap()),
    ]
}

/// A `docker save` archive of one image around `layer` (stored as given).
fn save_archive(layer: &[u8]) -> Vec<u8> {
    let config = br#"{"architecture":"amd64","os":"linux","config":{"Env":["CUDA_VERSION=12.1.1"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let (l, c) = (blob(&sha256(layer)), blob(&sha256(config)));
    let manifest = format!(r#"[{{"Config":"{c}","RepoTags":["x:1"],"Layers":["{l}"]}}]"#);
    tar_of(
        &[
            (&l, b'0', layer, ""),
            (&c, b'0', config, ""),
            ("manifest.json", b'0', manifest.as_bytes(), ""),
        ],
        &[],
    )
}

/// An OCI image: its blobs (layer, config, manifest) and its manifest's digest.
struct Image {
    blobs: Vec<(String, Vec<u8>)>,
    manifest: String,
}

fn oci_image(layers: &[&[u8]], note: &str) -> Image {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":[]}},"history":[{{"created_by":"{note}"}}]}}"#
    )
    .into_bytes();
    let descriptors: Vec<String> = layers
        .iter()
        .map(|l| format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}"#, sha256(l), l.len()))
        .collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{}]}}"#,
        sha256(&config),
        config.len(),
        descriptors.join(",")
    )
    .into_bytes();
    let digest = sha256(&manifest);
    let mut blobs: Vec<(String, Vec<u8>)> = layers
        .iter()
        .map(|l| (blob(&sha256(l)), l.to_vec()))
        .collect();
    blobs.push((blob(&sha256(&config)), config));
    blobs.push((blob(&digest), manifest));
    Image {
        blobs,
        manifest: digest,
    }
}

fn index_entry(digest: &str, name: &str) -> String {
    format!(
        r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":1,"annotations":{{"io.containerd.image.name":"docker.io/library/{name}","org.opencontainers.image.ref.name":"{}"}}}}"#,
        name.rsplit(':').next().unwrap()
    )
}

fn archive_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let entries: Vec<Member> = members
        .iter()
        .map(|(p, b)| (p.as_str(), b'0', b.as_slice(), ""))
        .collect();
    tar_of(&entries, &[])
}

/// An OCI layout holding `image` named `name` in index.json, with `extra` members.
fn oci_archive(image: &Image, name: &str, extra: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let mut members = image.blobs.clone();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
        index_entry(&image.manifest, name)
    );
    members.push(("index.json".into(), index.into_bytes()));
    members.extend(extra);
    archive_of(&members)
}

/// The hostile archives of tests/hostile/archive.rs and dos.rs, and the valid ones.
fn archives() -> Seeds {
    let layer = layer();
    let mut out = vec![
        ("save-plain".to_string(), save_archive(&layer)),
        ("save-gzip".to_string(), save_archive(&gzip(&layer))),
        ("save-zstd".to_string(), save_archive(&zstd(&layer))),
    ];
    for (name, hostile) in hostile_layers() {
        out.push((format!("save-{name}"), save_archive(&gzip(&hostile))));
    }
    // A bomb-shaped layer: a megabyte of zeros in a few hundred bytes of zstd.
    let mut bomb = ustar("bomb", b'0', 1 << 20, "");
    bomb.resize(bomb.len() + (1 << 20) + 1024, 0);
    out.push(("save-zstd-zeros".into(), save_archive(&zstd(&bomb))));
    // A layer whose bytes are not those its name says: one byte of the gzip mtime changed.
    let mut wrong = save_archive(&gzip(&layer));
    let at = wrong
        .windows(3)
        .position(|w| w == [0x1f, 0x8b, 0x08])
        .unwrap()
        + 4;
    wrong[at] ^= 1;
    out.push(("save-wrong-digest".into(), wrong));
    // manifest.json pointing at another image than index.json.
    let genuine = oci_image(&[&gzip(&layer)], "COPY genuine /");
    let evil = oci_image(&[&gzip(&hostile_layers()[2].1)], "COPY evil /");
    let evil_config = evil.blobs[1].0.clone();
    let evil_layer = evil.blobs[0].0.clone();
    let mut extra = evil.blobs.clone();
    extra.push((
        "manifest.json".into(),
        format!(r#"[{{"Config":"{evil_config}","RepoTags":["victim:latest"],"Layers":["{evil_layer}"]}}]"#)
            .into_bytes(),
    ));
    out.push((
        "oci-manifest-json-elsewhere".into(),
        oci_archive(&genuine, "paper:0123456789ab", extra),
    ));
    // A package name and a history line that write to the terminal.
    let escape = "x\x1b[2J\x1b[H\nverdict: identical\x1b]52;c;cm0gLXJmIH4=\x07";
    let metadata = format!("Metadata-Version: 2.1\nName: {escape}\nVersion: 1.0\n");
    let escape_layer = tar_of(
        &[(
            &format!("{SITE}/x_-1.0.dist-info/METADATA"),
            b'0',
            metadata.as_bytes(),
            "",
        )],
        &[],
    );
    let escaped = oci_image(&[&gzip(&escape_layer)], "COPY x\\u001b[2J /");
    out.push((
        "oci-terminal-escapes".into(),
        oci_archive(&escaped, "paper:1", vec![]),
    ));
    out.push(("oci-plain".into(), oci_archive(&genuine, "paper:1", vec![])));
    out
}

/// An OCI layout of a base and a release sharing a layer, under an index that names the base
/// and a two-platform image index of the release, as `release --archive` writes them; first
/// line the release's manifest digest (what the layout target asks for).
fn layout(layer: &[u8]) -> Vec<u8> {
    let code = b"print(1)\n".as_slice();
    let base = oci_image(&[layer], "base");
    let release = oci_image(&[layer, code], "release");
    let arm = oci_image(&[code], "arm");
    let platform = |digest: &str, arch: &str| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":1,"platform":{{"os":"linux","architecture":"{arch}"}}}}"#
        )
    };
    let nested = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{},{}]}}"#,
        platform(&release.manifest, "amd64"),
        platform(&arm.manifest, "arm64")
    )
    .into_bytes();
    let nested_digest = sha256(&nested);
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{},{}]}}"#,
        index_entry(&base.manifest, "paper:base"),
        index_entry(&nested_digest, "paper:0123").replace("image.manifest.v1", "image.index.v1")
    );
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    for (path, bytes) in base.blobs.into_iter().chain(release.blobs).chain(arm.blobs) {
        if !members.iter().any(|(p, _)| *p == path) {
            members.push((path, bytes));
        }
    }
    members.push((blob(&nested_digest), nested));
    members.push(("index.json".into(), index.into_bytes()));
    let mut input = format!("{}\n", release.manifest).into_bytes();
    input.extend(archive_of(&members));
    input
}

fn fixture(path: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The locks: the fixtures, and the hostile ones of tests/hostile/repo.rs (a context and a
/// source path out of the repository, remotes git would run, a huge one-line value, a newer
/// version, escapes in names).
fn locks() -> Seeds {
    let sample = String::from_utf8(fixture("tests/fixtures/sample.lock")).unwrap();
    let mut out = vec![
        ("sample".to_string(), sample.clone().into_bytes()),
        (
            "sample-multi".to_string(),
            fixture("tests/fixtures/sample-multi.lock"),
        ),
    ];
    for (name, from, to) in [
        ("context-out", "context = \".\"", "context = \"../../etc\""),
        ("path-out", "path = \".\"", "path = \"../sub\""),
        (
            "remote-ext",
            "https://example.org/lab/curvenet.git",
            "ext::sh -c touch% /tmp/pwned",
        ),
        (
            "remote-fd",
            "https://example.org/lab/curvenet.git",
            "fd::17",
        ),
        ("version-2", "version = 1", "version = 2"),
        (
            "dockerfile-abs",
            "path = \"Dockerfile\"",
            "path = \"/etc/passwd\"",
        ),
        (
            "name-escape",
            "curvenet:0123456789ab",
            "curvenet\\u001b[2J:1",
        ),
        (
            "dirty-newline",
            "dirty = false",
            "dirty = true\ndirty_files = [\"a\\nb\"]",
        ),
    ] {
        assert!(sample.contains(from), "{name}: {from}");
        out.push((name.to_string(), sample.replacen(from, to, 1).into_bytes()));
    }
    let huge = format!("version = 1\ncommit = \"{}", "a".repeat(32 << 10));
    out.push(("huge-line".into(), huge.into_bytes()));
    out
}

/// The Dockerfiles: the example project's, the documents' (tests/fixtures/seeds/), one with
/// every construct the reader knows, and the shapes tests/dockerfile_props.rs bounds.
fn dockerfiles() -> Seeds {
    let mut out = vec![
        ("curvenet-base".to_string(), fixture("examples/curvenet/docker/Dockerfile.base")),
        ("curvenet-release".to_string(), fixture("examples/curvenet/docker/Dockerfile.release")),
        ("multiplatform".to_string(), fixture("tests/fixtures/multiplatform/Dockerfile")),
        (
            "constructs".to_string(),
            b"# syntax=docker/dockerfile:1\n# escape=`\nARG PY=3.11\nFROM python:${PY}-slim@sha256:aa AS base\nRUN apt-get update && `\n    apt-get install -y curl=7.88 `\n # comment\n && pip install x==1\nCOPY --chmod=644 <<EOF /etc/x\nhello\nEOF\nFROM base\nENV A=1 B=\"two words\"\n".to_vec(),
        ),
    ];
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seeds");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&seeds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    names.sort();
    for path in names {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        out.push((name, std::fs::read(&path).unwrap()));
    }
    let mut stages = String::from("ARG V=1\nFROM alpine:3.19 AS s0\n");
    for i in 1..50 {
        stages.push_str(&format!(
            "FROM s{} AS s{i}\nENV A{i}=1\nCOPY --from=s{} /a /a\nRUN --mount=from=s{},target=/m pip install numpy\n",
            i - 1,
            i - 1,
            i - 1
        ));
    }
    out.push(("stages".into(), stages.into_bytes()));
    let depth = 200;
    out.push((
        "nesting".into(),
        format!(
            "FROM a\nRUN echo {}x{} {}true{}\n",
            "${A:-".repeat(depth),
            "}".repeat(depth),
            "$(".repeat(depth),
            ")".repeat(depth)
        )
        .into_bytes(),
    ));
    out
}

/// Image configs as BuildKit 0.13 and 0.25 wrote them for one Dockerfile (measured on the test
/// bed), each alone and followed by a NUL and the history of the base they stand on.
/// Layers for the parallel encoder: nothing, a byte, text past a gzip block of one thread, and
/// bytes that do not compress (each after the two bytes that pick the cut of the writes).
fn encoder() -> Seeds {
    let text: Vec<u8> = b"the same line again and again\n".repeat(1200);
    let mut state = 0x9e37_79b9_u32;
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    vec![
        ("empty".to_string(), vec![]),
        ("one-byte".to_string(), vec![7, 0, b'x']),
        ("text".to_string(), [&[200u8, 0][..], &text].concat()),
        ("noise".to_string(), [&[1u8, 1][..], &noise].concat()),
    ]
}

fn canonical() -> Seeds {
    let base = r#"[{"created":"2026-12-05T23:41:34.821689076Z","comment":"Imported from -"}]"#;
    let config = |created: &str, sde: &str, args: &str| {
        format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/sh"],"Env":["PATH=/bin","A=b"],"WorkingDir":"/app"}},"created":"2024-05-01T12:00:00Z","history":[{{"comment":"Imported from -","created":"{created}"}},{{"comment":"buildkit.dockerfile.v0","created":"2024-05-01T12:00:00Z","created_by":"{sde}","empty_layer":true}},{{"comment":"buildkit.dockerfile.v0","created":"2024-05-01T12:00:00Z","created_by":"{args}","empty_layer":true}},{{"comment":"buildkit.dockerfile.v0","created":"2024-05-01T12:00:00Z","created_by":"WORKDIR /app"}},{{"comment":"buildkit.dockerfile.v0","created":"2024-05-01T12:00:00Z","created_by":"RUN |2 SOURCE_DATE_EPOCH=1714564800 FOO=foo /bin/sh -c echo $FOO \u003e /x # buildkit"}}],"rootfs":{{"type":"layers","diff_ids":["sha256:df5276e62a8cdf2725cd1cdbc2a0aa3bcf91d17530912da7861693a518fb98c5"]}}}}"#
        )
    };
    let old = config(
        "2024-05-01T12:00:00Z",
        "ARG SOURCE_DATE_EPOCH",
        "ARG FOO BAR=dflt",
    );
    let new = config(
        "2026-12-05T23:41:34.821689076Z",
        "ARG SOURCE_DATE_EPOCH=1714564800",
        "ARG FOO=foo BAR=dflt",
    );
    let with_base = |c: &str| [c.as_bytes(), b"\0", base.as_bytes()].concat();
    vec![
        ("buildkit-0.13".to_string(), old.clone().into_bytes()),
        ("buildkit-0.25".to_string(), new.clone().into_bytes()),
        ("buildkit-0.13-on-base".to_string(), with_base(&old)),
        ("buildkit-0.25-on-base".to_string(), with_base(&new)),
    ]
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus"));
    let layer = layer();
    let mut tars = vec![
        ("layer".to_string(), layer.clone()),
        ("buildkit-copy".to_string(), {
            let mut plain = Vec::new();
            let gz = fixture("tests/fixtures/layers/buildkit-copy.tar.gz");
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain)
                .unwrap();
            plain
        }),
    ];
    tars.extend(
        hostile_layers()
            .into_iter()
            .map(|(n, b)| (n.to_string(), b)),
    );
    let archives = archives();
    let mut tarstream = tars.clone();
    tarstream.extend(archives.iter().take(2).cloned());
    let layouts = vec![
        ("plain".to_string(), layout(&layer)),
        ("gzip".to_string(), layout(&gzip(&layer))),
        ("zstd".to_string(), layout(&zstd(&layer))),
    ];
    let metadata = vec![
        ("torchvision".to_string(), METADATA.to_vec()),
        ("crlf".to_string(), b"Name: a\r\nVersion: 1\r\n".to_vec()),
    ];
    let dpkg = vec![
        ("status".to_string(), DPKG.to_vec()),
        (
            "status-d".to_string(),
            b"Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\nSource: glibc (2.36-9)\n"
                .to_vec(),
        ),
    ];
    let dockerfiles = dockerfiles();
    let corpora: Vec<(&str, Seeds)> = vec![
        ("tarstream", tarstream),
        ("retime", tars),
        ("archive", archives),
        ("layout", layouts),
        ("lock", locks()),
        ("dpkg", dpkg),
        ("metadata", metadata),
        ("dockerfile", dockerfiles.clone()),
        ("check", dockerfiles),
        ("canonical", canonical()),
        ("encoder", encoder()),
    ];
    for (target, seeds) in corpora {
        let target_dir = dir.join(target);
        std::fs::create_dir_all(&target_dir)
            .unwrap_or_else(|e| panic!("{}: {e}", target_dir.display()));
        for (name, bytes) in &seeds {
            std::fs::write(target_dir.join(format!("seed-{name}")), bytes).unwrap();
        }
        eprintln!(
            "{target}: {} seeds in {}",
            seeds.len(),
            target_dir.display()
        );
    }
}
