//! `constnet-import MODEL.onnx [--name Net] [--out-dir DIR] [--stem STEM]
//! [--input C,H,W]`: prints the declaration and writes `DIR/<stem>.rs` and
//! `DIR/<stem>.safetensors`; on any problem, prints them all, writes
//! nothing and exits with 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: constnet-import MODEL.onnx [--name NAME] [--out-dir DIR] [--stem STEM] [--input D1,D2,...]
  --name     the struct's name (default: the model's file stem in CamelCase)
  --out-dir  where to write <stem>.rs and <stem>.safetensors (default: .)
  --stem     the files' name (default: the model's file stem)
  --input    the input's shape without the batch dimension, in the model's layout,
             for models exported with dynamic sizes
  --dry-run  print the declaration, write nothing";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{e}");
            if !e.ends_with('\n') {
                eprintln!();
            }
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut model = None;
    let mut name = None;
    let mut out_dir = PathBuf::from(".");
    let mut stem = None;
    let mut input = None;
    let mut dry = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--name" => name = Some(value("--name")?),
            "--out-dir" => out_dir = PathBuf::from(value("--out-dir")?),
            "--stem" => stem = Some(value("--stem")?),
            "--input" => {
                let v = value("--input")?;
                let dims: Result<Vec<usize>, _> =
                    v.split(',').map(|d| d.trim().parse::<usize>()).collect();
                input =
                    Some(dims.map_err(|_| format!("--input {v}: expected sizes like 3,224,224"))?);
            }
            "--dry-run" => dry = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s if model.is_none() => model = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s}\n{USAGE}")),
        }
    }
    let model = model.ok_or_else(|| USAGE.to_string())?;
    let bytes = std::fs::read(&model).map_err(|e| format!("{}: {e}", model.display()))?;
    let file_stem = model
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model")
        .to_string();
    let options = constnet_import::Options {
        name: name.unwrap_or_else(|| constnet_import::struct_name(&file_stem)),
        source: model
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("model.onnx")
            .to_string(),
        input,
    };
    let imported =
        constnet_import::import(&bytes, &options).map_err(|r| format!("{r}nothing written\n"))?;
    println!("{}", imported.declaration);
    if dry {
        return Ok(());
    }
    let stem = stem.unwrap_or(file_stem);
    let (rs, st) = constnet_import::write(&imported, Path::new(&out_dir), &stem)?;
    eprintln!(
        "wrote {} (the declaration) and {} ({} tensors, {} parameters)",
        rs.display(),
        st.display(),
        imported.tensors.len(),
        imported.parameters()
    );
    Ok(())
}
