//! What a scoring model's declared input and output must be, checked on the ONNX protobuf
//! before tract sees the graph, so that a wrong model is refused with a plain reason.

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{GraphProto, ValueInfoProto};

/// The declared signature of a scoring graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    /// The input's second dimension: values per row.
    pub width: usize,
}

impl Signature {
    /// Checks that `graph` has one float32 input `[batch, width]` (width fixed, at least 1)
    /// and one output, declared float32 of rank 1 or 2 when its type is given; the error
    /// says which is wrong.
    pub fn of(graph: &GraphProto) -> Result<Self, String> {
        // Before IR version 4 the initializers were listed among the inputs too.
        let inputs: Vec<&ValueInfoProto> = graph
            .input
            .iter()
            .filter(|input| !graph.initializer.iter().any(|i| i.name == input.name))
            .collect();
        let [input] = inputs.as_slice() else {
            let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(format!(
                "expected one input (a float32 matrix [batch, width]), found {}: {names:?}",
                inputs.len()
            ));
        };
        let (elem_type, dims) = tensor_type(input)
            .ok_or_else(|| format!("input `{}` has no tensor type", input.name))?;
        if elem_type != DataType::Float as i32 {
            return Err(format!(
                "input `{}` is of type {}, expected float32",
                input.name,
                type_name(elem_type)
            ));
        }
        let dims = dims.ok_or_else(|| {
            format!(
                "input `{}` declares no shape; expected [batch, width]",
                input.name
            )
        })?;
        if dims.len() != 2 {
            return Err(format!(
                "input `{}` has rank {}, expected rank 2 ([batch, width])",
                input.name,
                dims.len()
            ));
        }
        let width = match dims[1] {
            Some(&Dim::DimValue(width)) if width > 0 => width as usize,
            _ => {
                return Err(format!(
                    "input `{}`: the width (second dimension) must be a fixed number of at \
                     least 1, found {}",
                    input.name,
                    dim_name(dims[1])
                ));
            }
        };
        let [output] = graph.output.as_slice() else {
            let names: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
            return Err(format!(
                "expected one output (float32 [batch] or [batch, 1]), found {}: {names:?}",
                graph.output.len()
            ));
        };
        if let Some((elem_type, dims)) = tensor_type(output) {
            if elem_type != DataType::Float as i32 {
                return Err(format!(
                    "output `{}` is of type {}, expected float32",
                    output.name,
                    type_name(elem_type)
                ));
            }
            if let Some(dims) = dims
                && !(1..=2).contains(&dims.len())
            {
                return Err(format!(
                    "output `{}` has rank {}, expected [batch] or [batch, 1]",
                    output.name,
                    dims.len()
                ));
            }
        }
        Ok(Self { width })
    }
}

/// The element type and, when declared, the dimensions of a tensor-typed value.
fn tensor_type(value: &ValueInfoProto) -> Option<(i32, Option<Vec<Option<&Dim>>>)> {
    // The only kind of value this IR version's protobuf declares is a tensor.
    let TypeValue::TensorType(tensor) = value.r#type.as_ref()?.value.as_ref()?;
    let dims = tensor
        .shape
        .as_ref()
        .map(|shape| shape.dim.iter().map(|d| d.value.as_ref()).collect());
    Some((tensor.elem_type, dims))
}

fn type_name(elem_type: i32) -> String {
    DataType::try_from(elem_type).map_or_else(
        |_| format!("#{elem_type}"),
        |t| t.as_str_name().to_lowercase(),
    )
}

