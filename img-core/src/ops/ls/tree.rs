//! `img-ls --tree`: docker 29's expanded image tree (`docker images --tree`), its layout,
//! widths, markers and colours as docker/cli's `cli/command/image/tree.go` computes them
//! (commit 28f756087eea5fa301f3fbf12b01ae62f91521c2), over the store.
//!
//! An image is one entry with all its tags, sorted (untagged: `<untagged>`, shown only with
//! `-a`), and its platforms as children (`├─ linux/amd64`, `└─ linux/arm64`): the platform
//! manifests of an index the store holds, or the one manifest of a one-platform image.
//! Entries sort by their first name, untagged ones last. Columns: IMAGE, ID (12 hex),
//! DISK USAGE (the bytes removing that image, or that platform, alone would free: its blobs
//! no other image, nor another platform of it, nor a live lease pins), CONTENT SIZE (its blobs as stored),
//! EXTRA (docker's `U` marks an image containers use: the store runs none, so it is
//! always empty). Sizes are go-units' with three digits (`25.5MB`), as tree.go prints them.
//!
//! On a terminal, docker's colours (unless `NO_COLOR`), its legend right-aligned on the
//! first line, and the IMAGE column fitted to the terminal's width (long names on their
//! own line); elsewhere plain text, no legend, no width limit.

use std::collections::{HashMap, HashSet};

use crate::digest::Digest;
use crate::error::Result;
use crate::index::{ImageRow, familiar_name, familiar_tag};
use crate::oci::{Document, media_type};
use crate::output::human_size_with_precision;
use crate::output::width::display_width;
use crate::store::Store;

/// How tree.go names an image without tags.
pub const UNTAGGED: &str = "<untagged>";

/// Spaces between columns (tree.go's `columnSpacing`).
const COLUMN_SPACING: usize = 3;

/// The details a line shows (tree.go's `imageDetails`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeDetails {
    /// The ID or manifest digest (`sha256:…`), shown truncated to 12 hex digits.
    pub id: String,
    /// DISK USAGE, formatted.
    pub disk_usage: String,
    /// CONTENT SIZE, formatted.
    pub content_size: String,
    /// Whether containers use it (docker's `U`; never, over the store).
    pub in_use: bool,
}

/// A platform of an image (tree.go's `subImage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreePlatform {
    /// `linux/arm64/v8`.
    pub platform: String,
    /// Whether the store holds all of it (an unavailable one is drawn faint).
    pub available: bool,
    /// Its line's details.
    pub details: TreeDetails,
}

/// An image and its platforms (tree.go's `topImage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeImage {
    /// Its tags, familiar and sorted; none for an untagged image.
    pub names: Vec<String>,
    /// Its line's details.
    pub details: TreeDetails,
    /// Its platforms.
    pub children: Vec<TreePlatform>,
}

/// What the tree shows (tree.go's `treeView`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeView {
    /// The images, in the order shown.
    pub images: Vec<TreeImage>,
    /// A blank line after each image (set when any image has children).
    pub image_spacing: bool,
}

/// Where the tree is drawn.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeTerminal {
    /// Whether stdout is a terminal.
    pub is_terminal: bool,
    /// Its width in columns (0: unknown, or not a terminal: no legend, no limit).
    pub width: usize,
    /// Whether to colour (a terminal without `NO_COLOR`).
    pub color: bool,
}

impl TreeTerminal {
    /// What stdout is: a terminal (with its width), or not.
    pub fn stdout(is_terminal: bool) -> TreeTerminal {
        if !is_terminal {
            return TreeTerminal::default();
        }
        let width = rustix::termios::tcgetwinsize(std::io::stdout())
            .map(|w| usize::from(w.ws_col))
            .unwrap_or(0);
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        TreeTerminal {
            is_terminal: true,
            width,
            color: !no_color,
        }
    }
}

/// The go-units size tree.go prints: `HumanSizeWithPrecision(n, 3)`.
pub fn tree_size(bytes: u64) -> String {
    human_size_with_precision(bytes as f64, 3)
}

