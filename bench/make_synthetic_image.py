"""Writes the layers of a synthetic deep-learning image into a build context: a dpkg
database of 350 packages, 220 Python distributions (torch and nvidia-*-cu12 wheels among
them), a CUDA 12.1 toolkit tree with cuDNN and NCCL, and large shared-library stand-ins.

Library bytes are half random and half repetitive text, so they compress about 2:1, close to
real CUDA libraries; with all-random bytes inflate would be memcpy and flatter the numbers.

Usage: make_synthetic_image.py CONTEXT_DIR [TOTAL_MIB]"""
import io
import os
import random
import sys
import tarfile

rng = random.Random(1234)
MIB = 1 << 20


def blob_stream(size):
    """Yields `size` bytes in 1 MiB chunks, half random, half repetitive."""
    pattern = (b"cudaLaunchKernel sm_90 sm_89 sm_80 PTX .text .rodata " * 20000)[: MIB // 2]
    left = size
    while left > 0:
        chunk = rng.randbytes(MIB // 2) + pattern
        yield chunk[: min(left, MIB)]
        left -= MIB


class StreamReader(io.RawIOBase):
    def __init__(self, size):
        self.gen = blob_stream(size)
        self.buf = b""

    def readable(self):
        return True

    def readinto(self, b):
        while len(self.buf) < len(b):
            try:
                self.buf += next(self.gen)
            except StopIteration:
                break
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


def add_bytes(tar, path, data, mode=0o644):
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mode = mode
    info.mtime = 1700000000
    tar.addfile(info, io.BytesIO(data))


def add_big(tar, path, size):
    info = tarfile.TarInfo(path)
    info.size = size
    info.mode = 0o755
    info.mtime = 1700000000
    tar.addfile(info, io.BufferedReader(StreamReader(size), buffer_size=MIB))


def dpkg_layer(tar):
    paragraphs = []
    for i in range(350):
        name = f"libsynthetic{i:03d}"
        paragraphs.append(
            f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
            f"Installed-Size: {100 + i}\nMaintainer: Synthetic <synthetic@example.org>\n"
            f"Architecture: amd64\nMulti-Arch: same\nSource: synthetic-src{i // 4:03d}\n"
            f"Version: {1 + i % 7}.{i % 13}.{i}-1\nDepends: libc6 (>= 2.34)\n"
            f"Description: synthetic package {i}\n This is package {i} of the benchmark image.\n"
        )
        add_bytes(tar, f"usr/share/doc/{name}/copyright", f"Copyright {i}\n".encode() * 40)
    add_bytes(tar, "var/lib/dpkg/status", "\n".join(paragraphs).encode())


def cuda_layer(tar, budget):
    root = "usr/local/cuda-12.1"
    add_bytes(tar, f"{root}/version.json", b'{"cuda": {"name": "CUDA SDK", "version": "12.1.1"}}\n')
    add_bytes(tar, "usr/include/x86_64-linux-gnu/cudnn_version_v8.h", b"#define CUDNN_MAJOR 8\n#define CUDNN_MINOR 9\n#define CUDNN_PATCHLEVEL 7\n")
    libs = [
        (f"{root}/targets/x86_64-linux/lib/libcudart.so.12.1.105", 0.07),
        (f"{root}/targets/x86_64-linux/lib/libcublasLt.so.12.1.3.1", 0.35),
        ("usr/lib/x86_64-linux-gnu/libcudnn.so.8.9.7", 0.42),
        ("usr/lib/x86_64-linux-gnu/libnccl.so.2.18.3", 0.16),
    ]
    for path, share in libs:
        add_big(tar, path, int(budget * share))
    for i in range(400):
        add_bytes(tar, f"{root}/include/synthetic_{i:03d}.h", f"// header {i}\n".encode() * 200)


def python_layer(tar, budget):
    site = "usr/local/lib/python3.10/dist-packages"
    names = [f"synthetic-pkg-{i:03d}" for i in range(210)] + [
        "nvidia-cublas-cu12", "nvidia-cudnn-cu12", "nvidia-nccl-cu12", "nvidia-cuda-runtime-cu12",
        "numpy", "torch", "triton", "sympy", "filelock", "jinja2",
    ]
    for i, name in enumerate(names):
        version = {"torch": "2.1.0+cu121", "numpy": "1.26.4"}.get(name, f"{1 + i % 5}.{i % 11}.{i}")
        dist = f"{site}/{name.replace('-', '_')}-{version}.dist-info"
        add_bytes(tar, f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: synthetic\n\n{'long description ' * 200}\n".encode())
        add_bytes(tar, f"{dist}/INSTALLER", b"pip\n")
        add_bytes(tar, f"{dist}/RECORD", f"{name}/__init__.py,,\n".encode() * 50)
        for j in range(10):
            add_bytes(tar, f"{site}/{name.replace('-', '_')}/mod{j}.py", f"# module {j} of {name}\nVALUE = {j}\n".encode() * 100)
    add_bytes(tar, f"{site}/torch/version.py", b"__version__ = '2.1.0+cu121'\ndebug = False\ncuda: Optional[str] = '12.1'\n")
    add_big(tar, f"{site}/torch/lib/libtorch_cuda.so", budget)


def main():
    context = sys.argv[1]
    total = int(sys.argv[2]) * MIB if len(sys.argv) > 2 else 2300 * MIB
    os.makedirs(context, exist_ok=True)
    for name, build in [
        ("01-dpkg.tar", dpkg_layer),
        ("02-cuda.tar", lambda t: cuda_layer(t, int(total * 0.65))),
        ("03-python.tar", lambda t: python_layer(t, int(total * 0.33))),
    ]:
        with tarfile.open(os.path.join(context, name), "w", format=tarfile.GNU_FORMAT) as tar:
            build(tar)
    layers = sum(os.path.getsize(os.path.join(context, n)) for n in ("01-dpkg.tar", "02-cuda.tar", "03-python.tar"))
    with open(os.path.join(context, "Dockerfile"), "w") as f:
        f.write("FROM scratch\nADD 01-dpkg.tar /\nADD 02-cuda.tar /\nADD 03-python.tar /\n"
                f"LABEL org.docker-repro.bench.uncompressed-bytes={layers}\n"
                "ENV CUDA_VERSION=12.1.1 NV_CUDNN_VERSION=8.9.7.29 NCCL_VERSION=2.18.3-1\n"
                "ENV NVIDIA_REQUIRE_CUDA=\"cuda>=12.1 brand=tesla,driver>=470,driver<471\"\n")


if __name__ == "__main__":
    main()