fn dim_name(dim: Option<&Dim>) -> String {
    match dim {
        Some(Dim::DimValue(n)) => n.to_string(),
        Some(Dim::DimParam(name)) => format!("the symbol `{name}`"),
        None => "an unknown size".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::tensor_shape_proto::Dimension;
    use tract_onnx::pb::type_proto::Tensor;
    use tract_onnx::pb::{TensorProto, TensorShapeProto, TypeProto};

    use super::*;

    fn value(name: &str, elem_type: DataType, dims: Option<Vec<Dim>>) -> ValueInfoProto {
        ValueInfoProto {
            name: name.to_string(),
            r#type: Some(TypeProto {
                value: Some(TypeValue::TensorType(Tensor {
                    elem_type: elem_type as i32,
                    shape: dims.map(|dims| TensorShapeProto {
                        dim: dims
                            .into_iter()
                            .map(|d| Dimension {
                                value: Some(d),
                                ..Dimension::default()
                            })
                            .collect(),
                    }),
                })),
                ..TypeProto::default()
            }),
            ..ValueInfoProto::default()
        }
    }

    fn batch() -> Dim {
        Dim::DimParam("batch".into())
    }

    fn graph(inputs: Vec<ValueInfoProto>, outputs: Vec<ValueInfoProto>) -> GraphProto {
        GraphProto {
            input: inputs,
            output: outputs,
            ..GraphProto::default()
        }
    }

    fn score(dims: Vec<Dim>) -> ValueInfoProto {
        value("score", DataType::Float, Some(dims))
    }

    fn features(elem_type: DataType, dims: Vec<Dim>) -> ValueInfoProto {
        value("features", elem_type, Some(dims))
    }

    #[test]
    fn a_scoring_signature_gives_its_width() {
        let input = features(DataType::Float, vec![batch(), Dim::DimValue(7)]);
        let ok = graph(vec![input.clone()], vec![score(vec![batch()])]);
        assert_eq!(Signature::of(&ok), Ok(Signature { width: 7 }));
        // an initializer listed among the inputs (IR < 4) is not an input
        let mut old = graph(
            vec![input, value("w", DataType::Float, None)],
            vec![score(vec![batch(), Dim::DimValue(1)])],
        );
        old.initializer.push(TensorProto {
            name: "w".into(),
            ..TensorProto::default()
        });
        assert_eq!(Signature::of(&old), Ok(Signature { width: 7 }));
    }

    #[test]
    fn wrong_inputs_and_outputs_are_named() {
        let out = || vec![score(vec![batch()])];
        let error = |inputs, outputs| Signature::of(&graph(inputs, outputs)).unwrap_err();
        let rank3 = features(
            DataType::Float,
            vec![batch(), Dim::DimValue(2), Dim::DimValue(3)],
        );
        let message = error(vec![rank3], out());
        assert!(message.contains("`features` has rank 3"), "{message}");
        let ints = features(DataType::Int64, vec![batch(), Dim::DimValue(3)]);
        let message = error(vec![ints], out());
        assert!(message.contains("int64, expected float32"), "{message}");
        let open_width = features(DataType::Float, vec![batch(), Dim::DimParam("w".into())]);
        let message = error(vec![open_width], out());
        assert!(message.contains("the symbol `w`"), "{message}");
        let no_shape = value("features", DataType::Float, None);
        let message = error(vec![no_shape], out());
        assert!(message.contains("declares no shape"), "{message}");
        let good = || features(DataType::Float, vec![batch(), Dim::DimValue(3)]);
        let message = error(vec![good(), good()], out());
        assert!(message.contains("expected one input"), "{message}");
        let message = error(vec![], out());
        assert!(message.contains("found 0"), "{message}");
        let message = error(
            vec![good()],
            vec![score(vec![batch()]), score(vec![batch()])],
        );
        assert!(message.contains("expected one output"), "{message}");
        let cube = score(vec![batch(), Dim::DimValue(1), Dim::DimValue(1)]);
        let message = error(vec![good()], vec![cube]);
        assert!(message.contains("output `score` has rank 3"), "{message}");
        let doubles = value("score", DataType::Double, Some(vec![batch()]));
        let message = error(vec![good()], vec![doubles]);
        assert!(message.contains("double, expected float32"), "{message}");
    }
}
