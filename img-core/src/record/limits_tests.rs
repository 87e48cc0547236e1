//! The reader's bounds (issue 9, "also seen"): a huge line on stdin is one bad line read in
//! bounded memory, a random file gives a bounded number of short errors, and too much
//! input is one clear error.

use std::io::{BufReader, Cursor, Read};

use super::bounded::{MAX_LINE, MAX_REPORTED};
use super::*;

/// `len` bytes of `a` then `tail`, generated as they are read (never held whole).
struct Generated {
    left: u64,
    tail: Cursor<Vec<u8>>,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return self.tail.read(buf);
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].fill(b'a');
        self.left -= n as u64;
        Ok(n)
    }
}

/// This process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The test below re-runs itself alone in a child process, which reports its own peak
/// memory: in this process other tests run at the same time and would blur the figure.
const CHILD: &str = "IMG_CORE_TEST_MEMORY_CHILD";

#[test]
fn a_200_mb_line_on_stdin_is_one_bad_line_in_bounded_memory() {
    if std::env::var_os(CHILD).is_some() {
        let input = Generated {
            left: 200 << 20,
            tail: Cursor::new(b"\nalpine:3.20\n".to_vec()),
        };
        let items = read_target_items(BufReader::with_capacity(64 << 10, input)).unwrap();
        assert_eq!(items.len(), 2, "{items:?}");
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRecord);
        assert_eq!(
            err.to_string(),
            "line 1: a line of 200 MiB is longer than the 1 MiB a record may take (records \
             are one a line); skipped"
        );
        assert_eq!(
            items[1].as_ref().unwrap(),
            &Target::Reference(Reference::parse_normalized("alpine:3.20").unwrap())
        );
        println!("peak-kib: {}", peak_rss_kib());
        return;
    }
    let name = "record::limits_tests::a_200_mb_line_on_stdin_is_one_bad_line_in_bounded_memory";
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak: u64 = stdout
        .lines()
        .find_map(|l| l.split_once("peak-kib: ").map(|(_, n)| n))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the child did not say its peak: {stdout}"));
    // The old reader held all 200 MiB and a lossy copy: over 400 MiB. A line costs 1 MiB.
    assert!(peak < 32 << 10, "the peak memory was {peak} KiB");
}

#[test]
fn a_random_file_on_stdin_gives_bounded_errors() {
    // xorshift64: random enough to be no record, and needs no testing feature.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let random: Vec<u8> = (0..4 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let items = read_target_items(Cursor::new(random)).unwrap();
    let errors: Vec<String> = items
        .iter()
        .filter_map(|i| i.as_ref().err().map(ToString::to_string))
        .collect();
    assert_eq!(errors.len(), MAX_REPORTED + 1, "{errors:#?}");
    let last = errors.last().unwrap();
    assert!(
        last.starts_with("… and ") && last.ends_with(" more bad lines"),
        "{last}"
    );
    let total: usize = errors.iter().map(String::len).sum();
    assert!(total < 21 * 400, "{total} bytes of errors");
}

#[test]
fn a_line_at_the_limit_is_read_and_one_byte_more_is_not() {
    let at = format!("{}\n", "a".repeat(MAX_LINE));
    let items = read_items_within(Cursor::new(at.into_bytes()), MAX_LINE, 1 << 30).unwrap();
    // Read (an invalid reference, too long a name), not skipped as too long.
    let msg = items[0].as_ref().unwrap_err().to_string();
    assert!(!msg.contains("longer than the"), "{}", &msg[..80]);
    assert!(msg.len() < 400, "a quoted line is cut: {} bytes", msg.len());
    // Whatever a parser quotes, a message is cut, at a character boundary.
    let cut = super::bounded::cap_message(&"é".repeat(400));
    assert!(cut.len() <= 303 && cut.ends_with('…'), "{cut}");
    let over = "a".repeat(11);
    let items = read_items_within(Cursor::new(over.into_bytes()), 10, 1 << 20).unwrap();
    assert!(
        items[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("is longer than the")
    );
}

#[test]
fn an_overlong_line_inside_an_indented_array_fails_it_rather_than_dropping_an_element() {
    let input = format!(
        "[\n  \"alpine\",\n  \"{}\",\n  \"busybox\"\n]\n",
        "b".repeat(64)
    );
    let items = read_items_within(Cursor::new(input.into_bytes()), 32, 1 << 20).unwrap();
    let errors: Vec<String> = items
        .iter()
        .map(|i| i.as_ref().unwrap_err().to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{items:?}");
    assert!(
        errors[0].starts_with("line 1: malformed JSON"),
        "{errors:?}"
    );
    assert_eq!(
        errors[1],
        "line 3: a line of 69 bytes is longer than the 32 bytes a record may take (records \
         are one a line); skipped"
    );
}

#[test]
fn more_than_the_total_is_one_clear_error() {
    let input = "alpine\n".repeat(100);
    let err = read_items_within(Cursor::new(input.into_bytes()), 64, 500).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRecord);
    assert!(err.to_string().starts_with("more than "), "{err}");
    let input = "alpine\n".repeat(50);
    assert_eq!(
        read_items_within(Cursor::new(input.into_bytes()), 64, 500)
            .unwrap()
            .len(),
        50
    );
}

#[test]
fn twenty_bad_lines_are_all_reported_and_the_twenty_first_is_counted() {
    let input = "Bad\n".repeat(MAX_REPORTED);
    let items = read_target_items(Cursor::new(input.into_bytes())).unwrap();
    assert_eq!(items.len(), MAX_REPORTED);
    let input = format!("{}alpine\nBad\n", "Bad\n".repeat(MAX_REPORTED));
    let items = read_target_items(Cursor::new(input.into_bytes())).unwrap();
    assert_eq!(items.len(), MAX_REPORTED + 2);
    assert!(items[MAX_REPORTED].is_ok());
    assert_eq!(
        items[MAX_REPORTED + 1].as_ref().unwrap_err().to_string(),
        "… and 1 more bad line"
    );
}
