//! The command line: what it writes, and that on any problem it reports
//! every one, exits with 1 and writes nothing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_constnet-import"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn writes_the_declaration_and_the_weights() {
    let dir = scratch("writes");
    let model = repo().join("data/lenet5.onnx");
    let (code, stdout, stderr) = run(&[
        model.to_str().unwrap(),
        "--name",
        "LeNet5",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(files(&dir), ["lenet5.rs", "lenet5.safetensors"]);
    let rs = fs::read_to_string(dir.join("lenet5.rs")).unwrap();
    assert_eq!(stdout.trim_end(), rs.trim_end());
    assert!(rs.contains("pub struct LeNet5 {"));
    assert!(rs.contains("conv1: Conv2d(1, 6, 5),"));
    assert!(stderr.contains("10 tensors, 61706 parameters"), "{stderr}");
}

/// An external initializer, an unsupported operator, a dynamic height and
/// width and a clip constnet cannot express: all five problems in one
/// report, exit code 1, no file.
#[test]
fn reports_every_problem_and_writes_nothing() {
    let dir = scratch("refuses");
    let model = repo().join("tests/import_onnx/unsupported.onnx");
    let (code, stdout, stderr) =
        run(&[model.to_str().unwrap(), "--out-dir", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty(), "{stdout}");
    let expected = "\
cannot import this model into constnet (5 problems):
  initializer `conv.weight`: its data is stored outside the model file (external data), which the importer does not read; save the model with its weights inside (onnx.save(model, path, save_as_external_data=False))
  Resize node `upsample`: unsupported operator `Resize`
  input `input` [N, 3, H, W]: dimension 2 is dynamic (`H`); constnet shapes are fixed: export with a fixed size, or give it with --input
  input `input` [N, 3, H, W]: dimension 3 is dynamic (`W`); constnet shapes are fixed: export with a fixed size, or give it with --input
  Clip node `clip`: a clip to [-1.0, 1.0]: constnet has ReLU (clip at 0) and ReLU6 (0 to 6)
nothing written
";
    assert_eq!(stderr, expected);
    assert!(files(&dir).is_empty());
}

#[test]
fn a_wrong_input_shape_is_refused() {
    let dir = scratch("wrong_input");
    let model = repo().join("tests/golden/vgg_stack.onnx");
    let (code, _, stderr) = run(&[
        model.to_str().unwrap(),
        "--input",
        "3,16,13",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "wrong input shape: --input gives dimension 3 as 13, but the model fixes it at 12"
        ),
        "{stderr}"
    );
    assert!(files(&dir).is_empty());
    // The right one is accepted.
    let (code, _, stderr) = run(&[model.to_str().unwrap(), "--input", "3,16,12", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn not_an_onnx_file() {
    let dir = scratch("garbage");
    let bad = dir.join("bad.onnx");
    fs::write(&bad, b"this is not protobuf at all \xff\xff\xff").unwrap();
    let (code, _, stderr) = run(&[bad.to_str().unwrap(), "--out-dir", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("not an ONNX model"), "{stderr}");
    assert_eq!(files(&dir), ["bad.onnx"]);
}
