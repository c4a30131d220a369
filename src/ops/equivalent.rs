//! The second verdict of `verify --rebuild`: an image rebuilt with other bytes but the same
//! files and runtime config is `equivalent`, not different; what differs is named field by
//! field with the component that writes it. The judgement itself is
//! [`crate::explain::equivalence`]; this is where a report takes it and how it is printed.

use crate::explain::equivalence::{self, Equivalence, Kind};
use crate::ops::report::{ImageReport, Status};
use crate::ui::escape;

/// The engine that built an image, in words: `Docker Engine 26.1.5+dfsg1 (go1.24.4)`.
pub fn engine_words(engine: &str, go: &str) -> String {
    let engine = if engine.is_empty() { "unknown" } else { engine };
    if go.is_empty() {
        format!("Docker Engine {engine}")
    } else {
        format!("Docker Engine {engine} ({go})")
    }
}

/// Judges a different image from both configs and both manifests' layers, and marks it
/// equivalent when its files and runtime config are the same. `engines` are the engine that
/// built the locked image and the one that rebuilt it, when known.
pub fn settle(
    report: &mut ImageReport,
    (locked_config, locked_layers): (&serde_json::Value, &[String]),
    (found_config, found_layers): (&serde_json::Value, &[String]),
    engines: Option<(String, String)>,
) {
    if report.status != Status::Different {
        return;
    }
    let mut judged = equivalence::judge(locked_config, found_config, locked_layers, found_layers);
    judged.engines = engines;
    if judged.equivalent {
        report.status = Status::Equivalent;
    }
    report.equivalence = Some(judged);
}

/// A JSON value on one line, control characters escaped, long ones clipped.
fn value(v: &serde_json::Value) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    escape(&crate::error::clip(&text)).into_owned()
}

fn short(digest: &str) -> String {
    match crate::image::digest::Digest::parse(digest) {
        Ok(d) => d.short(),
        Err(_) => escape(&crate::error::clip(digest)).into_owned(),
    }
}

/// The lines under an image: the judgement, each differing field with both values and its
/// writer, each recompressed layer, and the engines. Nothing for an image with other files:
/// the layer and file lines under it say what differs.
pub fn render(e: &Equivalence, indent: &str) -> String {
    let mut out = String::new();
    if e.fields.iter().any(|f| f.kind == Kind::Files) {
        return out;
    }
    let head = if e.equivalent { "equivalent: " } else { "" };
    out.push_str(&format!("{indent}{head}{}\n", e.summary));
    // A config can list thousands of history entries: the JSON report has them all.
    const SHOWN: usize = 20;
    for f in e.fields.iter().take(SHOWN) {
        out.push_str(&format!(
            "{indent}  config {}: {} vs {}  ({})\n",
            escape(&f.field),
            value(&f.locked),
            value(&f.found),
            f.written_by
        ));
    }
    if e.fields.len() > SHOWN {
        out.push_str(&format!(
            "{indent}  ... and {} more config fields (--format json lists them all)\n",
            e.fields.len() - SHOWN
        ));
    }
    for r in &e.recompressed {
        out.push_str(&format!(
            "{indent}  layer {} {} -> {}: the same tar ({}), other compression\n",
            r.index,
            short(&r.locked),
            short(&r.found),
            short(&r.diff_id)
        ));
    }
    if let Some(writer) = &e.compression_written_by {
        out.push_str(&format!("{indent}  compression: {writer}\n"));
    }
    if let Some((built, rebuilt)) = &e.engines {
        out.push_str(&format!(
            "{indent}  built by {}; rebuilt by {}\n",
            escape(built),
            escape(rebuilt)
        ));
    }
    out
}

