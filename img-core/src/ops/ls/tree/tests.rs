//! The tree's formatter against docker/cli's own golden files (commit
//! 28f756087eea5fa301f3fbf12b01ae62f91521c2, `cli/command/image/testdata`), copied as data,
//! over views built as `tree_test.go`'s `TestPrintImageTreeGolden` builds them; and its
//! colours and legend on a terminal, as `TestPrintImageTreeAnsiTty` asks.

use super::*;

/// docker/cli `cli/command/image/testdata/tree-command-success.width-calculation-untagged.golden`.
const WIDTH_CALCULATION_UNTAGGED: &str = "\
IMAGE        ID             DISK USAGE   CONTENT SIZE   EXTRA\n\
a:1          111111111111       5.5 MB         2.5 MB        \n\
<untagged>   222222222222       3.2 MB         1.6 MB        \n\
short:v1     333333333333       7.1 MB         3.5 MB   U    \n\
";

/// docker/cli `cli/command/image/testdata/tree-command-success.expanded-view-with-platforms.golden`.
const EXPANDED_VIEW_WITH_PLATFORMS: &str = "\
IMAGE                  ID             DISK USAGE   CONTENT SIZE   EXTRA\n\
multiplatform:latest   aaaaaaaaaaaa      25.5 MB        20.2 MB   U    \n\
├─ linux/amd64         bbbbbbbbbbbb      12.1 MB        10.0 MB        \n\
└─ linux/arm64         cccccccccccc      13.4 MB        10.2 MB   U    \n\
\n\
";

/// docker/cli `cli/command/image/testdata/tree-command-success.untagged-with-platforms.golden`.
const UNTAGGED_WITH_PLATFORMS: &str = "\
IMAGE                ID             DISK USAGE   CONTENT SIZE   EXTRA\n\
<untagged>           dddddddddddd      18.5 MB        15.2 MB        \n\
├─ linux/amd64       eeeeeeeeeeee       9.2 MB         7.6 MB        \n\
└─ linux/arm64       ffffffffffff       9.3 MB         7.6 MB        \n\
\n\
";

/// docker/cli `cli/command/image/testdata/tree-command-success.mixed-tagged-untagged-with-children.golden`.
const MIXED_TAGGED_UNTAGGED_WITH_CHILDREN: &str = "\
IMAGE                 ID             DISK USAGE   CONTENT SIZE   EXTRA\n\
app:v1             \n\
app:latest            101010101010      30.5 MB        25.2 MB   U    \n\
└─ linux/amd64        202020202020      15.2 MB        12.6 MB   U    \n\
\n\
<untagged>            303030303030      12.3 MB        10.1 MB        \n\
└─ linux/arm/v7       404040404040       6.1 MB         5.0 MB        \n\
\n\
base:alpine           505050505050       5.5 MB         5.5 MB        \n\
\n\
";

fn details(id: char, disk: &str, content: &str, in_use: bool) -> TreeDetails {
    TreeDetails {
        id: format!("sha256:{}", id.to_string().repeat(64)),
        disk_usage: disk.into(),
        content_size: content.into(),
        in_use,
    }
}

/// Like [`details`], for the IDs tree_test.go spells with two digits (`1010…`).
fn details2(pair: &str, disk: &str, content: &str, in_use: bool) -> TreeDetails {
    TreeDetails {
        id: format!("sha256:{}", pair.repeat(32)),
        ..details('0', disk, content, in_use)
    }
}

fn platform(p: &str, available: bool, d: TreeDetails) -> TreePlatform {
    TreePlatform {
        platform: p.into(),
        available,
        details: d,
    }
}

fn image(names: &[&str], d: TreeDetails, children: Vec<TreePlatform>) -> TreeImage {
    TreeImage {
        names: names.iter().map(|n| n.to_string()).collect(),
        details: d,
        children,
    }
}

/// In a pipe: no width, no colour, no legend (the golden files' fake CLI).
fn piped(view: &TreeView) -> String {
    render(view, TreeTerminal::default())
}

#[test]
fn width_calculation_untagged_matches_dockers_golden() {
    let view = TreeView {
        images: vec![
            image(&["a:1"], details('1', "5.5 MB", "2.5 MB", false), vec![]),
            // The untagged name is longer than "a:1".
            image(&[], details('2', "3.2 MB", "1.6 MB", false), vec![]),
            image(
                &["short:v1"],
                details('3', "7.1 MB", "3.5 MB", true),
                vec![],
            ),
        ],
        image_spacing: false,
    };
    assert_eq!(piped(&view), WIDTH_CALCULATION_UNTAGGED);
}

#[test]
fn expanded_view_with_platforms_matches_dockers_golden() {
    let view = TreeView {
        images: vec![image(
            &["multiplatform:latest"],
            details('a', "25.5 MB", "20.2 MB", true),
            vec![
                platform(
                    "linux/amd64",
                    true,
                    details('b', "12.1 MB", "10.0 MB", false),
                ),
                platform(
                    "linux/arm64",
                    true,
                    details('c', "13.4 MB", "10.2 MB", true),
                ),
            ],
        )],
        image_spacing: true,
    };
    assert_eq!(piped(&view), EXPANDED_VIEW_WITH_PLATFORMS);
}

