//! The importer on small models built here with the prost types: the cases
//! the committed models do not reach.

use prost::Message;

use crate::onnx::{
    attribute_proto::AttributeType, tensor_shape_proto::dimension::Value as DimValue,
    tensor_shape_proto::Dimension, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::{import, Options};

enum A {
    I(i64),
    Is(Vec<i64>),
    F(f32),
    S(&'static str),
}

fn node(op: &str, inputs: &[&str], output: &str, attrs: &[(&str, A)]) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(output.into()),
        input: inputs.iter().map(|s| (*s).to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs
            .iter()
            .map(|(name, a)| {
                let mut p = AttributeProto {
                    name: Some((*name).into()),
                    ..Default::default()
                };
                match a {
                    A::I(v) => {
                        p.r#type = Some(AttributeType::Int as i32);
                        p.i = Some(*v);
                    }
                    A::Is(v) => {
                        p.r#type = Some(AttributeType::Ints as i32);
                        p.ints.clone_from(v);
                    }
                    A::F(v) => {
                        p.r#type = Some(AttributeType::Float as i32);
                        p.f = Some(*v);
                    }
                    A::S(v) => {
                        p.r#type = Some(AttributeType::String as i32);
                        p.s = Some(v.as_bytes().to_vec());
                    }
                }
                p
            })
            .collect(),
        ..Default::default()
    }
}

/// A float tensor stored as `float_data`.
fn floats(name: &str, dims: &[i64], values: Vec<f32>) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(1),
        float_data: values,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: vec![i64::try_from(values.len()).unwrap()],
        data_type: Some(7),
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

fn value(name: &str, dims: &[Result<i64, &str>]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Ok(v) => DimValue::DimValue(*v),
                                Err(p) => DimValue::DimParam((*p).into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn model(
    input: &[Result<i64, &str>],
    output: &[Result<i64, &str>],
    nodes: Vec<NodeProto>,
    init: Vec<TensorProto>,
) -> Vec<u8> {
    ModelProto {
        ir_version: Some(9),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(18),
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: init,
            input: vec![value("x", input)],
            output: vec![value("y", output)],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn options() -> Options {
    Options {
        name: "Net".into(),
        source: "test.onnx".into(),
        input: None,
    }
}

fn body(declaration: &str) -> Vec<String> {
    declaration
        .lines()
        .skip_while(|l| !l.contains("input:"))
        .skip(1)
        .map(|l| l.split("//").next().unwrap_or_default().trim().to_string())
        .filter(|l| !l.is_empty() && l != "}")
        .collect()
}

#[test]
fn same_lower_padding_and_a_reshape_from_a_constant_node() {
    let w = floats("conv.weight", &[2, 1, 3, 3], vec![0.5; 18]);
    let nodes = vec![
        node(
            "Conv",
            &["x", "conv.weight"],
            "c",
            &[
                ("auto_pad", A::S("SAME_LOWER")),
                ("strides", A::Is(vec![2, 2])),
            ],
        ),
        node("Shape", &["c"], "s", &[]),
        node("Constant", &[], "zero", &[("value_ints", A::Is(vec![0]))]),
        node("Gather", &["s", "zero"], "n", &[("axis", A::I(0))]),
        node(
            "Constant",
            &[],
            "minus1",
            &[("value_ints", A::Is(vec![-1]))],
        ),
        node("Concat", &["n", "minus1"], "shape", &[("axis", A::I(0))]),
        node("Reshape", &["c", "shape"], "y", &[]),
    ];
    let bytes = model(
        &[Ok(1), Ok(1), Ok(6), Ok(6)],
        &[Ok(1), Ok(18)],
        nodes,
        vec![w],
    );
    let imported = import(&bytes, &options()).unwrap();
    assert_eq!(
        body(&imported.declaration),
        [
            "ZeroPad2d((1, 0, 1, 0)),",
            "conv: Conv2d(1, 2, 3, stride = 2, bias = false),",
            "Flatten,"
        ]
    );
    assert_eq!(imported.tensors.len(), 1);
    assert_eq!(imported.tensors[0].0, "conv.weight");
}

#[test]
fn every_problem_is_reported() {
    let nodes = vec![
        node("LSTM", &["x"], "a", &[]),
        node("HardSigmoid", &["a"], "b", &[("alpha", A::F(0.2))]),
        node("Gemm", &["b", "w"], "y", &[("transA", A::I(1))]),
    ];
    let bytes = model(
        &[Ok(4), Ok(3)],
        &[Ok(4), Ok(2)],
        nodes,
        vec![floats("w", &[3, 2], vec![0.0; 6])],
    );
    let report = import(&bytes, &options()).unwrap_err();
    let text = report.to_string();
    assert_eq!(report.problems.len(), 4, "{text}");
    assert!(
        text.contains("HardSigmoid node `b`: alpha = 0.2, beta = 0.5"),
        "{text}"
    );
    assert!(
        text.contains("LSTM node `a`: unsupported operator `LSTM`"),
        "{text}"
    );
    assert!(text.contains("has a batch of 4"), "{text}");
    assert!(text.contains("Gemm node `y`: transA = 1"), "{text}");
}

#[test]
fn branches_that_share_a_value_are_refused() {
    // a = relu(x); b = sigmoid(a); y = (a + x) + b: `a` is used by both
    // branches of the outer sum.
    let nodes = vec![
        node("Relu", &["x"], "a", &[]),
        node("Sigmoid", &["a"], "b", &[]),
        node("Add", &["a", "x"], "s", &[]),
        node("Add", &["s", "b"], "y", &[]),
    ];
    let bytes = model(
        &[Ok(1), Ok(3), Ok(4), Ok(4)],
        &[Ok(1), Ok(3), Ok(4), Ok(4)],
        nodes,
        vec![],
    );
    let report = import(&bytes, &options()).unwrap_err();
    assert_eq!(report.problems.len(), 1, "{report}");
}

#[test]
fn nested_branches() {
    // y = cat(sigmoid(x + relu(x)), x): a residual inside a branch of a
    // concatenation whose other branch is the identity.
    let nodes = vec![
        node("Relu", &["x"], "r", &[]),
        node("Add", &["x", "r"], "s", &[]),
        node("Sigmoid", &["s"], "t", &[]),
        node("Concat", &["t", "x"], "y", &[("axis", A::I(1))]),
    ];
    let bytes = model(
        &[Ok(1), Ok(3), Ok(4), Ok(4)],
        &[Ok(1), Ok(6), Ok(4), Ok(4)],
        nodes,
        vec![],
    );
    let imported = import(&bytes, &options()).unwrap();
    assert_eq!(
        body(&imported.declaration),
        [
            "Cat {",
            "{",
            "Residual {",
            "ReLU,",
            "},",
            "Sigmoid,",
            "},",
            "{},",
            "},"
        ]
    );
}

#[test]
fn a_reshape_that_is_not_a_flatten_is_refused() {
    let nodes = vec![node("Reshape", &["x", "shape"], "y", &[])];
    let bytes = model(
        &[Ok(1), Ok(3), Ok(4), Ok(4)],
        &[Ok(1), Ok(12), Ok(4)],
        nodes,
        vec![ints("shape", &[1, 12, 4])],
    );
    let report = import(&bytes, &options()).unwrap_err();
    assert!(
        report.problems[0].contains("constnet reshapes only by flattening each sample"),
        "{report}"
    );
}

#[test]
fn a_symbolic_size_is_taken_from_the_input_option() {
    let nodes = vec![node("Relu", &["x"], "y", &[])];
    let bytes = model(
        &[Err("N"), Ok(3), Err("H"), Err("W")],
        &[Err("N"), Ok(3), Err("H"), Err("W")],
        nodes,
        vec![],
    );
    let report = import(&bytes, &options()).unwrap_err();
    assert_eq!(report.problems.len(), 2, "{report}");
    let mut with_input = options();
    with_input.input = Some(vec![3, 5, 7]);
    let imported = import(&bytes, &with_input).unwrap();
    assert!(imported.declaration.contains("input: [3, 5, 7],"));
}

#[test]
fn per_channel_arithmetic_becomes_batch_norm() {
    // (x - mean) / std, then * 2 + 1, on a [1, 2, 3, 3] map.
    let nodes = vec![
        node("Sub", &["x", "mean"], "a", &[]),
        node("Div", &["a", "std"], "b", &[]),
        node("Mul", &["b", "two"], "c", &[]),
        node("Add", &["c", "one"], "y", &[]),
    ];
    let bytes = model(
        &[Ok(1), Ok(2), Ok(3), Ok(3)],
        &[Ok(1), Ok(2), Ok(3), Ok(3)],
        nodes,
        vec![
            floats("mean", &[2, 1, 1], vec![0.5, -0.5]),
            floats("std", &[1, 2, 1, 1], vec![2.0, 4.0]),
            floats("two", &[], vec![2.0]),
            floats("one", &[2, 1, 1], vec![1.0, 1.0]),
        ],
    );
    let imported = import(&bytes, &options()).unwrap();
    assert_eq!(
        body(&imported.declaration),
        [
            "mean: BatchNorm2d(2),",
            "std: BatchNorm2d(2),",
            "one: BatchNorm2d(2),"
        ]
    );
    let t = &imported.tensors;
    assert_eq!(t[0].0, "mean.weight");
    assert_eq!(t[0].2, [1.0, 1.0]);
    assert_eq!(t[1].2, [-0.5, 0.5]);
    assert_eq!(t[4].2, [0.5, 0.25]);
    assert_eq!(t[8].2, [2.0, 2.0]);
    assert_eq!(t[9].2, [1.0, 1.0]);
    // Not per channel: refused.
    let nodes = vec![node("Mul", &["x", "w"], "y", &[])];
    let bytes = model(
        &[Ok(1), Ok(2), Ok(3), Ok(3)],
        &[Ok(1), Ok(2), Ok(3), Ok(3)],
        nodes,
        vec![floats("w", &[3, 3], vec![1.0; 9])],
    );
    let report = import(&bytes, &options()).unwrap_err();
    assert!(
        report.problems[0].contains("constant of shape [3, 3]"),
        "{report}"
    );
}

/// Extreme attribute values, dimensions and missing outputs in a real
/// model: refused or imported, never a panic.
#[test]
fn extreme_values_never_panic() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/golden/tf_padding.onnx"
    );
    let bytes = std::fs::read(path).expect("tf_padding.onnx");
    let base = ModelProto::decode(bytes.as_slice()).expect("decodes");
    let extremes: [i64; 7] = [0, -1, 1, 2, 1 << 40, i64::MAX, i64::MIN];
    let run = |m: &ModelProto| {
        let _ = import(&m.encode_to_vec(), &options());
    };
    let graph = base.graph.as_ref().expect("graph");
    for (n, node) in graph.node.iter().enumerate() {
        for a in 0..node.attribute.len() {
            for &v in &extremes {
                let mut m = base.clone();
                let at = &mut m.graph.as_mut().unwrap().node[n].attribute[a];
                at.i = at.i.map(|_| v);
                for x in &mut at.ints {
                    *x = v;
                }
                at.f = at.f.map(|_| v as f32);
                run(&m);
            }
        }
        let mut m = base.clone();
        m.graph.as_mut().unwrap().node[n].output.clear();
        run(&m);
        let mut m = base.clone();
        m.graph.as_mut().unwrap().node[n].input.reverse();
        run(&m);
    }
    for (t, _) in graph.initializer.iter().enumerate() {
        for &v in &extremes {
            let mut m = base.clone();
            let init = &mut m.graph.as_mut().unwrap().initializer[t];
            if let Some(d) = init.dims.first_mut() {
                *d = v;
            }
            run(&m);
            let mut m = base.clone();
            m.graph.as_mut().unwrap().initializer[t].dims.push(v);
            run(&m);
        }
    }
    for &v in &extremes {
        for d in 0..4 {
            let mut m = base.clone();
            let input = &mut m.graph.as_mut().unwrap().input[0];
            if let Some(type_proto::Value::TensorType(t)) =
                input.r#type.as_mut().and_then(|t| t.value.as_mut())
            {
                t.shape.as_mut().unwrap().dim[d].value = Some(DimValue::DimValue(v));
            }
            run(&m);
        }
    }
}
