//! What docker 28's `docker search` prints, as data: descriptions cleaned and cut to 45
//! display columns ending in `…` (East Asian wide characters count twice, as in docker's
//! `formatter.Ellipsis`), the record `--format json` writes (string values, docker's key
//! order), the values templates see (`{{.IsOfficial}}` is `[OK]` or empty), the table's
//! columns, and the `stars`, `is-official` and `is-automated` filters.

use serde_json::{Value, json};

use crate::error::Result;
use crate::ops::filters;
use crate::output::Column;
use crate::output::width::char_width;
use crate::record::SearchRecord;

/// docker's description width in a truncated table.
pub const DESCRIPTION_WIDTH: usize = 45;

/// docker 28's default search table: `table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}`.
pub const COLUMNS: [Column; 4] = [
    Column::new("Name", "NAME"),
    Column::new("Description", "DESCRIPTION"),
    Column::new("StarCount", "STARS"),
    Column::new("IsOfficial", "OFFICIAL"),
];

/// One search result before formatting, from the index or a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The name the index gives, or `HOST/repository` for a catalog entry.
    pub name: String,
    /// The description as sent.
    pub description: String,
    /// Stars.
    pub star_count: u64,
    /// A Docker Official Image.
    pub is_official: bool,
    /// The deprecated automated-build flag.
    pub is_automated: bool,
}

impl Hit {
    /// The hit as a terminal may show it: the registry's name and description with every
    /// control or non-printable character escaped ([`crate::quote::escape`]), after the
    /// description's line breaks became spaces as docker makes them.
    pub fn escaped(self) -> Hit {
        Hit {
            name: crate::quote::escape(&self.name),
            description: crate::quote::escape(description(&self.description, false)),
            ..self
        }
    }

    /// The record docker's `--format json` prints (and img-search prints in a pipe).
    pub fn record(&self, trunc: bool) -> SearchRecord {
        SearchRecord {
            description: description(&self.description, trunc),
            is_official: self.is_official.to_string(),
            name: self.name.clone(),
            star_count: self.star_count.to_string(),
        }
    }

    /// What docker's search context shows a template or its table: the same keys, with
    /// `IsOfficial` as `[OK]` or empty; `{{json .}}` writes the record, as docker's
    /// context marshals itself.
    pub fn template_value(&self, trunc: bool) -> Value {
        use crate::template::typed::{Tag, Typed};
        let record = serde_json::to_value(self.record(trunc)).unwrap_or(Value::Null);
        Typed::strukt("*formatter.searchContext")
            .field("Name", Tag::Plain, json!(self.name))
            .field(
                "Description",
                Tag::Plain,
                json!(description(&self.description, trunc)),
            )
            .field("StarCount", Tag::Plain, json!(self.star_count.to_string()))
            .field(
                "IsOfficial",
                Tag::Plain,
                json!(if self.is_official { "[OK]" } else { "" }),
            )
            .json_as(record)
            .build()
    }
}

/// A description on one line: newlines and carriage returns become spaces, as docker does,
/// and tabs too (docker leaves them, and they break its table's columns); then cut to
/// [`DESCRIPTION_WIDTH`] unless `--no-trunc`.
pub fn description(raw: &str, trunc: bool) -> String {
    let one_line = raw.replace(['\n', '\r', '\t'], " ");
    if trunc {
        ellipsis(&one_line, DESCRIPTION_WIDTH)
    } else {
        one_line
    }
}

/// docker's `formatter.Ellipsis`: `s` if it fits in `max` display columns, else as many
/// characters as fit in `max - 1` columns followed by `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if max == 0 {
        return String::new();
    }
    if max == 1 {
        return chars.first().map(char::to_string).unwrap_or_default();
    }
    // docker counts characters when every one is a single byte, display columns otherwise.
    if s.len() == chars.len() {
        if chars.len() <= max {
            return s.to_owned();
        }
        return chars[..max - 1].iter().collect::<String>() + "…";
    }
    let mut total = 0;
    let mut ends = Vec::with_capacity(chars.len());
    for &c in &chars {
        total += char_width(c);
        ends.push(total);
    }
    if total <= max {
        return s.to_owned();
    }
    let keep = ends.iter().take_while(|&&w| w < max).count();
    chars[..keep].iter().collect::<String>() + "…"
}

/// docker's search filters, parsed once: `stars=N` (at least N; the largest N of several
/// wins), `is-official=true|false`, `is-automated=true|false` (deprecated: `true` matches
/// nothing, as docker 25 and later answer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HitFilter {
    stars: u64,
    official: Option<bool>,
    automated: Option<bool>,
}

