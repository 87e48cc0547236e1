//! Tests of the template engine as a whole, mostly the examples of docker's
//! `--format` documentation run over docker-shaped records.

use super::*;
use serde_json::json;

fn render(src: &str, data: &Value) -> String {
    Template::parse(src)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .render(data)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn parse_error(src: &str) -> String {
    let e = Template::parse(src).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Template);
    e.to_string()
}

fn render_error(src: &str, data: &Value) -> String {
    let e = Template::parse(src).unwrap().render(data).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Template);
    e.to_string()
}

fn inspect() -> Value {
    json!({
        "Id": "sha256:1d34ffeaf190be23d3de5a8de0a436676b758f48f835c3a2d4768b798c15a7f1",
        "Name": "/Web_Server",
        "Image": "ubuntu:latest",
        "Names": ["alpine:3.20", "alpine:latest"],
        "Os": "linux",
        "Architecture": "amd64",
        "Size": 7800000,
        "RootFS": {"Type": "layers", "Layers": ["sha256:aa", "sha256:bb"]},
        "Config": {
            "Env": ["PATH=/usr/bin", "LANG=C"],
            "Cmd": ["/bin/sh"],
            "Labels": {"com.example.version": "1.0", "maintainer": "me"}
        },
        "NetworkSettings": {"Ports": {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
            "443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8443"}]
        }},
        "Empty": [],
        "Nothing": null
    })
}

