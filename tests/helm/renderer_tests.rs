//! The renderer's Helm semantics, pinned against what Helm (Go templates,
//! sprig, sigs.k8s.io/yaml) produces.

use serde_json::{json, Value as J};

use crate::render::{self, set, Chart, Release, Rendered};
use crate::yaml;

fn inline(template: &str, values: J) -> Result<String, String> {
    let chart = Chart {
        metadata: json!({"apiVersion": "v2", "name": "t", "version": "1.0.0+build", "appVersion": "2.0"}),
        values,
        schema: None,
        templates: [
            ("t/templates/_helpers.tpl".to_string(), r#"{{- define "t.pair" -}}{{ .a }}={{ .b }}{{- end }}{{- define "t.outer" -}}[{{ include "t.pair" . }}]{{- end }}"#.to_string()),
            ("t/templates/test.yaml".to_string(), template.to_string()),
        ]
        .into_iter()
        .collect(),
    };
    chart
        .render(&Release::new("rel", "ns"), &[])
        .map(|r| r.files.get("t/templates/test.yaml").cloned().unwrap_or_default())
}

fn ok(template: &str, values: J) -> String {
    inline(template, values).unwrap_or_else(|e| panic!("{template}: {e}"))
}

#[test]
fn renderer_to_yaml_writes_what_goyaml_v2_writes() {
    let v = json!({
        "b": [1, "x", {"k": "v", "j": [true]}, [1, 2]],
        "a": {"c": true, "n": null, "f": 0.5, "big": 1_000_000},
        "e": {},
        "d": [],
    });
    assert_eq!(
        yaml::to_yaml(&v).expect("toYaml"),
        "a:\n  big: 1000000\n  c: true\n  f: 0.5\n  \"n\": null\nb:\n- 1\n- x\n- j:\n  - true\n  k: v\n- - 1\n  - 2\nd: []\ne: {}"
    );
    // Strings are quoted exactly when they would read back as something else.
    let cases = [
        ("plain", "plain"),
        ("50m", "50m"),
        ("it's", "it's"),
        ("a:b", "a:b"),
        ("arn:aws:iam::1:role/x", "arn:aws:iam::1:role/x"),
        ("true", "\"true\""),
        ("yes", "\"yes\""),
        ("on", "\"on\""),
        ("N", "\"N\""),
        ("null", "\"null\""),
        ("~", "\"~\""),
        ("", "\"\""),
        ("8080", "\"8080\""),
        ("0777", "\"0777\""),
        ("0x1F", "\"0x1F\""),
        ("1.5", "\"1.5\""),
        ("1e3", "\"1e3\""),
        ("2024-01-02", "\"2024-01-02\""),
        ("1:30", "\"1:30\""),
        ("a: b", "'a: b'"),
        ("- x", "'- x'"),
        ("#x", "'#x'"),
        ("x #y", "'x #y'"),
        ("*x", "'*x'"),
        (" lead", "' lead'"),
        ("trail ", "'trail '"),
        ("{x}", "'{x}'"),
        ("don't: stop", "'don''t: stop'"),
        ("tab\there", "\"tab\\there\""),
    ];
    for (s, expected) in cases {
        assert_eq!(
            yaml::to_yaml(&json!({ "k": s })).expect("toYaml"),
            format!("k: {expected}"),
            "{s:?}"
        );
        // And it reads back as the same string.
        assert_eq!(
            yaml::yaml_document(&format!("k: {expected}\n")).expect("parse")["k"],
            s,
            "{s:?}"
        );
    }
    assert_eq!(
        yaml::to_yaml(&json!({"k": "one\ntwo"})).expect("toYaml"),
        "k: |-\n  one\n  two"
    );
    assert_eq!(
        yaml::to_yaml(&json!(["one\ntwo\n"])).expect("toYaml"),
        "- |\n  one\n  two"
    );
    assert_eq!(yaml::to_yaml(&json!("x")).expect("toYaml"), "x");
    assert_eq!(yaml::to_yaml(&json!({})).expect("toYaml"), "{}");
    assert_eq!(yaml::to_yaml(&json!(1.5e-7)).expect("toYaml"), "1.5e-07");
    // goyaml.v2's key order: digits as numbers, non-letters before letters.
    let keys = json!({"a10": 1, "a9": 1, "ab": 1, "a-b": 1, "B": 1, "_x": 1, "a": 1});
    assert_eq!(
        yaml::to_yaml(&keys).expect("toYaml"),
        "_x: 1\nB: 1\na: 1\na-b: 1\na9: 1\na10: 1\nab: 1"
    );
}

#[test]
fn renderer_reads_yaml_as_go_does() {
    let v = yaml::yaml_document("a: yes\nb: on\nc: 0777\nd: 0x10\ne: 1_000\nf: 1.5\ng: ~\nh: '8080'\ni: 2024-01-02\nj: 1:30\nk: 12345678901234567890\n").expect("parse");
    assert_eq!(
        v,
        json!({"a": true, "b": true, "c": 511, "d": 16, "e": 1000, "f": 1.5, "g": null, "h": "8080", "i": "2024-01-02", "j": "1:30", "k": 12345678901234567890u64})
    );
    assert!(yaml::yaml_document("a: .inf\n").is_err());
}

#[test]
fn renderer_implements_the_helm_functions_faithfully() {
    let values = json!({
        "s": "text", "empty": "", "zero": 0, "f": false, "list": [], "map": {}, "n": 8080, "multi": "a\nb",
        "m": {"z": 1, "a": {"x": "w"}}, "t": true, "pair": {"a": "1", "b": 2}, "items": ["x", "y"],
    });
    let cases: Vec<(&str, &str)> = vec![
        // default: Helm's notion of empty.
        (r#"{{ default "d" .Values.s }}"#, "text"),
        (r#"{{ default "d" .Values.empty }}"#, "d"),
        (r#"{{ default "d" .Values.zero }}"#, "d"),
        (r#"{{ default "d" .Values.f }}"#, "d"),
        (r#"{{ default "d" .Values.list }}"#, "d"),
        (r#"{{ default "d" .Values.map }}"#, "d"),
        (r#"{{ default "d" .Values.missing }}"#, "d"),
        (r#"{{ .Values.missing | default "d" }}"#, "d"),
        (r#"{{ .Values.t | default false }}"#, "true"),
        // quote: Go %q; nil gives nothing.
        (r#"{{ quote .Values.s }}"#, "\"text\""),
        (r#"{{ .Values.n | quote }}"#, "\"8080\""),
        (r#"{{ quote "a\"b\\c" }}"#, r#""a\"b\\c""#),
        (r#"{{ .Values.multi | quote }}"#, r#""a\nb""#),
        (r#"[{{ quote .Values.missing }}]"#, "[]"),
        (r#"{{ quote .Values.t }}"#, "\"true\""),
        // indent / nindent.
        (r#"{{ .Values.multi | indent 2 }}"#, "  a\n  b"),
        (r#"x:{{ .Values.multi | nindent 2 }}"#, "x:\n  a\n  b"),
        // toYaml: no trailing newline, keys sorted.
        (r#"{{ toYaml .Values.m }}"#, "a:\n  x: w\nz: 1"),
        (
            r#"m:{{ toYaml .Values.m | nindent 2 }}"#,
            "m:\n  a:\n    x: w\n  z: 1",
        ),
        (r#"{{ toYaml .Values.s }}"#, "text"),
        // Strings.
        (r#"{{ "abcdef" | trunc 3 }}"#, "abc"),
        (r#"{{ "abcdef" | trunc -2 }}"#, "ef"),
        (r#"{{ "abc" | trunc 63 }}"#, "abc"),
        (r#"{{ "abc-" | trimSuffix "-" }}"#, "abc"),
        (r#"{{ "abc--" | trimSuffix "-" }}"#, "abc-"),
        (r#"{{ contains "bc" "abcd" }}"#, "true"),
        (r#"{{ replace "+" "_" .Chart.Version }}"#, "1.0.0_build"),
        (r#"{{ printf "%s-%s:%d%%" .Release.Name "x" 8 }}"#, "rel-x:8%"),
        (
            r#"{{ int "42" }} {{ int .Values.n }} {{ int "nope" }}"#,
            "42 8080 0",
        ),
        // Go template control, whitespace trimming, variables, include, template.
        ("a\n{{- if .Values.t }}\nb\n{{- end }}\n", "a\nb\n"),
        ("{{- range $i, $v := .Values.list }}{{ $v }}{{ end }}", ""),
        (
            "{{- range $i, $v := .Values.items }}{{ if $i }},{{ end }}{{ $v }}{{ end }}",
            "x,y",
        ),
        (r#"{{ $x := "v" }}{{ $x }}"#, "v"),
        (r#"{{ include "t.outer" .Values.pair }}"#, "[1=2]"),
        (r#"{{ include "t.outer" .Values.m.a }}"#, "[=]"),
        (r#"{{ template "t.pair" .Values }}"#, "="),
        (r#"{{ with .Values.m.a }}{{ .x }}{{ end }}"#, "w"),
        (
            r#"{{ if and (gt (int .Values.n) 1) (not .Values.f) }}yes{{ end }}"#,
            "yes",
        ),
        (
            r#"{{ .Chart.Name }} {{ .Chart.AppVersion }} {{ .Release.Namespace }} {{ .Release.Service }} {{ .Template.Name }}"#,
            "t 2.0 ns Helm t/templates/test.yaml",
        ),
        // Missing values print nothing (Helm strips "<no value>").
        (r#"[{{ .Values.missing }}]"#, "[]"),
        // required passes anything but nil and "".
        (r#"{{ required "need f" .Values.f }}"#, "false"),
        (r#"{{ required "need s" .Values.s }}"#, "text"),
    ];
    for (template, expected) in cases {
        assert_eq!(ok(template, values.clone()), expected, "{template}");
    }
    for (template, message) in [
        (r#"{{ required "need empty" .Values.empty }}"#, "need empty"),
        (r#"{{ required "need missing" .Values.missing }}"#, "need missing"),
        (r#"{{ fail "stop here" }}"#, "stop here"),
        (
            r#"{{ include "t.fails" . }}{{ define "t.fails" }}{{ fail "nested" }}{{ end }}"#,
            "nested",
        ),
    ] {
        let e = inline(template, values.clone()).expect_err(template);
        assert!(
            e.starts_with("execution error at (t/templates/test.yaml): "),
            "{e}"
        );
        assert!(e.contains(message), "{e}");
    }
    // Functions Helm has but this renderer does not are refused when parsing.
    for template in [
        r#"{{ lookup "v1" "Secret" "ns" "x" }}"#,
        r#"{{ tpl "x" . }}"#,
        r#"{{ randAlphaNum 8 }}"#,
    ] {
        let e = inline(template, values.clone()).expect_err(template);
        assert!(e.contains("not defined"), "{template}: {e}");
    }
    // A field of .Chart that does not exist is an error, as on Go structs.
    assert!(inline("{{ .Chart.Nmae }}", values.clone()).is_err());
}

#[test]
fn renderer_merges_values_like_helm() {
    let base = json!({"a": {"b": 1, "c": {"d": 2}}, "l": [1, 2], "k": "v"});
    let over = json!({"a": {"c": {"e": 3}}, "l": [3], "k": null, "n": "new"});
    assert_eq!(
        render::coalesce(over, base),
        json!({"a": {"b": 1, "c": {"d": 2, "e": 3}}, "l": [3], "n": "new"})
    );
    assert_eq!(set("a.b.c", json!(1)), json!({"a": {"b": {"c": 1}}}));
    let r = Rendered {
        files: [(
            "t/templates/x.yaml".to_string(),
            "# c\n---\na: 1\n---\n\n---   \nb: 2\n---\n".to_string(),
        )]
        .into_iter()
        .collect(),
        notes: None,
        values: json!({}),
    };
    let docs: Vec<String> = r.manifests().into_iter().map(|(_, d)| d).collect();
    // As in Go: the first separator swallows the blank line before the
    // second `---`, which then starts the next document.
    assert_eq!(docs, ["# c\n", "a: 1\n", "---   \nb: 2\n"]);
}