impl HitFilter {
    /// Parses `--filter` values; an unknown key or a bad value is docker's invalid filter
    /// naming it (the daemon's answer there, so exit status 1, not a usage error).
    pub fn parse(filters: &[String]) -> Result<HitFilter> {
        let mut f = HitFilter::default();
        for raw in filters {
            let (key, value) = filters::split(raw)?;
            match key.as_str() {
                "stars" => {
                    let n: i64 = value.parse().map_err(|_| {
                        filters::invalid(&format!("{key}={value}"), "stars takes a number")
                    })?;
                    f.stars = f.stars.max(n.max(0) as u64);
                }
                "is-official" | "is-automated" => {
                    let b = match value {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(filters::invalid(
                                &format!("{key}={value}"),
                                &format!("{key} takes true or false"),
                            ));
                        }
                    };
                    let slot = if key == "is-official" {
                        &mut f.official
                    } else {
                        &mut f.automated
                    };
                    if slot.is_some_and(|old| old != b) {
                        return Err(filters::invalid(&key, "give it true or false, not both"));
                    }
                    *slot = Some(b);
                }
                _ => {
                    return Err(filters::invalid(
                        &key,
                        "search filters are stars, is-official and is-automated",
                    ));
                }
            }
        }
        Ok(f)
    }

    /// Whether `is-automated` was given (docker warns that it is deprecated).
    pub fn uses_automated(&self) -> bool {
        self.automated.is_some()
    }

    /// Whether `hit` passes every filter.
    pub fn matches(&self, hit: &Hit) -> bool {
        hit.star_count >= self.stars
            && self.official.is_none_or(|o| o == hit.is_official)
            && self.automated != Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(name: &str, stars: u64, official: bool, automated: bool) -> Hit {
        Hit {
            name: name.into(),
            description: String::new(),
            star_count: stars,
            is_official: official,
            is_automated: automated,
        }
    }

    #[test]
    fn ellipsis_counts_characters_then_columns() {
        let long = "Long description here that goes on and on beyond forty five chars";
        assert_eq!(
            ellipsis(long, 45),
            "Long description here that goes on and on be…"
        );
        assert_eq!(ellipsis("short", 45), "short");
        let exactly: String = "x".repeat(45);
        assert_eq!(ellipsis(&exactly, 45), exactly);
        // What docker printed for this description (22 wide characters, then the dots).
        let jp = "日本語の説明文がここにありますとても長い説明です日本語の説明文がここにあります";
        assert_eq!(
            ellipsis(jp, 45),
            "日本語の説明文がここにありますとても長い説明…"
        );
        // Multi-byte but narrow characters count one column each.
        let accents = "é".repeat(46);
        assert_eq!(ellipsis(&accents, 45), "é".repeat(44) + "…");
        assert_eq!(ellipsis(&"é".repeat(45), 45), "é".repeat(45));
    }

    #[test]
    fn descriptions_are_one_line() {
        assert_eq!(description("a\nb\rc\td", false), "a b c d");
    }

    /// Issue 14: a registry's description reached the terminal raw.
    #[test]
    fn a_registrys_cells_are_escaped_for_a_terminal() {
        let hit = Hit {
            name: "evil\x1b]0;t\x07".to_owned(),
            description: "中文 \x1b[31mred\nline \u{202e}".to_owned(),
            star_count: 1,
            is_official: false,
            is_automated: false,
        }
        .escaped();
        assert_eq!(hit.name, r"evil\x1b]0;t\a");
        assert_eq!(hit.description, r"中文 \x1b[31mred line \u202e");
    }

    #[test]
    fn records_and_template_values_are_dockers() {
        let h = hit("php", 7, true, false);
        let r = serde_json::to_string(&h.record(true)).unwrap();
        assert_eq!(
            r,
            r#"{"Description":"","IsOfficial":"true","Name":"php","StarCount":"7"}"#
        );
        assert_eq!(h.template_value(true)["IsOfficial"], "[OK]");
        assert_eq!(
            hit("x", 0, false, false).template_value(true)["IsOfficial"],
            ""
        );
    }

    #[test]
    fn filters_follow_docker() {
        let f = HitFilter::parse(&["stars=5".into(), "stars=100".into()]).unwrap();
        assert!(!f.matches(&hit("a", 50, false, false)));
        assert!(f.matches(&hit("a", 500, false, false)));
        let f = HitFilter::parse(&["is-official=true".into()]).unwrap();
        assert!(!f.matches(&hit("a", 0, false, false)));
        let f = HitFilter::parse(&["is-automated=true".into()]).unwrap();
        assert!(f.uses_automated());
        assert!(!f.matches(&hit("a", 0, false, true)));
        let f = HitFilter::parse(&["is-automated=false".into()]).unwrap();
        assert!(f.matches(&hit("a", 0, false, true)));
        // What docker's daemon refuses exits 1; a value without `=` is docker's flag error.
        for bad in ["foo=x", "stars=x", "is-official=maybe"] {
            let e = HitFilter::parse(&[bad.into()]).unwrap_err();
            assert_eq!(e.exit_code(), 1, "{bad}: {e}");
        }
        let e = HitFilter::parse(&["nokey".into()]).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
    }
}
