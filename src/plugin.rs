//! The Docker CLI plugin protocol: the metadata answer, and the argv docker hands us.
//!
//! docker runs a plugin with its own argv minus the program name, so `docker --context x -D
//! repro verify` reaches us as `--context x -D repro verify`. The global flags before `repro`
//! are stripped by position and forwarded verbatim to every `docker` command the plugin runs.

use serde::Serialize;

pub const METADATA_SUBCOMMAND: &str = "docker-cli-plugin-metadata";
pub const PLUGIN_NAME: &str = "repro";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    pub schema_version: &'static str,
    pub vendor: &'static str,
    pub version: &'static str,
    pub short_description: &'static str,
    #[serde(rename = "URL")]
    pub url: &'static str,
}

pub const METADATA: Metadata = Metadata {
    schema_version: "0.1.0",
    vendor: "docker repro",
    version: env!("CARGO_PKG_VERSION"),
    short_description: "Reproducible releases: lock, rebuild and verify images byte for byte",
    url: env!("CARGO_PKG_REPOSITORY"),
};

pub fn metadata_json() -> String {
    serde_json::to_string_pretty(&METADATA).expect("static metadata serializes")
}

/// docker's global flags that take a value (`--flag value` or `--flag=value`).
const VALUE_FLAGS: &[&str] = &[
    "--config",
    "-c",
    "--context",
    "-H",
    "--host",
    "-l",
    "--log-level",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];
/// docker's global flags without a value (`--tlsverify=false` is also accepted).
const BOOL_FLAGS: &[&str] = &["-D", "--debug", "--tls", "--tlsverify"];

/// What the argv asks for, once docker's part is taken off.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `docker-cli-plugin-metadata`: print the metadata and nothing else.
    Metadata,
    /// Run a command: `args` start with the program name, ready for clap.
    Command {
        globals: Vec<String>,
        args: Vec<String>,
    },
}

/// Splits argv (without argv[0]) into docker's global flags and our own arguments.
pub fn parse_argv(argv: &[String]) -> Invocation {
    let mut globals = Vec::new();
    let mut i = 0;
    while i < argv.len() {
        let arg = argv[i].as_str();
        let name = arg.split_once('=').map_or(arg, |(n, _)| n);
        if VALUE_FLAGS.contains(&name) {
            globals.push(arg.to_string());
            if !arg.contains('=') {
                if let Some(value) = argv.get(i + 1) {
                    globals.push(value.clone());
                    i += 1;
                }
            }
        } else if BOOL_FLAGS.contains(&name) {
            globals.push(arg.to_string());
        } else {
            break;
        }
        i += 1;
    }
    let rest = &argv[i..];
    let mut args = vec![format!("docker {PLUGIN_NAME}")];
    match rest {
        [first, ..] if first == METADATA_SUBCOMMAND => return Invocation::Metadata,
        [help, plugin, sub @ ..] if help == "help" && plugin == PLUGIN_NAME => {
            args.extend(sub.iter().cloned());
            args.push("--help".into());
        }
        [plugin, more @ ..] if plugin == PLUGIN_NAME => args.extend(more.iter().cloned()),
        // Run directly as `docker-repro ARGS`.
        other => args.extend(other.iter().cloned()),
    }
    Invocation::Command { globals, args }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn command(s: &str) -> (Vec<String>, Vec<String>) {
        match parse_argv(&argv(s)) {
            Invocation::Command { globals, args } => (globals, args[1..].to_vec()),
            Invocation::Metadata => panic!("metadata for {s}"),
        }
    }

    #[test]
    fn metadata_is_recognised_only_as_the_subcommand() {
        assert_eq!(
            parse_argv(&argv("docker-cli-plugin-metadata")),
            Invocation::Metadata
        );
        assert_ne!(
            parse_argv(&argv("repro docker-cli-plugin-metadata")),
            Invocation::Metadata
        );
    }

    #[test]
    fn plain_plugin_invocation() {
        assert_eq!(
            command("repro verify --rebuild"),
            (vec![], argv("verify --rebuild"))
        );
    }

    #[test]
    fn global_flags_are_stripped_by_position_and_kept_verbatim() {
        let (globals, args) =
            command("--context ci -D -H=unix:///x.sock --tlsverify=false --config /c repro release --context sub");
        assert_eq!(
            globals,
            argv("--context ci -D -H=unix:///x.sock --tlsverify=false --config /c")
        );
        // The subcommand's own --context is ours, not docker's.
        assert_eq!(args, argv("release --context sub"));
    }

    #[test]
    fn short_value_flags() {
        let (globals, args) = command("-c ci -l debug repro lock");
        assert_eq!(globals, argv("-c ci -l debug"));
        assert_eq!(args, argv("lock"));
    }

    #[test]
    fn help_repro_and_help_repro_sub() {
        assert_eq!(command("help repro"), (vec![], argv("--help")));
        assert_eq!(
            command("-D help repro verify"),
            (argv("-D"), argv("verify --help"))
        );
    }

    #[test]
    fn direct_invocation_without_plugin_name() {
        assert_eq!(
            command("release --allow-dirty"),
            (vec![], argv("release --allow-dirty"))
        );
        assert_eq!(command(""), (vec![], vec![]));
    }

    #[test]
    fn metadata_has_the_protocol_keys_and_no_experimental() {
        let v: serde_json::Value = serde_json::from_str(&metadata_json()).unwrap();
        assert_eq!(v["SchemaVersion"], "0.1.0");
        assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
        assert!(v.get("Experimental").is_none());
        assert!(v["URL"].as_str().unwrap().starts_with("https://"));
    }
}
