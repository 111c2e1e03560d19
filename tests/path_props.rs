//! Property: whatever form the workspace is given in, whatever outputs a `cmd` stage
//! declares (files, folders, through links inside and out, hard links to outside files), and
//! whatever the user left at those paths, no `run`, `exp run` or `clean` changes a byte
//! outside the workspace, and no file the user put in the workspace is deleted or changed.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use proptest::prelude::*;

use common::{FORMS, Ws};

/// Output paths a stage may declare, and how its command makes each.
const OUTS: [(&str, &str); 6] = [
    ("a.txt", "echo a > a.txt"),
    ("d/b.txt", "mkdir -p d && echo b > d/b.txt"),
    ("f", "mkdir -p f/g && echo c > f/g/c.txt"),
    ("inner/c.txt", "echo c > inner/c.txt"),
    ("escape/e.txt", "echo e > escape/e.txt"),
    ("hl.txt", "ln -f \"$OUTSIDE/h.txt\" hl.txt"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn nothing_outside_changes_and_no_user_file_is_lost(
        form in 0..4usize,
        declared in proptest::collection::btree_set(0..OUTS.len(), 1..4),
        user_files in proptest::collection::btree_set(0..OUTS.len(), 0..3),
        fail in any::<bool>(),
    ) {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("h.txt"), "outside, hard-linked").unwrap();
        fs::write(outside.path().join("e.txt"), "outside, behind a link").unwrap();
        let outs: Vec<&str> = declared.iter().map(|&i| OUTS[i].0).collect();
        let mut cmd: Vec<&str> = declared.iter().map(|&i| OUTS[i].1).collect();
        if fail {
            cmd.push("exit 3");
        }
        let ws = Ws::new(&format!(
            "stages:\n  s:\n    cmd: '{}'\n    outs: [{}]\n",
            cmd.join(" && "),
            outs.join(", ")
        ));
        fs::create_dir(ws.path().join("real")).unwrap();
        symlink(ws.path().join("real"), ws.path().join("inner")).unwrap();
        symlink(outside.path(), ws.path().join("escape")).unwrap();
        // the user's own files at some of the paths (those behind `escape` are outside)
        for &i in &user_files {
            let p = ws.path().join(OUTS[i].0.replace("inner/", "real/"));
            if OUTS[i].0.starts_with("escape/") {
                continue;
            }
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            let file = if OUTS[i].0 == "f" { p.join("mine.txt") } else { p };
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(&file, "the user's").unwrap();
        }
        let mine: Vec<(String, Vec<u8>)> = common::tree(ws.path())
            .into_iter()
            .filter(|(_, bytes)| bytes == b"the user's")
            .collect();
        let before = common::tree(outside.path());
        let form = FORMS[form];
        for args in [&["run"][..], &["run"], &["exp", "run", "-S", "s.desc=x"], &["clean"]] {
            let r = ws
                .cmd_as(form, outside.path(), args)
                .env("OUTSIDE", outside.path())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&r.stderr);
            prop_assert!(!stderr.contains("panicked"), "{:?}: {}", args, stderr);
            prop_assert_eq!(&common::tree(outside.path()), &before, "{:?} {:?}: {}", form, args, stderr);
            let now = common::tree(ws.path());
            for f in &mine {
                prop_assert!(now.contains(f), "{:?} {:?} lost {}: {}", form, args, f.0, stderr);
            }
        }
    }
}