/// `equivalent: curvenet:b036d2973eaa: same files and runtime; differs in history text and compression`.
pub fn verdict_line(images: &[ImageReport]) -> String {
    let parts: Vec<String> = images
        .iter()
        .filter(|i| i.status == Status::Equivalent)
        .filter_map(|i| {
            i.equivalence
                .as_ref()
                .map(|e| format!("{}: {}", escape(&i.name), e.summary))
        })
        .collect();
    format!("equivalent: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{self, Role};
    use serde_json::json;

    fn different() -> ImageReport {
        let locked = lock::Image {
            role: Role::Release,
            name: "paper:0aec7cf19e24".into(),
            platform: None,
            index_digest: None,
            manifest_digest: crate::lock::tests::digest('a'),
            config_digest: crate::lock::tests::digest('b'),
            layers: vec![crate::lock::tests::digest('c')],
            inventory: Default::default(),
            inventory_over: None,
            inventory_removed: Default::default(),
            needs: None,
        };
        let mut r = ImageReport::of(&locked, None);
        r.status = Status::Different;
        r
    }

    fn config(created_by: &str) -> serde_json::Value {
        json!({
            "os": "linux", "architecture": "amd64", "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", "d".repeat(64))]},
            "history": [{"created_by": created_by}]
        })
    }

    #[test]
    fn an_equivalent_image_names_each_field_its_writer_and_the_engines() {
        let mut r = different();
        let (a, b) = (
            vec![format!("sha256:{}", "c".repeat(64))],
            vec![format!("sha256:{}", "e".repeat(64))],
        );
        settle(
            &mut r,
            (&config("ARG SOURCE_DATE_EPOCH"), &a),
            (&config("ARG SOURCE_DATE_EPOCH=1714564800"), &b),
            Some((
                engine_words("26.1.5+dfsg1", "go1.24.4"),
                engine_words("28.5.2+dfsg4", "go1.27.1"),
            )),
        );
        assert_eq!(r.status, Status::Equivalent);
        let text = render(r.equivalence.as_ref().unwrap(), "  ");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "  equivalent: same files and runtime; differs in history text and compression"
        );
        assert!(lines[1].starts_with("    config history[0].created_by: \"ARG SOURCE_DATE_EPOCH\" vs \"ARG SOURCE_DATE_EPOCH=1714564800\"  (BuildKit's Dockerfile frontend: 0.14 and later"), "{}", lines[1]);
        assert_eq!(
            lines[2],
            "    layer 1 sha256:cccccccccccc -> sha256:eeeeeeeeeeee: the same tar (sha256:dddddddddddd), other compression"
        );
        assert!(lines[3].starts_with("    compression: the layer compressor"));
        assert_eq!(
            lines[4],
            "    built by Docker Engine 26.1.5+dfsg1 (go1.24.4); rebuilt by Docker Engine 28.5.2+dfsg4 (go1.27.1)"
        );
        assert_eq!(
            verdict_line(&[r]),
            "equivalent: paper:0aec7cf19e24: same files and runtime; differs in history text and compression"
        );
    }

    #[test]
    fn the_verdict_is_equivalent_only_when_every_image_is_identical_or_equivalent() {
        use crate::ops::report::Verdict;
        let with = |status| {
            let mut r = different();
            r.status = status;
            r
        };
        let verdict = |statuses: &[Status]| {
            Verdict::of(&statuses.iter().map(|s| with(*s)).collect::<Vec<_>>())
        };
        assert_eq!(
            verdict(&[Status::Identical, Status::Equivalent]),
            Verdict::Equivalent
        );
        assert_eq!(verdict(&[Status::Equivalent]), Verdict::Equivalent);
        assert_eq!(verdict(&[Status::Identical]), Verdict::Identical);
        assert_eq!(
            verdict(&[Status::Equivalent, Status::Different]),
            Verdict::Different
        );
        assert_eq!(
            verdict(&[Status::Equivalent, Status::Missing]),
            Verdict::Different
        );
        assert_eq!(crate::exit::Exit::Equivalent.code(), 5);
    }

    #[test]
    fn a_long_history_prints_twenty_fields_and_says_how_many_more() {
        let history =
            |t: &str| -> serde_json::Value { (0..30).map(|_| json!({"created": t})).collect() };
        let (mut a, mut b) = (config("X"), config("X"));
        a["history"] = history("2024-05-01T12:00:00Z");
        b["history"] = history("2025-01-01T00:00:00Z");
        let layers = vec![format!("sha256:{}", "c".repeat(64))];
        let mut r = different();
        settle(&mut r, (&a, &layers), (&b, &layers), None);
        assert_eq!(r.status, Status::Equivalent);
        let text = render(r.equivalence.as_ref().unwrap(), "");
        assert_eq!(text.matches("config history[").count(), 20, "{text}");
        assert!(text.contains("... and 10 more config fields (--format json lists them all)\n"));
    }

    #[test]
    fn other_runtime_stays_different_and_an_identical_image_is_not_judged() {
        let mut r = different();
        let layers = vec![format!("sha256:{}", "c".repeat(64))];
        let mut other = config("X");
        other["config"]["User"] = json!("1000\u{1b}[31m");
        settle(&mut r, (&config("X"), &layers), (&other, &layers), None);
        assert_eq!(r.status, Status::Different);
        let text = render(r.equivalence.as_ref().unwrap(), "");
        assert!(
            text.starts_with("not equivalent: other runtime settings\n"),
            "{text}"
        );
        assert!(
            !text.contains('\u{1b}'),
            "control characters are escaped: {text}"
        );

        let mut files = config("X");
        files["rootfs"]["diff_ids"] = json!(["sha256:other"]);
        let mut r = different();
        settle(&mut r, (&config("X"), &layers), (&files, &layers), None);
        assert_eq!(r.status, Status::Different);
        assert_eq!(render(r.equivalence.as_ref().unwrap(), ""), "");

        let mut same = different();
        same.status = Status::Identical;
        settle(&mut same, (&config("X"), &layers), (&other, &layers), None);
        assert!(same.equivalence.is_none());
    }
}
