//! Regression (issue 9, failure 7): a writing command run by a user who may only read the
//! store says so plainly, in one line, and changes nothing.

mod common;

use common::*;
use img_core::testing::Fixture;
use img_core::testing::second_user::{as_nobody, can_switch_user, open_to_others};

#[test]
fn a_writing_command_on_a_store_it_may_only_read_says_so_and_changes_nothing() {
    assert!(
        can_switch_user(),
        "running a tool as a second user needs root (cargo xtask ci skips this test when not root)"
    );
    let f = Fixture::new().expect("starting the test registry (needs docker-registry)");
    f.pull("test/alpine-like:latest").unwrap();
    open_to_others(&f.root());
    let before = image(&f, "test/alpine-like:latest");
    let reference = f.reference("test/alpine-like:latest");
    for args in [vec![reference.as_str()], vec!["--prune"]] {
        let out = img_core::testing::run(
            as_nobody(&mut f.command(env!("CARGO_BIN_EXE_img-rm"))).args(&args),
            None,
        )
        .failure(1, 1);
        assert_eq!(
            out.stderr,
            format!(
                "img-rm: store {} is not writable by this user: img-ls and img-inspect can read it; to change it, run as a user who may write it, or use a store of your own (--root DIR or IMG_ROOT)\n",
                f.root().display()
            ),
            "{args:?}"
        );
    }
    assert_eq!(image(&f, "test/alpine-like:latest"), before);
    img_core::testing::verify_store(&f.root());
}
