//! The terminal [`Reporter`]: indicatif bars and log lines on stderr. On a terminal a bar
//! redraws in place; when stderr is piped (a log file, CI) progress becomes a plain line at
//! every tenth of the work instead; with `-q` there is neither. Log lines are always written
//! (information lines only without `-q`).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use pneumo_pipeline::pipeline::report::{Progress, Reporter};

pub struct Terminal {
    multi: MultiProgress,
    quiet: bool,
    tty: bool,
}

impl Terminal {
    pub fn new(quiet: bool) -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            quiet,
            tty: std::io::stderr().is_terminal(),
        }
    }
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn set(&self, done: u64, message: &str) {
        self.0.set_position(done);
        self.0.set_message(message.to_string());
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Progress as plain lines: `label: done/total (message)` each time another tenth is done.
struct Lines {
    label: String,
    total: u64,
    done: AtomicU64,
    /// Tenths already printed.
    printed: AtomicU64,
}

impl Lines {
    fn at(&self, done: u64, message: &str) {
        let tenth = (done * 10).checked_div(self.total).unwrap_or(10).min(10);
        if self.printed.fetch_max(tenth, Ordering::SeqCst) < tenth {
            let msg = if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            };
            eprintln!("{}: {done}/{}{msg}", self.label, self.total);
        }
    }
}

impl Progress for Lines {
    fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::SeqCst) + n;
        self.at(done, "");
    }
    fn set(&self, done: u64, message: &str) {
        self.done.store(done, Ordering::SeqCst);
        self.at(done, message);
    }
}

struct Nothing;

impl Progress for Nothing {
    fn inc(&self, _n: u64) {}
}

impl Reporter for Terminal {
    fn progress(&self, label: &str, total: u64) -> Box<dyn Progress + '_> {
        if self.quiet {
            return Box::new(Nothing);
        }
        if !self.tty {
            return Box::new(Lines {
                label: label.to_string(),
                total,
                done: AtomicU64::new(0),
                printed: AtomicU64::new(0),
            });
        }
        let bar = self.multi.add(ProgressBar::new(total));
        let style = ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {pos}/{len} {msg} {elapsed} elapsed, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        Box::new(Bar(bar))
    }

    fn info(&self, text: &str) {
        if !self.quiet {
            self.multi.suspend(|| eprintln!("{text}"));
        }
    }

    fn is_quiet(&self) -> bool {
        self.quiet
    }

    fn warn(&self, text: &str) {
        self.multi.suspend(|| eprintln!("warning: {text}"));
    }
}
