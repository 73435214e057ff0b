//! Progress of long runs (`ferry fetch`, `ferry bench`) on a terminal: bars on stderr when it is
//! one, nothing when it is not (CI logs, pipes and files stay as they were). Log records go
//! through the same bars, so a bar never tears a log line.

use std::io::{self, Write};
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Every bar of the process, drawn on stderr only when it is a terminal.
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// A bar over `total` bytes, with rate and time left.
pub fn bytes(total: u64, what: &str) -> ProgressBar {
    bar(
        total,
        what,
        "{msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
}

/// A bar over `total` steps; each step says what it is in the message.
pub fn steps(total: u64, what: &str) -> ProgressBar {
    bar(total, what, "{msg} [{wide_bar}] {pos}/{len} {elapsed}")
}

fn bar(total: u64, what: &str, template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template)
        .expect("a valid progress template")
        .progress_chars("=> ");
    bars().add(
        ProgressBar::new(total)
            .with_style(style)
            .with_message(what.to_string()),
    )
}

/// stderr for the logger: clears the bars around each record, then draws them again.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        bars().suspend(|| io::stderr().write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