/// Builds the tree of the `rows` (one or more a tag, as [`super::list`] gives them) from
/// the store: every image once, with its platforms and sizes.
pub fn build(store: &Store, rows: &[ImageRow]) -> Result<TreeView> {
    let index = store.index();
    // How many images pin each blob: what only one pins goes with it.
    let mut pinned_by: HashMap<Digest, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for row in index.list_images(&Default::default())? {
        if seen.insert(row.image.id.clone()) {
            for d in index.image_blobs(&row.image.id)? {
                *pinned_by.entry(d).or_default() += 1;
            }
        }
    }
    // A blob a live lease holds (a pull or push in progress) stays after a removal, as
    // prune's estimate and its collection keep it: it counts as pinned by one more.
    for d in store.live_lease_blobs()? {
        *pinned_by.entry(d).or_default() += 1;
    }
    let size_of = |d: &Digest| -> Result<Option<u64>> {
        Ok(index
            .blob(d)?
            .filter(|_| store.blob_path(d).is_file())
            .map(|b| b.size))
    };
    let mut view = TreeView::default();
    let mut done = HashSet::new();
    for row in rows {
        let image = &row.image;
        if !done.insert(image.id.clone()) {
            continue;
        }
        let blobs = index.image_blobs(&image.id)?;
        let mut own = 0;
        for d in &blobs {
            if pinned_by.get(d).copied().unwrap_or(0) <= 1 {
                own += size_of(d)?.unwrap_or(0);
            }
        }
        let mut names: Vec<String> = image
            .tags
            .iter()
            // A stored name or tag the grammar refuses (a tampered index) is shown as is.
            .map(|(n, t)| {
                familiar_tag(n, t).unwrap_or_else(|_| format!("{}:{t}", familiar_name(n)))
            })
            .collect();
        names.sort();
        let children = platforms(store, &image.target, &image.platform, &pinned_by, &size_of)?;
        view.image_spacing |= !children.is_empty();
        view.images.push(TreeImage {
            names,
            details: TreeDetails {
                id: image.id.to_string(),
                disk_usage: tree_size(own),
                content_size: tree_size(image.size),
                in_use: false,
            },
            children,
        });
    }
    // tree.go's order: by first name, untagged images last.
    view.images
        .sort_by(|a, b| match (a.names.first(), b.names.first()) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
    Ok(view)
}

/// The platforms of an image whose target is `target`: an index's image manifests
/// (attestations left out, as tree.go leaves them out), or the target itself.
fn platforms(
    store: &Store,
    target: &Digest,
    platform: &str,
    pinned_by: &HashMap<Digest, usize>,
    size_of: &dyn Fn(&Digest) -> Result<Option<u64>>,
) -> Result<Vec<TreePlatform>> {
    let Some(bytes) = read(store, target)? else {
        return Ok(Vec::new());
    };
    let manifests: Vec<(Digest, String)> = match Document::parse(None, &bytes) {
        Ok(Document::Index(ix)) => ix
            .manifests
            .iter()
            .filter(|m| {
                media_type::is_manifest(&m.media_type)
                    && !m.annotations.contains_key("vnd.docker.reference.type")
                    && m.platform
                        .as_ref()
                        .is_none_or(|p| p.os != "unknown" && p.architecture != "unknown")
            })
            .map(|m| {
                let p = m
                    .platform
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                (m.digest.clone(), p)
            })
            .collect(),
        Ok(Document::Manifest(_)) => vec![(target.clone(), platform.to_owned())],
        Err(_) => return Ok(Vec::new()),
    };
    // A blob several platforms of this image share goes only with all of them.
    let mut blobs_of: Vec<(Digest, String, Vec<Digest>, bool)> = Vec::new();
    let mut shared: HashMap<Digest, usize> = HashMap::new();
    for (digest, p) in manifests {
        let mut blobs = vec![digest.clone()];
        let mut available = false;
        if let Some(bytes) = read(store, &digest)?
            && let Ok(Document::Manifest(m)) = Document::parse(None, &bytes)
        {
            blobs.push(m.config.digest.clone());
            blobs.extend(m.layers.iter().map(|l| l.digest.clone()));
            available = true;
        }
        for d in &blobs {
            available &= size_of(d)?.is_some();
        }
        for d in blobs.iter().collect::<HashSet<_>>() {
            *shared.entry(d.clone()).or_default() += 1;
        }
        blobs_of.push((digest, p, blobs, available));
    }
    let mut out = Vec::new();
    for (digest, p, blobs, available) in blobs_of {
        let (mut content, mut own) = (0, 0);
        for d in blobs.iter().collect::<HashSet<_>>() {
            let size = size_of(d)?.unwrap_or(0);
            content += size;
            if pinned_by.get(d).copied().unwrap_or(0) <= 1 && shared.get(d) == Some(&1) {
                own += size;
            }
        }
        out.push(TreePlatform {
            platform: p,
            available,
            details: TreeDetails {
                id: digest.to_string(),
                disk_usage: tree_size(own),
                content_size: tree_size(content),
                in_use: false,
            },
        });
    }
    Ok(out)
}

/// A manifest or index the store holds (none if it is not there or too large).
fn read(store: &Store, digest: &Digest) -> Result<Option<Vec<u8>>> {
    match store.index().blob(digest)? {
        Some(b) if b.size <= crate::oci::MAX_MANIFEST_SIZE => Ok(store.read_blob(digest).ok()),
        _ => Ok(None),
    }
}

/// The escapes of docker/cli's `internal/tui` colours, as aec writes them (one sequence a
/// code), taken from what docker 28.2.2's tree printed on a terminal.
mod sgr {
    /// `aec.NewBuilder(aec.BlueF, aec.Bold)`: a top-level name.
    pub const TOP_NAME: &str = "\x1b[34m\x1b[1m";
    /// `tui.ColorSecondary` (`aec.DefaultF`): details.
    pub const NORMAL: &str = "\x1b[39m";
    /// `tui.ColorTertiary` (default, faint): `<untagged>`.
    pub const UNTAGGED: &str = "\x1b[39m\x1b[2m";
    /// `tui.ColorTitle` (default, bold): the header.
    pub const TITLE: &str = "\x1b[39m\x1b[1m";
    /// `ColorSecondary.With(aec.Faint)`: a platform the store lacks.
    pub const FAINT: &str = "\x1b[39m\x1b[2m";
    /// `tui.Chip(0, 14, " U ")`: black on cyan.
    pub const CHIP_U: &str = "\x1b[38;5;0m\x1b[48;5;14m U \x1b[0m";
    /// `tui.InfoHeader`'s fancy form: a bold `i` on light cyan, then `Info →` in light cyan
    /// (9 columns).
    pub const INFO: &str = "\x1b[1m\x1b[106m\x1b[30mi\x1b[0m\x1b[0m \x1b[96mInfo → \x1b[0m\x1b[0m";
}

/// A colour to apply, or none (`tui.ColorNone`, or no colour at all).
#[derive(Clone, Copy)]
struct Color(Option<&'static str>);

impl Color {
    fn apply(self, s: &str) -> String {
        match self.0 {
            Some(code) => format!("{code}{s}\x1b[0m"),
            None => s.to_owned(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// A column (tree.go's `imgColumn`).
struct Column {
    title: &'static str,
    width: usize,
    align: Align,
    no_ellipsis: bool,
    value: Option<fn(&TreeDetails, &Chips) -> String>,
    /// `Some(None)`: tui.ColorNone (EXTRA keeps its chips' own colours).
    color: Option<Color>,
}

impl Column {
    fn print(&self, color: Color, s: &str) -> String {
        let fill = match self.width.checked_sub(display_width(s)) {
            Some(fill) => fill,
            None if self.no_ellipsis => 0,
            None => return color.apply(&ellipsis(s, self.width)),
        };
        let pad = " ".repeat(fill);
        match self.align {
            Align::Left => format!("{}{pad}", color.apply(s)),
            Align::Right => format!("{pad}{}", color.apply(s)),
        }
    }
}

/// `s` cut to `width` columns, its last one `…` (tui.Ellipsis).
fn ellipsis(s: &str, width: usize) -> String {
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// The chips some line uses (tree.go's `getPossibleChips`; docker's one chip is `U`,
/// In Use), and how they print.
struct Chips {
    in_use: bool,
    fancy: bool,
}

impl Chips {
    /// `U`, or on a terminal tui.Chip(0, 14, " U "): black on cyan.
    fn u(&self) -> String {
        if self.fancy {
            sgr::CHIP_U.to_owned()
        } else {
            "U".to_owned()
        }
    }

    fn width(&self) -> usize {
        match (self.in_use, self.fancy) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 3,
        }
    }

    fn extra(&self, d: &TreeDetails) -> String {
        match (self.in_use, d.in_use) {
            (false, _) => String::new(),
            (true, true) => self.u(),
            (true, false) => " ".repeat(self.width()),
        }
    }
}

/// Draws `view` as tree.go's `printImageTree` does.
pub fn render(view: &TreeView, term: TreeTerminal) -> String {
    let fancy = term.is_terminal && term.color;
    let color = |code: &'static str| Color(fancy.then_some(code));
    let mut width = term.width;
    if term.is_terminal && width > 0 && width < 20 {
        width = 20;
    }
    let mut out = String::new();
    if width > 0 {
        out.push_str(&legend(fancy, width));
        out.push('\n');
    }
    let chips = Chips {
        in_use: view
            .images
            .iter()
            .any(|i| i.details.in_use || i.children.iter().any(|c| c.details.in_use)),
        fancy,
    };
    let columns = vec![
        Column {
            title: "Image",
            width: 0,
            align: Align::Left,
            no_ellipsis: true,
            value: None,
            color: None,
        },
        Column {
            title: "ID",
            width: 12,
            align: Align::Left,
            no_ellipsis: false,
            value: Some(|d, _| short_id(&d.id)),
            color: None,
        },
        Column {
            title: "Disk usage",
            width: 10,
            align: Align::Right,
            no_ellipsis: false,
            value: Some(|d, _| d.disk_usage.clone()),
            color: None,
        },
        Column {
            title: "Content size",
            width: 12,
            align: Align::Right,
            no_ellipsis: false,
            value: Some(|d, _| d.content_size.clone()),
            color: None,
        },
        Column {
            title: "Extra",
            width: chips.width().max("Extra".len()),
            align: Align::Left,
            no_ellipsis: false,
            value: Some(|d, chips| chips.extra(d)),
            color: Some(Color(None)),
        },
    ];
    let columns = adjust_columns(width, columns, &view.images);
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(COLUMN_SPACING));
        }
        out.push_str(&c.print(color(sgr::TITLE), &c.title.to_uppercase()));
    }
    out.push('\n');
    let normal = color(sgr::NORMAL);
    for image in &view.images {
        names(
            &mut out,
            &columns,
            image,
            color(sgr::TOP_NAME),
            color(sgr::UNTAGGED),
        );
        details(&mut out, &columns, normal, &image.details, &chips);
        if !image.children.is_empty() || view.image_spacing {
            out.push('\n');
        }
        for (i, sub) in image.children.iter().enumerate() {
            let clr = if sub.available {
                normal
            } else {
                color(sgr::FAINT)
            };
            let branch = if i + 1 == image.children.len() {
                "└─ "
            } else {
                "├─ "
            };
            out.push_str(&columns[0].print(clr, &format!("{branch}{}", sub.platform)));
            details(&mut out, &columns, clr, &sub.details, &chips);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// tree.go's `generateLegend`: the info header and each chip, right-aligned.
fn legend(fancy: bool, width: usize) -> String {
    let (info, chip, info_width, chip_width) = if fancy {
        (sgr::INFO, sgr::CHIP_U, 9, 3)
    } else {
        (" Info -> ", "U", 9, 1)
    };
    let text = format!("{info} {chip} In Use");
    let visible = info_width + 1 + chip_width + " In Use".len();
    format!("{}{text}", " ".repeat(width.saturating_sub(visible)))
}

fn short_id(id: &str) -> String {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    hex.chars().take(12).collect()
}

/// tree.go's `adjustColumns`: the IMAGE column as wide as the widest name (or platform
/// line) allows within `width`, and the columns that no longer fit dropped.
fn adjust_columns(width: usize, mut columns: Vec<Column>, images: &[TreeImage]) -> Vec<Column> {
    let mut name_width = width as isize;
    if name_width > 0 {
        for idx in 0..columns.len() {
            if columns[idx].width == 0 {
                continue;
            }
            let d = (columns[idx].width + if idx > 0 { COLUMN_SPACING } else { 0 }) as isize;
            if name_width - d < 12 {
                columns.truncate(idx);
                break;
            }
            name_width -= d;
        }
    }
    let widest = widest_first_column(images) as isize;
    if width == 0 || name_width > widest {
        name_width = widest;
    }
    columns[0].width = name_width.max(0) as usize;
    columns
}

/// tree.go's `widestFirstColumnValue`, which counts bytes (so `└─ ` is 7).
fn widest_first_column(images: &[TreeImage]) -> usize {
    let mut width = "Image".len();
    for image in images {
        if image.names.is_empty() {
            width = width.max(UNTAGGED.len());
        }
        for n in &image.names {
            width = width.max(n.len());
        }
        for sub in &image.children {
            width = width.max(sub.platform.len() + "└─ ".len());
        }
    }
    width
}

fn details(out: &mut String, columns: &[Column], default: Color, d: &TreeDetails, chips: &Chips) {
    for c in columns {
        let Some(value) = c.value else { continue };
        out.push_str(&" ".repeat(COLUMN_SPACING));
        out.push_str(&c.print(c.color.unwrap_or(default), &value(d, chips)));
    }
}

/// tree.go's `printNames`: each name on its own line but the last, which shares the
/// details' line unless it is wider than the column.
fn names(out: &mut String, columns: &[Column], image: &TreeImage, color: Color, untagged: Color) {
    if image.names.is_empty() {
        out.push_str(&columns[0].print(untagged, UNTAGGED));
    }
    for (i, name) in image.names.iter().enumerate() {
        let last = i + 1 == image.names.len();
        let multi_line = display_width(name) > columns[0].width;
        out.push_str(&columns[0].print(color, name));
        if !last || multi_line {
            out.push('\n');
        }
        if multi_line && last {
            out.push_str(&" ".repeat(columns[0].width));
        }
    }
}

#[cfg(test)]
mod tests;