#[test]
fn untagged_with_platforms_matches_dockers_golden() {
    let view = TreeView {
        images: vec![image(
            &[],
            details('d', "18.5 MB", "15.2 MB", false),
            vec![
                platform("linux/amd64", true, details('e', "9.2 MB", "7.6 MB", false)),
                platform(
                    "linux/arm64",
                    false,
                    details('f', "9.3 MB", "7.6 MB", false),
                ),
            ],
        )],
        image_spacing: true,
    };
    assert_eq!(piped(&view), UNTAGGED_WITH_PLATFORMS);
}

#[test]
fn mixed_tagged_untagged_with_children_matches_dockers_golden() {
    let view = TreeView {
        images: vec![
            image(
                &["app:v1", "app:latest"],
                details2("10", "30.5 MB", "25.2 MB", true),
                vec![platform(
                    "linux/amd64",
                    true,
                    details2("20", "15.2 MB", "12.6 MB", true),
                )],
            ),
            image(
                &[],
                details2("30", "12.3 MB", "10.1 MB", false),
                vec![platform(
                    "linux/arm/v7",
                    true,
                    details2("40", "6.1 MB", "5.0 MB", false),
                )],
            ),
            image(
                &["base:alpine"],
                details2("50", "5.5 MB", "5.5 MB", false),
                vec![],
            ),
        ],
        image_spacing: true,
    };
    assert_eq!(piped(&view), MIXED_TAGGED_UNTAGGED_WITH_CHILDREN);
}

/// tree_test.go's mock view of `TestPrintImageTreeAnsiTty`.
fn ansi_view() -> TreeView {
    TreeView {
        images: vec![image(
            &["test-image:latest"],
            TreeDetails {
                id: "sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"
                    .into(),
                disk_usage: "10.5 MB".into(),
                content_size: "5.2 MB".into(),
                in_use: true,
            },
            vec![platform(
                "linux/amd64",
                true,
                TreeDetails {
                    id: "sha256:abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890"
                        .into(),
                    disk_usage: "5.1 MB".into(),
                    content_size: "2.5 MB".into(),
                    in_use: false,
                },
            )],
        )],
        image_spacing: false,
    }
}

/// `s` without its SGR escapes (`\x1b[…m`).
fn strip_sgr(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn a_terminal_gets_colour_and_the_legend_a_pipe_or_no_color_gets_neither() {
    let view = ansi_view();
    let terminal = TreeTerminal {
        is_terminal: true,
        width: 100,
        color: true,
    };
    let shown = render(&view, terminal);
    assert!(shown.contains("\x1b["), "{shown}");
    let first = shown.lines().next().unwrap();
    // The legend is right-aligned to the width: 100 columns once the escapes are out.
    assert!(first.ends_with(" In Use"), "{first:?}");
    assert_eq!(strip_sgr(first).chars().count(), 100);
    // The name in blue bold, the header bold, the U chip black on cyan: the bytes docker
    // 28.2.2's tree printed on a terminal (its internal/tui is docker 29's).
    assert!(first.contains("\x1b[96mInfo → \x1b[0m"), "{first:?}");
    assert!(
        shown.contains("\x1b[34m\x1b[1mtest-image:latest\x1b[0m"),
        "{shown}"
    );
    assert!(shown.contains("\x1b[39m\x1b[1mIMAGE\x1b[0m"), "{shown}");
    assert!(
        shown.contains("\x1b[38;5;0m\x1b[48;5;14m U \x1b[0m"),
        "{shown}"
    );

    let no_color = render(
        &view,
        TreeTerminal {
            color: false,
            ..terminal
        },
    );
    assert!(!no_color.contains('\x1b'), "{no_color}");
    assert!(no_color.starts_with(&" ".repeat(100 - " Info ->  U In Use".len())));
    let pipe = piped(&view);
    assert!(!pipe.contains('\x1b'), "{pipe}");
    assert!(pipe.starts_with("IMAGE "), "{pipe}");
}

#[test]
fn a_narrow_terminal_puts_long_names_on_their_own_line_and_drops_columns() {
    let view = TreeView {
        images: vec![image(
            &["a-rather-long-repository-name:latest"],
            details('1', "5.5MB", "2.5MB", false),
            vec![platform(
                "linux/amd64",
                true,
                details('2', "5.5MB", "2.5MB", false),
            )],
        )],
        image_spacing: true,
    };
    let narrow = TreeTerminal {
        is_terminal: true,
        width: 60,
        color: false,
    };
    let lines: Vec<String> = render(&view, narrow).lines().map(str::to_owned).collect();
    // 60 - (15 + 13 + 15 + 8) = 9 < 12: EXTRA goes, IMAGE gets 60 - 43 = 17 columns.
    assert_eq!(
        lines[1],
        format!("{:17}   ID             DISK USAGE   CONTENT SIZE", "IMAGE")
    );
    assert_eq!(lines[2], "a-rather-long-repository-name:latest");
    assert_eq!(
        lines[3],
        format!("{:17}   111111111111        5.5MB          2.5MB", "")
    );
    assert_eq!(
        lines[4],
        "└─ linux/amd64      222222222222        5.5MB          2.5MB"
    );
    assert_eq!(lines[5], "");
}

#[test]
fn sizes_are_go_units_with_three_digits() {
    assert_eq!(tree_size(25_500_000), "25.5MB");
    assert_eq!(tree_size(7_600_000), "7.6MB");
    assert_eq!(tree_size(999), "999B");
    assert_eq!(tree_size(1_234_567), "1.23MB");
    assert_eq!(tree_size(0), "0B");
    // Go's %.3g drops the zeros: docker prints 10MB.
    assert_eq!(tree_size(10_000_000), "10MB");
}
