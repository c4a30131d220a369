//! `docker repro init`: writes a new project's layout, never over a file that exists.

use std::io::Write;
use std::path::Path;

use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::image::reference::{check_user_ref, image_name_from_dir};
use crate::project::scaffold::Scaffold;

pub fn run(args: &InitArgs) -> Result<Exit> {
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let dir = match &args.dir {
        Some(d) => cwd.join(d),
        None => cwd,
    };
    let image = match &args.image {
        Some(name) => name.clone(),
        None => image_name_from_dir(&dir),
    };
    check_user_ref("--image", &image)?;
    check_user_ref("--base", &args.base)?;
    let code = match &args.code {
        Some(code) => code.clone(),
        None => image
            .rsplit('/')
            .next()
            .unwrap_or(&image)
            .replace(['-', '.'], "_"),
    };
    let plain = |c: &str| {
        let p = Path::new(c);
        !c.is_empty()
            && p.is_relative()
            && p.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "._-/".contains(ch))
    };
    if !plain(&code) {
        return Err(Error::Usage(format!(
            "--code {}: name a directory inside the project, e.g. --code src",
            crate::ui::escape(&crate::error::clip(&code))
        )));
    }
    let scaffold = Scaffold {
        image,
        code,
        base: args.base.clone(),
        cuda: args.cuda,
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut written = 0;
    for (relative, text) in scaffold.files() {
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        // create_new: a file that exists (or appears meanwhile) is never overwritten.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(text.as_bytes())
                    .map_err(|e| Error::io(&path, e))?;
                written += 1;
                println!(
                    "wrote {}",
                    crate::ui::escape(&relative.display().to_string())
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                eprintln!(
                    "kept {}: it exists, and init never overwrites a file",
                    crate::ui::escape(&relative.display().to_string())
                );
            }
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    if written > 0 {
        eprintln!(
            "next: git init -q && git add -A && git commit -qm environment && docker repro release"
        );
    }
    Ok(Exit::Ok)
}