#[test]
fn docker_docs_functions() {
    let d = inspect();
    assert_eq!(
        render(r#"{{join .Names " , "}}"#, &d),
        "alpine:3.20 , alpine:latest"
    );
    assert_eq!(
        render("{{json .Config}}", &d),
        r#"{"Env":["PATH=/usr/bin","LANG=C"],"Cmd":["/bin/sh"],"Labels":{"com.example.version":"1.0","maintainer":"me"}}"#
    );
    assert_eq!(render("{{lower .Name}}", &d), "/web_server");
    assert_eq!(render(r#"{{split .Image ":"}}"#, &d), "[ubuntu latest]");
    assert_eq!(render("{{title .Name}}", &d), "/Web_Server");
    assert_eq!(render("{{upper .Name}}", &d), "/WEB_SERVER");
    assert_eq!(render("{{pad .Name 5 5}}", &d), "     /Web_Server     ");
    assert_eq!(render("{{truncate .Name 3}}", &d), "/We");
    assert_eq!(render("{{json .Name}}", &d), r#""/Web_Server""#);
}

#[test]
fn docker_docs_inspect_examples() {
    let d = inspect();
    assert_eq!(
        render(
            "{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{(index $conf 0).HostPort}} {{end}}",
            &d
        ),
        " 443/tcp -> 8443  80/tcp -> 8080 "
    );
    assert_eq!(render("{{.RootFS.Type}}", &d), "layers");
    assert_eq!(
        render(r#"{{index .Config.Labels "com.example.version"}}"#, &d),
        "1.0"
    );
    assert_eq!(render(r#"{{index .Config.Labels "absent"}}"#, &d), "");
    assert_eq!(
        render(r#"{{if eq .Os "linux"}}penguin{{end}}"#, &d),
        "penguin"
    );
    assert_eq!(
        render(r#"{{if eq .Os "windows"}}w{{else}}not windows{{end}}"#, &d),
        "not windows"
    );
    assert_eq!(
        render("{{range .Config.Env}}{{println .}}{{end}}", &d),
        "PATH=/usr/bin\nLANG=C\n"
    );
    assert_eq!(render(r#"{{.Os}}/{{.Architecture}}"#, &d), "linux/amd64");
}

#[test]
fn values_print_like_go() {
    let d = inspect();
    assert_eq!(render("{{.Size}}", &d), "7800000");
    assert_eq!(render("{{.Names}}", &d), "[alpine:3.20 alpine:latest]");
    assert_eq!(
        render("{{.Config.Labels}}", &d),
        "map[com.example.version:1.0 maintainer:me]"
    );
    assert_eq!(render("{{.Config.Labels.maintainer}}", &d), "me");
    assert_eq!(render("{{.Nothing}}", &d), "<no value>");
    assert_eq!(render("{{.Nothing.Deeper}}", &d), "<no value>");
    assert_eq!(
        render("{{true}} {{1.50}} {{-3}} {{'a'}} {{`raw\\n`}}", &d),
        "true 1.5 -3 97 raw\\n"
    );
    assert_eq!(render(r#"{{"tab\there"}}"#, &d), "tab\there");
}

#[test]
fn control_structures() {
    let d = inspect();
    assert_eq!(render("{{range .Empty}}x{{else}}none{{end}}", &d), "none");
    assert_eq!(render("{{range .Nothing}}x{{else}}none{{end}}", &d), "none");
    assert_eq!(
        render("{{range $i, $e := .Names}}{{$i}}={{$e}};{{end}}", &d),
        "0=alpine:3.20;1=alpine:latest;"
    );
    assert_eq!(
        render("{{range $e := .Names}}{{$e}} {{end}}", &d),
        "alpine:3.20 alpine:latest "
    );
    assert_eq!(
        render(
            "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}",
            &d
        ),
        "com.example.version=1.0,maintainer=me,"
    );
    assert_eq!(
        render("{{range .Names}}{{$.Os}}:{{.}} {{end}}", &d),
        "linux:alpine:3.20 linux:alpine:latest "
    );
    assert_eq!(render("{{range 3}}{{.}}{{end}}", &d), "012");
    assert_eq!(
        render(
            "{{range .Names}}{{if eq . \"alpine:latest\"}}{{break}}{{end}}{{.}}{{end}}",
            &d
        ),
        "alpine:3.20"
    );
    assert_eq!(
        render(
            "{{range .Names}}{{if eq . \"alpine:3.20\"}}{{continue}}{{end}}{{.}}{{end}}",
            &d
        ),
        "alpine:latest"
    );
    assert_eq!(render("{{with .RootFS}}{{.Type}}{{end}}", &d), "layers");
    assert_eq!(render("{{with .Empty}}x{{else}}empty{{end}}", &d), "empty");
    assert_eq!(
        render("{{with .Empty}}x{{else with .Os}}{{.}}{{end}}", &d),
        "linux"
    );
    let branch = |os: &str| {
        render(
            r#"{{if eq .Os "linux"}}L{{else if eq .Os "windows"}}W{{else}}?{{end}}"#,
            &json!({"Os": os}),
        )
    };
    assert_eq!(
        (branch("linux"), branch("windows"), branch("plan9")),
        ("L".into(), "W".into(), "?".into())
    );
}

#[test]
fn truthiness_follows_go() {
    let t = |v: Value| render("{{if .}}T{{else}}F{{end}}", &v);
    for f in [
        json!(""),
        json!(0),
        json!(0.0),
        json!(false),
        json!(null),
        json!([]),
        json!({}),
    ] {
        assert_eq!(t(f.clone()), "F", "{f}");
    }
    for v in [
        json!("x"),
        json!(1),
        json!(true),
        json!([0]),
        json!({"a": 0}),
    ] {
        assert_eq!(t(v.clone()), "T", "{v}");
    }
    assert_eq!(
        render("{{and 1 0 2}} {{or 0 \"\" 3}} {{not 0}}", &json!({})),
        "0 3 true"
    );
    // `and` stops at the first false argument, so the missing key is never looked at.
    assert_eq!(
        render("{{and .Nothing .Missing}}", &json!({"Nothing": null})),
        "<no value>"
    );
}

#[test]
fn variables_pipes_and_parentheses() {
    let d = inspect();
    assert_eq!(render("{{$x := .Os}}{{$x}}", &d), "linux");
    assert_eq!(
        render("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", &d),
        "2"
    );
    assert_eq!(render(r#"{{.Os | printf "%s!"}}"#, &d), "linux!");
    assert_eq!(render(r#"{{.Os | upper | printf "%q"}}"#, &d), r#""LINUX""#);
    assert_eq!(
        render(r#"{{printf "%s-%s" (upper .Os) (index .Names 1)}}"#, &d),
        "LINUX-alpine:latest"
    );
    assert_eq!(
        render(
            "{{(index .NetworkSettings.Ports \"80/tcp\" 0).HostPort}}",
            &d
        ),
        "8080"
    );
    assert_eq!(
        render(
            "{{len .Names}} {{len .Config.Labels}} {{slice .Os 1 3}}",
            &d
        ),
        "2 2 in"
    );
    assert_eq!(render("{{$.RootFS.Layers}}", &d), "[sha256:aa sha256:bb]");
    assert_eq!(
        render(
            r#"{{printf "%-10s|%5d|%.2f|%t|%%" .Os .Size 2.5 true}}"#,
            &d
        ),
        "linux     |7800000|2.50|true|%"
    );
}

#[test]
fn trim_markers_and_comments() {
    let d = inspect();
    assert_eq!(render("a  {{- .Os -}}  b", &d), "alinuxb");
    assert_eq!(
        render("{{/* a comment */}}x{{- /* trimmed */ -}} y", &d),
        "xy"
    );
    assert_eq!(
        render("{{range .Names -}}\n  {{.}}\n{{- end}}", &d),
        "alpine:3.20alpine:latest"
    );
}

#[test]
fn malformed_templates_name_the_line() {
    assert_eq!(parse_error("{{.Name"), "template: :1: unclosed action");
    assert_eq!(
        parse_error("{{.Name}"),
        "template: :1: bad character U+007D '}'"
    );
    assert_eq!(
        parse_error("Image: {{ .Name }"),
        "template: :1: unexpected \"}\" in operand"
    );
    assert_eq!(
        parse_error("{{nosuch .Name}}"),
        "template: :1: function \"nosuch\" not defined"
    );
    assert_eq!(parse_error("x{{end}}"), "template: :1: unexpected {{end}}");
    assert_eq!(parse_error("{{if .A}}x"), "template: :1: unexpected EOF");
    assert_eq!(
        parse_error("{{$x}}"),
        "template: :1: undefined variable \"$x\""
    );
    assert_eq!(
        parse_error("{{template \"x\"}}"),
        "template: :1: {{template}} is not supported; write the template inline"
    );
    assert_eq!(
        parse_error("a\n {{.A | }"),
        "template: :2: unexpected \"}\" in command"
    );
}

#[test]
fn runtime_errors_name_the_place_and_node_as_go_does() {
    let d = inspect();
    assert_eq!(
        render_error("{{.Foo}}", &d),
        "template: :1:2: executing \"\" at <.Foo>: map has no entry for key \"Foo\""
    );
    assert_eq!(
        render_error("xx {{.Config.Nope}}", &d),
        "template: :1:12: executing \"\" at <.Config.Nope>: map has no entry for key \"Nope\""
    );
    assert_eq!(
        render_error("{{.Os.Name}}", &d),
        "template: :1:5: executing \"\" at <.Os.Name>: can't evaluate field Name in type string"
    );
    assert_eq!(
        render_error("{{index .Names 5}}", &d),
        "template: :1:2: executing \"\" at <index .Names 5>: error calling index: index out of range: 5"
    );
    assert_eq!(
        render_error("{{join .Names}}", &d),
        "template: :1:2: executing \"\" at <join>: wrong number of args for join: want 2 got 1"
    );
    assert_eq!(
        render_error("{{range .Os}}{{end}}", &d),
        "template: :1:8: executing \"\" at <.Os>: range can't iterate over linux"
    );
    assert_eq!(
        render_error("{{nil}}", &d),
        "template: :1:2: executing \"\" at <nil>: nil is not a command"
    );
    assert_eq!(
        render_error("{{.Os 1}}", &d),
        "template: :1:2: executing \"\" at <.Os>: Os is not a method but has arguments"
    );
}

#[test]
fn header_mode_names_columns() {
    let t = Template::parse("{{.ID}}\t{{upper .Config.Labels}}\t{{pad .Name 1 0}}").unwrap();
    let header = t.render_header(&|k: &str| format!("<{k}>"));
    assert_eq!(header, "<ID>\t<Labels>\t <Name>");
}

/// The cases of Go's text/template test tables that JSON data once missed (issue 10).
#[test]
fn go_test_table_gaps() {
    let d = json!({"I": 3});
    assert_eq!(render("{{print 1e9}}", &d), "1e+09");
    assert_eq!(render("{{print 1.5 2.0}}", &d), "1.5 2");
    assert_eq!(render("{{print 0x1.ep+2}}", &d), "7.5");
    assert_eq!(render("{{print 0x_1p4}}", &d), "16");
    assert_eq!(render("{{print 1_000_000}}", &d), "1000000");
    assert_eq!(
        render(r#"{{printf "%T %T %T %T" 1 1.5 "s" .I}}"#, &d),
        "int float64 string int"
    );
    assert!(render_error("{{eq 2 2.0}}", &d).contains("incompatible types for comparison"));
    assert_eq!(render("{{eq 2.0 2.0}}", &d), "true");
    assert_eq!(
        render(
            "{{js .}}",
            &json!("unprintable \u{FDFF} nbsp\u{a0} ok é\u{1}")
        ),
        "unprintable \\uFDFF nbsp\\u00A0 ok é\\u0001"
    );
    assert_eq!(
        render("{{js .}}", &json!("<a href='x'>&=")),
        "\\u003Ca href\\u003D\\'x\\'\\u003E\\u0026\\u003D"
    );
    // The assignment form of range parses (Go's parse test bug2b); run without a $x,
    // it fails as Go's does, and with one it assigns.
    assert!(Template::parse("{{range $x = 0}}{{$x}}{{end}}").is_ok());
    assert!(render_error("{{range $x = 0}}{{$x}}{{end}}", &d).contains("undefined variable: $x"));
    assert_eq!(
        render("{{$x := 9}}{{range $x = 3}}{{$x}}{{end}}{{$x}}", &d),
        "0122"
    );
    assert!(render_error("{{$y = 1}}", &d).contains("undefined variable: $y"));
}

/// `{{len .Missing}}` fails as docker 28.2.2's Go fails it (`docker context inspect -f
/// '{{len .Endpoints.missing}}' default`), naming the command; `{{html .Missing}}` prints
/// Go's `&lt;no value&gt;`; over typed data, where a missing map key is no error (the
/// plain fallback holds the key as null, which fails alike).
#[test]
fn missing_values_in_len_and_html_as_go() {
    let root = typed::map("map[string]interface {}", [("a".to_string(), json!("x"))]);
    let raw = json!({"a": "x", "missing": null});
    let run = |src: &str| Template::parse(src).unwrap().render_typed(&root, &raw);
    assert_eq!(
        run("{{len .missing}}").unwrap_err().to_string(),
        "template: :1:2: executing \"\" at <len .missing>: error calling len: reflect: call of reflect.Value.Type on zero Value"
    );
    assert_eq!(
        run("{{.missing | len}}").unwrap_err().to_string(),
        "template: :1:13: executing \"\" at <len>: error calling len: reflect: call of reflect.Value.Type on zero Value"
    );
    assert_eq!(run("{{html .missing}}").unwrap(), "&lt;no value&gt;");
    assert_eq!(run("{{html nil}}").unwrap(), "&lt;no value&gt;");
    assert_eq!(run("{{eq .missing .}}").unwrap(), "false");
    assert!(
        run("{{eq . .}}")
            .unwrap_err()
            .to_string()
            .ends_with(": map[string]interface {}")
    );
}
