//! `rm` and `find -delete`: the caches, logs and bytecode a RUN removes, which silence the
//! other families' rules for that RUN.

use super::{Invocation, RunFacts};

/// `rm`: notes the caches, logs and bytecode the RUN removes.
pub(in crate::check) fn note_rm(c: &Invocation, facts: &mut RunFacts) {
    let args = &c.args;
    for a in args {
        if a.contains("/var/lib/apt/lists") {
            facts.lists_cleaned = true;
        }
        if a.contains("/var/log") {
            facts.logs_cleaned = true;
        }
        if a.contains(".cache/pip")
            || a.ends_with(".cache")
            || a.ends_with(".cache/")
            || a.ends_with(".cache/*")
        {
            facts.pip_cache_cleaned = true;
            facts.uv_cache_cleaned = true;
        }
        if a.contains(".cache/uv") {
            facts.uv_cache_cleaned = true;
        }
        if a.contains("/pkgs") {
            facts.conda_cleaned = true;
        }
        if a.contains("__pycache__") || a.contains(".pyc") {
            facts.pyc_removed = true;
        }
    }
}

/// `find … -delete` (or `-exec rm`): notes the caches, logs and bytecode the RUN removes.
pub(in crate::check) fn note_find(c: &Invocation, facts: &mut RunFacts) {
    let args = &c.args;
    for a in args.iter().take_while(|a| !a.starts_with('-')) {
        if a.contains("/var/lib/apt/lists") {
            facts.lists_cleaned = true;
        }
        if a.contains("/var/log") {
            facts.logs_cleaned = true;
        }
        if a.contains(".cache") {
            facts.pip_cache_cleaned = true;
            facts.uv_cache_cleaned = true;
        }
    }
    let text = args.join(" ");
    if (text.contains(".pyc") || text.contains("__pycache__"))
        && (text.contains("-delete") || text.contains("rm"))
    {
        facts.pyc_removed = true;
    }
    if text.contains("/var/log")
        && (text.contains("-delete") || text.contains("rm") || text.contains("truncate"))
    {
        facts.logs_cleaned = true;
    }
}
