#!/usr/bin/env python3
"""A real conda environment made offline, for the conda-explicit end-to-end test.

The test bed runs it in a virtual environment holding py-rattler-build (to assemble the
packages), py-rattler (to index the channel, solve, and install) from PyPI: no conda channel
is reachable from here, so the channel is a local directory of packages this script assembles.

  conda-env.py channel DIR               assemble a few small packages into DIR and index it
  conda-env.py install DIR PREFIX SPEC…  solve SPECs against the channel and install them
  conda-env.py recreate DIR FILE PREFIX  install exactly the packages an @EXPLICIT file names,
                                         each checked against the channel's hash for its URL
  conda-env.py records PREFIX            the installed records (conda-meta), as sorted JSON
"""

import asyncio
import datetime
import hashlib
import json
import os
import pathlib
import sys
import tempfile

# Fixed, so that the channel's packages (and their hashes) are the same on every machine.
EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)

# name, version, subdir, build, depends, files
PACKAGES = [
    ("lab-data", "1.0", "noarch", "h0_0", [], {"share/lab-data/README": "lab data\n"}),
    ("lab-zlib", "1.3.1", "linux-64", "h1a2b3c4_0", [], {"lib/liblabz.so.1": "not a library\n"}),
    ("lab-tools", "1.0", "linux-64", "h5d6e7f8_0", ["lab-zlib >=1.3"], {"bin/lab-tool": "#!/bin/sh\necho 1.0\n"}),
    ("lab-tools", "2.0", "linux-64", "h5d6e7f8_0", ["lab-zlib >=1.3", "lab-data"], {"bin/lab-tool": "#!/bin/sh\necho 2.0\n"}),
    ("cuda-version", "12.4", "noarch", "h3060b56_3", [], {"share/cuda-version/12.4": "12.4\n"}),
]


def make_channel(channel: pathlib.Path) -> None:
    from rattler import index
    from rattler.platform import Platform
    from rattler_build import assemble_package

    for subdir in ("noarch", "linux-64"):
        (channel / subdir).mkdir(parents=True, exist_ok=True)
    for name, version, subdir, build, depends, files in PACKAGES:
        with tempfile.TemporaryDirectory() as staged:
            for rel, text in files.items():
                path = pathlib.Path(staged, rel)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                if rel.startswith("bin/"):
                    path.chmod(0o755)
            assemble_package(
                name=name,
                version=version,
                target_platform=subdir,
                build_string=build,
                output_dir=channel / subdir,
                files_dir=staged,
                depends=depends,
                noarch="generic" if subdir == "noarch" else None,
                license="MIT",
                summary=f"{name}, a test package of docker repro",
                timestamp=EPOCH,
                detect_prefix=False,
            )
    for subdir in ("noarch", "linux-64"):
        asyncio.run(index.index_fs(channel, target_platform=Platform(subdir), write_shards=False, force=True))


def channel_records(channel: pathlib.Path):
    from rattler import Channel, RepoData

    records = []
    for subdir in ("noarch", "linux-64"):
        repodata = RepoData.from_path(channel / subdir / "repodata.json")
        records += repodata.into_repo_data(Channel(channel.as_uri()))
    return records


def install(channel: pathlib.Path, prefix: pathlib.Path, specs) -> None:
    import rattler

    records = asyncio.run(
        rattler.solve(
            sources=[channel.as_uri()],
            specs=specs,
            platforms=["linux-64", "noarch"],
            timestamp_policy="allow-missing",
        )
    )
    link(records, prefix)


def link(records, prefix: pathlib.Path) -> None:
    """Installs with py-rattler, its package cache a temporary directory (not left in the
    environment's build context)."""
    import rattler

    with tempfile.TemporaryDirectory() as cache:
        asyncio.run(rattler.install(records, target_prefix=prefix, cache_dir=pathlib.Path(cache), show_progress=False))


def recreate(channel: pathlib.Path, explicit: pathlib.Path, prefix: pathlib.Path) -> None:
    from rattler.explicit_environment import ExplicitEnvironmentSpec

    spec = ExplicitEnvironmentSpec.from_path(explicit)
    by_url = {str(r.url): r for r in channel_records(channel)}
    chosen = []
    for entry in spec.packages:
        url, _, fragment = entry.url.partition("#")
        record = by_url.get(url)
        if record is None:
            sys.exit(f"{explicit}: {url} is not in the channel {channel}")
        algorithm, _, digest = fragment.rpartition(":")
        want = record.sha256.hex() if algorithm == "sha256" else record.md5.hex()
        if digest != want:
            sys.exit(f"{explicit}: {url} has {fragment!r}, the channel has {want}")
        chosen.append(record)
    link(chosen, prefix)


def records(prefix: pathlib.Path) -> None:
    out = []
    for meta in sorted((prefix / "conda-meta").glob("*.json")):
        record = json.loads(meta.read_text())
        out.append({key: record.get(key) for key in ("name", "version", "build", "subdir", "url", "sha256", "md5")})
        # What the record says it installed is there, byte for byte.
        for path in record.get("paths_data", {}).get("paths", []):
            data = (prefix / path["_path"]).read_bytes()
            if path.get("sha256") and hashlib.sha256(data).hexdigest() != path["sha256"]:
                sys.exit(f"{prefix}/{path['_path']} does not match its record")
    print(json.dumps(sorted(out, key=lambda r: r["name"]), indent=1, sort_keys=True))


def main(argv) -> None:
    match argv:
        case ["channel", channel]:
            make_channel(pathlib.Path(channel).resolve())
        case ["install", channel, prefix, *specs] if specs:
            install(pathlib.Path(channel).resolve(), pathlib.Path(prefix).resolve(), specs)
        case ["recreate", channel, explicit, prefix]:
            recreate(pathlib.Path(channel).resolve(), pathlib.Path(explicit), pathlib.Path(prefix).resolve())
        case ["records", prefix]:
            records(pathlib.Path(prefix))
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
    # Everything is written and awaited by now; py-rattler-build's native threads may still
    # touch the interpreter while it finalizes and crash it (a segfault or a GIL abort, about
    # one run in three), so the process ends here without finalizing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
