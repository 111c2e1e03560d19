//! Matrix stages make large DAGs common: planning stays near-linear in the number of stages
//! (it was quadratic: 16k stages took 35 s to `status`, 100k would take about 20 minutes).

mod common;

use std::fmt::Write as _;
use std::time::Instant;

use common::Ws;

#[test]
fn status_of_fifty_thousand_stages_takes_seconds_not_minutes() {
    let n: usize = 50_000;
    let mut yaml = String::from("stages:\n");
    for i in 0..n {
        // each needs one or two of the 50 stages before it; outputs share one folder
        let _ = write!(
            yaml,
            "  s{i}:\n    cmd: echo {i} > out/{i}.txt\n    outs: [out/{i}.txt]\n"
        );
        if i > 0 {
            let _ = writeln!(
                yaml,
                "    needs: [s{}, s{}]",
                i - 1,
                i.saturating_sub(1 + i % 50)
            );
        }
    }
    let ws = Ws::new(&yaml);
    let start = Instant::now();
    let out = ws.ok(&["status"]).stdout();
    let took = start.elapsed();
    assert_eq!(out.lines().filter(|l| l.ends_with(" stale")).count(), n);
    // measured 1.0 s on 2 cores; the quadratic version needed about 5 minutes
    assert!(took.as_secs() < 30, "status of {n} stages took {took:?}");
}
