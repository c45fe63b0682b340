//! Compile-fail tests: each file under `tests/ui/` is one mistake, and its
//! `.stderr` is the exact error rustc prints. Regenerate the `.stderr`
//! files after an intended message change with `TRYBUILD=overwrite cargo
//! test --test ui`, and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
