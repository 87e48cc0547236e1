//! Go's text/tabwriter as docker configures it for tables: each column as wide as its
//! widest cell plus padding, at least a minimum width, the last cell of a line unpadded.

/// Aligns tab-separated `text`: a cell ends at a tab; a line's trailing text (after its
/// last tab) is not part of any column. A column block runs over consecutive lines that
/// have a cell in that column, as in Go's tabwriter, so widths are shared only there.
pub(crate) fn align(text: &str, minwidth: usize, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut w = Writer {
        lines: &lines,
        minwidth,
        padding,
        widths: Vec::new(),
        out: String::with_capacity(text.len() * 2),
    };
    w.format(0, lines.len());
    w.out
}

struct Writer<'a> {
    lines: &'a [Vec<&'a str>],
    minwidth: usize,
    padding: usize,
    /// Widths of the columns of the block being formatted, outermost first.
    widths: Vec<usize>,
    out: String,
}

/// Display columns, as docker's tabwriter counts them (wide CJK characters take two).
fn width(cell: &str) -> usize {
    super::width::display_width(cell)
}

impl Writer<'_> {
    /// Whether line `i` has a tab-terminated cell in `column`.
    fn has_cell(&self, i: usize, column: usize) -> bool {
        column + 1 < self.lines[i].len()
    }

    fn format(&mut self, mut line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if !self.has_cell(this, column) {
                this += 1;
                continue;
            }
            // A block of this column starts here: print what came before it.
            self.write_lines(line0, this);
            line0 = this;
            let mut w = self.minwidth;
            while this < line1 && self.has_cell(this, column) {
                w = w.max(width(self.lines[this][column]) + self.padding);
                this += 1;
            }
            self.widths.push(w);
            self.format(line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(line0, line1);
    }

    fn write_lines(&mut self, line0: usize, line1: usize) {
        for i in line0..line1 {
            for (j, cell) in self.lines[i].iter().enumerate() {
                self.out.push_str(cell);
                if let Some(&w) = self.widths.get(j) {
                    let pad = w.saturating_sub(width(cell));
                    self.out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            // The text's last line has no newline of its own.
            if i + 1 < self.lines.len() {
                self.out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_take_widest_cell_plus_padding_with_a_minimum() {
        let text = "REPOSITORY\tTAG\tSIZE\nalpine\t3.20\t7.8MB\n";
        assert_eq!(
            align(text, 10, 3),
            "REPOSITORY   TAG       SIZE\nalpine       3.20      7.8MB\n"
        );
    }

    #[test]
    fn a_line_without_tabs_ends_the_block() {
        let text = "a\tb\nlong line without tabs\nccccccccccccc\td\n";
        assert_eq!(
            align(text, 4, 1),
            "a   b\nlong line without tabs\nccccccccccccc d\n"
        );
    }

    #[test]
    fn wide_characters_count_once() {
        assert_eq!(align("é\tx\nab\ty\n", 1, 1), "é  x\nab y\n");
    }

    /// docker pads `日本語…` by its display width (two columns a character).
    #[test]
    fn east_asian_wide_characters_count_twice() {
        assert_eq!(align("日本\tx\nabcde\ty\n", 1, 1), "日本  x\nabcde y\n");
    }

    #[test]
    fn text_without_final_newline_is_kept() {
        assert_eq!(align("a\tb", 3, 1), "a  b");
    }
}
