//! The terminal [`Reporter`]: indicatif bars and log lines on stderr. Bars are hidden
//! when stderr is not a terminal; log lines are always written.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use pneumo_pipeline::pipeline::report::{Progress, Reporter};

pub struct Terminal {
    multi: MultiProgress,
    quiet: bool,
}

impl Terminal {
    pub fn new(quiet: bool) -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            quiet,
        }
    }
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Reporter for Terminal {
    fn progress(&self, label: &str, total: u64) -> Box<dyn Progress + '_> {
        let bar = self.multi.add(ProgressBar::new(total));
        let style = ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {pos}/{len} {elapsed} elapsed, eta {eta}",
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
