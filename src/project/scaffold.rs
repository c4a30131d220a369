//! The files `docker repro init` writes: the base/dev/release layout of the workflow, written so
//! that `docker repro check` finds nothing in it and `docker repro release` can cut it as is.

use std::path::PathBuf;

/// What the layout is made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaffold {
    /// The image name: `<image>:base`, `<image>:<commit>`.
    pub image: String,
    /// The directory of the code, relative to the project (copied by the release).
    pub code: String,
    /// The base image the environment starts from.
    pub base: String,
    /// A GPU project: PyTorch's CUDA wheels in the requirements.
    pub cuda: bool,
}

/// The base image of a new project: Python on Debian, with nothing else in it.
pub const DEFAULT_BASE: &str = "python:3.11-slim-bookworm";

impl Scaffold {
    /// Each file's path in the project and its text, in the order they are listed.
    pub fn files(&self) -> Vec<(PathBuf, String)> {
        let Scaffold { image, code, .. } = self;
        vec![
            ("docker/Dockerfile.base".into(), self.base_dockerfile()),
            (
                "docker/Dockerfile.release".into(),
                format!(
                    "\
# The release: the base plus the code, cut once per experiment or paper by `docker repro release`,
# which pins {image}:base by digest and records it in repro.lock.
FROM {image}:base

COPY {code} /workspace/{code}
WORKDIR /workspace/{code}

CMD [\"python3\", \"train.py\"]
"
                ),
            ),
            ("requirements.txt".into(), self.requirements()),
            (
                format!("{code}/train.py").into(),
                "\
# The experiment's entry point: `docker repro run` runs it in the released image.
print(\"training\")
"
                .into(),
            ),
            (
                ".dockerignore".into(),
                "\
# What the build never needs: history, bytecode, data and outputs.
.git
**/__pycache__
*.pyc
data/
outputs/
"
                .into(),
            ),
            (
                ".gitignore".into(),
                "\
# Generated while you work: never part of a release (which is built from the commit).
__pycache__/
*.pyc
outputs/
"
                .into(),
            ),
            (
                "repro.toml".into(),
                format!(
                    "\
# Defaults of `docker repro release` (flags win); every key is in the README.
[release]
image = \"{image}\"
file = \"docker/Dockerfile.release\"
base_file = \"docker/Dockerfile.base\"
context = \".\"
# A lab behind its own package index passes its credentials as a BuildKit secret, never a
# build argument (the lock records the id only):
# secrets = [\"id=pip_index,src=/etc/lab/pip.netrc\"]
"
                ),
            ),
        ]
    }

    fn base_dockerfile(&self) -> String {
        let cuda = if self.cuda {
            "# CUDA comes with PyTorch's wheels (requirements.txt): the image needs an NVIDIA driver on the
# host, and `docker repro run` checks it against NVIDIA's tables before a run.
"
        } else {
            ""
        };
        format!(
            "\
# The environment: system, Python and the project's dependencies, no project code.
# Built once and kept; the code is bind-mounted while you work and copied by the release.
# `docker repro release` pins this base by digest in repro.lock; pin it here too
# (FROM {base}@sha256:..., `docker buildx imagetools inspect {base}` prints it) so
# that a plain `docker build` gets the same one.
FROM {base}
{cuda}
ENV LANG=C.UTF-8
# A distribution's own Python (Debian 12, Ubuntu 23.04 and later) refuses a pip install into
# the system without this; python:* images ignore it.
ENV PIP_BREAK_SYSTEM_PACKAGES=1
# In scope of pip, so the .pyc files it writes are hash-based, not stamped with the build time.
ARG SOURCE_DATE_EPOCH
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

WORKDIR /workspace
",
            base = self.base
        )
    }

    fn requirements(&self) -> String {
        let mut text = String::from(
            "\
# The project's Python dependencies, each pinned with == (better: pip-compile --generate-hashes,
# then `pip install --require-hashes`), so the environment can be built again.
",
        );
        if self.cuda {
            text.push_str(
                "\
# PyTorch's Linux wheels bring CUDA 12.4 as nvidia-*-cu12 wheels: the image needs CUDA 12.4
# (an NVIDIA driver >= 525.60.13).
torch==2.5.1
",
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaffold(cuda: bool) -> Scaffold {
        Scaffold {
            image: "curvenet".into(),
            code: "curvenet".into(),
            base: DEFAULT_BASE.into(),
            cuda,
        }
    }

    #[test]
    fn the_seed_layout_with_the_code_copied_where_the_release_runs_it() {
        let files = scaffold(false).files();
        let paths: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
        assert_eq!(
            paths,
            [
                "docker/Dockerfile.base",
                "docker/Dockerfile.release",
                "requirements.txt",
                "curvenet/train.py",
                ".dockerignore",
                ".gitignore",
                "repro.toml"
            ]
        );
        let release = &files[1].1;
        assert!(release.contains("FROM curvenet:base\n\nCOPY curvenet /workspace/curvenet\nWORKDIR /workspace/curvenet\n"), "{release}");
        assert!(files[0].1.contains("FROM python:3.11-slim-bookworm\n"));
        assert!(!files[2].1.contains("torch"));
        // The repro.toml is one `release` reads.
        let config: toml::Value = toml::from_str(&files[6].1).unwrap();
        assert_eq!(config["release"]["image"].as_str(), Some("curvenet"));
    }

    #[test]
    fn the_cuda_variant_pins_pytorch_and_says_what_driver_it_needs() {
        let files = scaffold(true).files();
        assert!(files[2].1.contains("\ntorch==2.5.1\n"), "{}", files[2].1);
        assert!(files[0].1.contains("NVIDIA driver"), "{}", files[0].1);
    }
}
