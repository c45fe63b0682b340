#!/usr/bin/env python3
"""Quantize golden CNNs of tests/golden/ and MLPerf Tiny's networks of the
zoo (data/zoo/) with TensorFlow Lite and record
TFLite's int8 network and what its reference kernels compute, so that
constnet's `#[int8]` networks can be checked against them bit for bit
without Python (tests/int8_tflite_cnns.rs).

Needs (in a venv outside the repository; not needed by the tests or CI):
    pip install tensorflow-cpu ai-edge-litert safetensors numpy
Versions used for the shipped files: printed by the script and stored in
each file's metadata.

Run from the repository root:
    python tools/tflite_int8_cnns.py            # every network below
    python tools/tflite_int8_cnns.py vgg_stack  # one

For each network <name> (NETWORKS: tests/golden/; ZOO: MLPerf Tiny's four
networks of data/zoo/, their weights and golden inputs there):
    1. Builds it in Keras (NHWC) with the weights of
       tests/golden/<name>.safetensors (data/zoo/<name>.safetensors), each
       Keras layer named after the constnet layer-table row whose value it
       produces (`layer1.0.conv1`, `3`), and checks its outputs against
       PyTorch's golden ones (tests/golden/<name>.io.safetensors,
       data/zoo/<name>_golden.safetensors) within 1e-4. PyTorch's padding
       is an explicit ZeroPadding2D (TFLite's PAD, on the zero point), batch
       norms are Keras BatchNormalization layers (the converter folds them
       into the convolution or dense layer before them), Flatten after a map is NHWC, so
       the next Linear's columns are reordered.
    2. Converts it to a full-integer TFLite model (per-channel int8
       weights, int8 activations per tensor), calibrated by TFLite's
       converter on 200 standard normal inputs (numpy seed 0).
    3. Runs it with TFLite's *reference* kernels (BUILTIN_REF) on the
       golden inputs (3; the zoo's: 4) and standard normal ones (seed 1)
       up to 64 inputs (tiny_edge: 2,000, its int8 softmax is the point;
       mobilenet_v1_025: 16, 27,648 values each).

What it writes (tests/int8/<name>_tflite.safetensors), in PyTorch's layouts:
    <key>.weight        I8   [O, C/g, KH, KW] / [O, I]  every conv / linear,
                             as TFLite quantized it (batch norm folded in)
    <key>.weight_scale  F32  [O]
    <key>.bias          I32  [O]
    <row>.scale F32 [1], <row>.zero_point I32 [1]
                        the parameters of the value each TFLite op writes,
                        under the name of the layer-table row that shows it
                        (a convolution's fused ReLU's row); `input` for
                        the quantized input
    input.float         F32  [8, C, H, W]    the first 8 inputs
    input.values        I8   [64, C, H, W]   TFLite's QUANTIZE of the 64
                                             (2,000 for tiny_edge)
    output.values       I8   [64, ...]       the int8 output
"""
import os
import re
import sys

import numpy as np

# The full-integer conversion LeNet-5's golden uses too.
from tflite_int8_golden import convert

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = 64
MORE_SAMPLES = {"tiny_edge": 2000,  # (its int8 softmax, on many rows)
                "mobilenet_v1_025": 16}  # (27,648-value inputs)
FLOATS = 8
FEWER_FLOATS = {"mobilenet_v1_025": 2}


class Builder:
    """Keras layers from PyTorch tensors, named after constnet's rows."""

    def __init__(self, tf, w):
        self.L = tf.keras.layers
        self.w = w
        self.setters = []  # (layer, weights) once the model is built
        self.flat_from = {}  # linear key -> (C, H, W) of the map flattened before it
        self.weighted = set()  # the keys of the convolutions and linear layers

    def conv(self, x, key, stride=1, pad=0, groups=1, bn=None, eps=1e-5, act=None):
        """Conv2d `key` (then BatchNorm2d `bn`, then activation `act` =
        (kind, row name)), PyTorch's arguments."""
        L, w = self.L, self.w
        k = w[f"{key}.weight"]
        o, cg, kh, kw = k.shape
        c = cg * groups
        bias = w.get(f"{key}.bias")
        self.weighted.add(key)
        if pad:
            x = L.ZeroPadding2D(pad, name=f"{key}.pad")(x)
        if groups == 1:
            layer = L.Conv2D(o, (kh, kw), strides=stride, use_bias=bias is not None, name=key)
            kernel = k.transpose(2, 3, 1, 0)
        elif groups == c and cg == 1:
            layer = L.DepthwiseConv2D((kh, kw), strides=stride, depth_multiplier=o // c,
                                      use_bias=bias is not None, name=key)
            kernel = k.reshape(c, o // c, kh, kw).transpose(2, 3, 0, 1)
        else:
            raise ValueError(f"{key}: groups {groups} is neither 1 nor depthwise")
        x = layer(x)
        self.setters.append((layer, [kernel] + ([bias] if bias is not None else [])))
        if bn is not None:
            x = self.norm(x, bn, eps)
        return self.act(x, act)

    def act(self, x, act):
        if act is None:
            return x
        kind, name = act
        if kind == "relu":
            return self.L.ReLU(name=name)(x)
        if kind == "relu6":
            return self.L.ReLU(6.0, name=name)(x)
        if kind == "hardswish":
            return self.L.Activation("hard_swish", name=name)(x)
        raise ValueError(kind)

    def linear(self, x, key, bn=None, eps=1e-5, act=None):
        L, w = self.L, self.w
        k = w[f"{key}.weight"]
        o, i = k.shape
        chw = self.flat_from.get(key)
        if chw is not None:  # columns from PyTorch's C,H,W order to Keras' H,W,C
            c, h, ww = chw
            k = k.reshape(o, c, h, ww).transpose(0, 2, 3, 1).reshape(o, i)
        bias = w.get(f"{key}.bias")
        self.weighted.add(key)
        layer = L.Dense(o, use_bias=bias is not None, name=key)
        x = layer(x)
        self.setters.append((layer, [k.T] + ([bias] if bias is not None else [])))
        if bn is not None:
            x = self.norm(x, bn, eps)
        return self.act(x, act)

    def norm(self, x, bn, eps):
        norm = self.L.BatchNormalization(epsilon=eps, name=bn)
        x = norm(x)
        w = self.w
        self.setters.append((norm, [w[f"{bn}.weight"], w[f"{bn}.bias"],
                                    w[f"{bn}.running_mean"], w[f"{bn}.running_var"]]))
        return x

    def flatten(self, x, name, next_linear):
        _, h, ww, c = x.shape
        if h * ww > 1:
            self.flat_from[next_linear] = (c, h, ww)
        return self.L.Flatten(name=name)(x)

    def finish(self, tf, inp, out):
        model = tf.keras.Model(inp, out)
        for layer, weights in self.setters:
            layer.set_weights(weights)
        return model


def vgg_stack(tf, b):
    x = inp = b.L.Input((16, 12, 3))
    x = b.conv(x, "0", pad=1, bn="1", act=("relu", "2"))
    x = b.conv(x, "3", pad=1, bn="4", act=("relu", "5"))
    x = b.L.MaxPool2D(2, name="6")(x)
    x = b.conv(x, "7", pad=1, act=("relu", "8"))
    x = b.conv(x, "9", pad=1, bn="10", act=("relu", "11"))
    x = b.L.MaxPool2D(2, name="12")(x)
    x = b.flatten(x, "13", "14")
    x = b.linear(x, "14", act=("relu", "15"))
    x = b.linear(x, "17")
    return inp, x


def resnet_cifar(tf, b):
    def block(x, p, stride, project):
        y = b.conv(x, f"{p}.conv1", stride=stride, pad=1, bn=f"{p}.bn1", act=("relu", f"{p}.2"))
        y = b.conv(y, f"{p}.conv2", pad=1, bn=f"{p}.bn2")
        if project:
            x = b.conv(x, f"{p}.downsample.0", stride=stride, bn=f"{p}.downsample.1")
        y = b.L.Add(name=f"{p}.add")([y, x])
        return b.L.ReLU(name=f"{p}.{6 if project else 5}")(y)

    x = inp = b.L.Input((32, 32, 3))
    x = b.conv(x, "conv1", pad=1, bn="bn1", act=("relu", "relu"))
    x = block(x, "layer1.0", 1, False)
    x = block(x, "layer1.1", 1, False)
    x = block(x, "layer2.0", 2, True)
    x = block(x, "layer2.1", 1, False)
    x = block(x, "layer3.0", 2, True)
    x = b.L.AveragePooling2D(8, name="avgpool")(x)
    x = b.flatten(x, "7", "fc")
    x = b.linear(x, "fc")
    return inp, x


def mobilenet_v2(tf, b):
    def conv_bn_relu6(x, p, kernel=3, stride=1, groups=1):
        return b.conv(x, f"{p}.0", stride=stride, pad=(kernel - 1) // 2, groups=groups,
                      bn=f"{p}.1", act=("relu6", f"{p}.2"))

    def inverted_residual(x, p, inp, oup, stride, expand):
        y, i = x, 0
        if expand != 1:
            y, i = conv_bn_relu6(y, f"{p}.conv.0", kernel=1), 1
        y = conv_bn_relu6(y, f"{p}.conv.{i}", stride=stride, groups=inp * expand)
        y = b.conv(y, f"{p}.conv.{i + 1}", bn=f"{p}.conv.{i + 2}")
        if stride == 1 and inp == oup:
            y = b.L.Add(name=f"{p}.add")([y, x])
        return y

    x = inp = b.L.Input((32, 32, 3))
    x = conv_bn_relu6(x, "features.0", stride=2)
    x = inverted_residual(x, "features.1", 16, 8, 1, 1)
    x = inverted_residual(x, "features.2", 8, 12, 2, 6)
    x = inverted_residual(x, "features.3", 12, 12, 1, 6)
    x = inverted_residual(x, "features.4", 12, 16, 2, 6)
    x = inverted_residual(x, "features.5", 16, 16, 1, 6)
    x = conv_bn_relu6(x, "features.6", kernel=1)
    x = b.L.AveragePooling2D(4, name="1")(x)
    x = b.flatten(x, "2", "classifier.1")
    x = b.linear(x, "classifier.1")
    return inp, x


def mobilenet(tf, b):
    x = inp = b.L.Input((15, 11, 4))
    x = b.conv(x, "stem", stride=2, pad=1, bn="stem_bn", act=("relu6", "2"))
    x = b.conv(x, "dw1", pad=1, groups=8, bn="dw1_bn", act=("relu6", "5"))
    x = b.conv(x, "pw1", bn="pw1_bn", act=("relu6", "8"))
    x = b.conv(x, "dw2", stride=2, pad=1, groups=16, act=("hardswish", "10"))
    x = b.conv(x, "pw2", bn="pw2_bn", eps=1e-3, act=("hardswish", "13"))
    x = b.L.AveragePooling2D((4, 3), name="14")(x)
    x = b.flatten(x, "15", "classifier")
    x = b.linear(x, "classifier")
    x = b.L.Softmax(name="18")(x)
    return inp, x


def squeezenet(tf, b):
    def fire(x, p):
        x = b.conv(x, f"{p}.squeeze", act=("relu", f"{p}.squeeze_activation"))
        e1 = b.conv(x, f"{p}.expand1x1", act=("relu", f"{p}.expand1x1_activation"))
        e3 = b.conv(x, f"{p}.expand3x3", pad=1, act=("relu", f"{p}.expand3x3_activation"))
        return b.L.Concatenate(name=f"{p}.cat")([e1, e3])

    def ceil_max_pool(x, name):
        # MaxPool2d(3, stride=2, ceil_mode=True) on an even map: the last
        # window runs one past it. Its inputs are ReLU outputs (>= 0), so
        # padding with 0 (TFLite's PAD: the zero point) never changes a
        # maximum.
        x = b.L.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}.pad")(x)
        return b.L.MaxPool2D(3, 2, name=name)(x)

    x = inp = b.L.Input((33, 33, 3))
    x = b.conv(x, "features.0", stride=2, act=("relu", "features.1"))
    x = ceil_max_pool(x, "features.2")
    x = fire(x, "features.3")
    x = fire(x, "features.4")
    x = ceil_max_pool(x, "features.5")
    x = fire(x, "features.6")
    x = b.conv(x, "classifier.1", act=("relu", "classifier.2"))
    x = b.L.AveragePooling2D(4, name="classifier.3")(x)
    x = b.L.Flatten(name="2")(x)
    return inp, x


def tiny_edge(tf, b):
    x = inp = b.L.Input((5, 7, 2))
    x = b.conv(x, "0")
    x = b.flatten(x, "1", "2")
    x = b.linear(x, "2")
    x = b.L.Softmax(name="3")(x)
    return inp, x


def ds_cnn(tf, b):
    x = inp = b.L.Input((49, 10, 1))
    x = b.L.ZeroPadding2D(((4, 5), (1, 1)), name="0")(x)
    x = b.conv(x, "1", stride=2, bn="2", act=("relu", "3"))
    for i in range(4):
        k = 4 + 6 * i
        x = b.conv(x, f"{k}", pad=1, groups=64, bn=f"{k + 1}", act=("relu", f"{k + 2}"))
        x = b.conv(x, f"{k + 3}", bn=f"{k + 4}", act=("relu", f"{k + 5}"))
    x = b.L.AveragePooling2D((25, 5), name="28")(x)
    x = b.flatten(x, "29", "30")
    x = b.linear(x, "30")
    x = b.L.Softmax(name="31")(x)
    return inp, x


def mobilenet_v1(tf, b):
    def separable(x, p, inp, stride):
        if stride == 2:
            x = b.L.ZeroPadding2D(((0, 1), (0, 1)), name=f"{p}.0")(x)
            first = 1
        else:
            first = 0
        k = [f"{p}.{first + i}" for i in range(6)]
        x = b.conv(x, k[0], stride=stride, pad=1 if stride == 1 else 0, groups=inp, bn=k[1],
                   act=("relu", k[2]))
        return b.conv(x, k[3], bn=k[4], act=("relu", k[5]))

    x = inp = b.L.Input((96, 96, 3))
    x = b.L.ZeroPadding2D(((0, 1), (0, 1)), name="0")(x)
    x = b.conv(x, "1", stride=2, bn="2", act=("relu", "3"))
    layers = [(8, 1), (16, 2), (32, 1), (32, 2), (64, 1), (64, 2)] + [(128, 1)] * 5 + [(128, 2), (256, 1)]
    for i, (inp_c, stride) in enumerate(layers):
        x = separable(x, f"4.{i}", inp_c, stride)
    x = b.L.AveragePooling2D(3, name="5")(x)
    x = b.flatten(x, "6", "7")
    x = b.linear(x, "7")
    x = b.L.Softmax(name="8")(x)
    return inp, x


def resnet8(tf, b):
    def stack(x, p, stride):
        if stride == 1:
            y = b.conv(x, f"{p}.conv1", pad=1, bn=f"{p}.bn1", act=("relu", f"{p}.2"))
        else:
            y = b.L.ZeroPadding2D(((0, 1), (0, 1)), name=f"{p}.pad")(x)
            y = b.conv(y, f"{p}.conv1", stride=2, bn=f"{p}.bn1", act=("relu", f"{p}.3"))
        y = b.conv(y, f"{p}.conv2", pad=1, bn=f"{p}.bn2")
        shortcut = x if stride == 1 else b.conv(x, f"{p}.shortcut", stride=2)
        y = b.L.Add(name=f"{p}.add")([y, shortcut])
        return b.L.ReLU(name=f"{p}.{5 if stride == 1 else 7}")(y)

    x = inp = b.L.Input((32, 32, 3))
    x = b.conv(x, "conv1", pad=1, bn="bn1", act=("relu", "2"))
    x = stack(x, "stack1", 1)
    x = stack(x, "stack2", 2)
    x = stack(x, "stack3", 2)
    x = b.L.AveragePooling2D(8, name="6")(x)
    x = b.flatten(x, "7", "fc")
    x = b.linear(x, "fc")
    x = b.L.Softmax(name="9")(x)
    return inp, x


def autoencoder(tf, b):
    x = inp = b.L.Input((640,))
    for i in range(9):
        k = 3 * i
        x = b.linear(x, f"{k}", bn=f"{k + 1}", act=("relu", f"{k + 2}"))
    x = b.linear(x, "27")
    return inp, x


# The MLPerf Tiny networks of the zoo (data/zoo/, tests/common/zoo.rs and
# examples/resnet8/net.rs), with their weights and golden inputs there.
ZOO = {"ds_cnn": ds_cnn, "mobilenet_v1_025": mobilenet_v1, "resnet8": resnet8,
       "autoencoder": autoencoder}

NETWORKS = {"tiny_edge": tiny_edge, "vgg_stack": vgg_stack, "resnet_cifar": resnet_cifar, "mobilenet_v2": mobilenet_v2,
            "squeezenet": squeezenet, "mobilenet": mobilenet}


def layers_in(tensor_name):
    """The Keras layers a TFLite tensor's name mentions: a fused op's output
    is named after every op fused into it, `model/<layer>_1/<op>;...`
    (Keras adds the `_1`)."""
    return [re.sub(r"_\d+$", "", part.split("/")[1])
            for part in tensor_name.split(";") if part.count("/") >= 2]


def row_of(tensor_name, order):
    """The row a TFLite op's output shows: the last of the Keras layers
    fused into it (a ReLU after its convolution), in the model's order
    `order` (name -> index); the model's output is named after no layer."""
    named = [n for n in layers_in(tensor_name) if n in order]
    return max(named, key=order.get) if named else max(order, key=order.get)


def chw(a):
    return a.transpose(2, 0, 1) if a.ndim == 3 else a


def quantized_network(it, b, model):
    details = {d["index"]: d for d in it.get_tensor_details()}
    ops = it._get_ops_details()
    order = {layer.name: i for i, layer in enumerate(model.layers)}
    out = {}

    def params(name, index):
        q = details[index]["quantization_parameters"]
        assert len(q["scales"]) == 1, (name, q)
        out[f"{name}.scale"] = q["scales"].astype(np.float32)
        out[f"{name}.zero_point"] = q["zero_points"].astype(np.int32)

    def same_params(op):
        a, z = (details[op["inputs"][0]]["quantization_parameters"],
                details[op["outputs"][0]]["quantization_parameters"])
        assert (a["scales"] == z["scales"]).all() and (a["zero_points"] == z["zero_points"]).all(), op

    for op in ops:
        kind = op["op_name"]
        name = details[op["outputs"][0]]["name"]
        if kind == "QUANTIZE":
            params("input", op["outputs"][0])
        elif kind in ("PAD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE"):
            same_params(op)
        elif kind in ("ADD", "CONCATENATION", "SOFTMAX", "HARD_SWISH"):
            params(row_of(name, order), op["outputs"][0])
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            params(row_of(name, order), op["outputs"][0])
            wi, bi = op["inputs"][1], op["inputs"][2]
            # The layer: named by its weight (after its ops, or the batch
            # norm folded into it) or by its output (after the ops fused).
            [key] = {n for n in layers_in(details[wi]["name"]) + layers_in(name) if n in b.weighted}
            k = it.get_tensor(wi)
            q = details[wi]["quantization_parameters"]
            assert (q["zero_points"] == 0).all(), key
            if kind == "CONV_2D":
                k = k.transpose(0, 3, 1, 2)  # OHWI -> OIHW
            elif kind == "DEPTHWISE_CONV_2D":
                k = k[0].transpose(2, 0, 1)[:, None]  # 1,H,W,O -> O,1,H,W
            elif key in b.flat_from:
                c, h, ww = b.flat_from[key]
                k = k.reshape(k.shape[0], h, ww, c).transpose(0, 3, 1, 2).reshape(k.shape[0], -1)
            assert len(q["scales"]) == k.shape[0], (key, q)
            out[f"{key}.weight"] = np.ascontiguousarray(k.astype(np.int8))
            out[f"{key}.weight_scale"] = q["scales"].astype(np.float32)
            bias = it.get_tensor(bi) if bi >= 0 else np.zeros(k.shape[0])  # (no bias: -1)
            out[f"{key}.bias"] = bias.astype(np.int32)
        elif kind not in ("DEQUANTIZE", "SHAPE", "STRIDED_SLICE", "PACK"):
            # (the last three: Flatten's int32 shape arithmetic for a dynamic batch)
            raise ValueError(f"no row for TFLite op {kind} ({name})")
    return out


def one(name, tf, litert, meta):
    from safetensors.numpy import load_file, save_file

    if name in ZOO:
        w = load_file(os.path.join(ROOT, "data", "zoo", f"{name}.safetensors"))
        io = load_file(os.path.join(ROOT, "data", "zoo", f"{name}_golden.safetensors"))
        golden_in, golden_out = io["input"], io["output"]
    else:
        w = load_file(os.path.join(ROOT, "tests", "golden", f"{name}.safetensors"))
        io = load_file(os.path.join(ROOT, "tests", "golden", f"{name}.io.safetensors"))
        golden_in, golden_out = io["__input"], io["__output"]
    b = Builder(tf, w)
    inp, out = {**NETWORKS, **ZOO}[name](tf, b)
    model = b.finish(tf, inp, out)

    if golden_in.ndim == 4:
        golden_in = golden_in.transpose(0, 2, 3, 1)
    err = np.abs(model.predict(golden_in, verbose=0) - golden_out).max()
    print(f"{name}: Keras float against PyTorch: max |diff| {err:.2e}")
    assert err < 1e-4

    shape = golden_in.shape[1:]
    calibration = np.random.default_rng(0).standard_normal((200,) + shape).astype(np.float32)
    samples = MORE_SAMPLES.get(name, SAMPLES)
    more = np.random.default_rng(1).standard_normal((samples - len(golden_in),) + shape).astype(np.float32)
    xs = np.concatenate([golden_in, more])
    tfl = convert(tf, model, calibration)

    it = litert.Interpreter(model_content=tfl,
                            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
                            experimental_preserve_all_tensors=True, num_threads=1)
    it.allocate_tensors()
    quant = next(op for op in it._get_ops_details() if op["op_name"] == "QUANTIZE")
    last = next(op for op in it._get_ops_details() if op["op_name"] == "DEQUANTIZE")
    inputs, outputs = [], []
    for x in xs:
        it.set_tensor(it.get_input_details()[0]["index"], x[None])
        it.invoke()
        inputs.append(chw(it.get_tensor(quant["outputs"][0])[0]))
        outputs.append(chw(it.get_tensor(last["inputs"][0])[0]))

    tensors = quantized_network(it, b, model)
    floats = FEWER_FLOATS.get(name, FLOATS)
    nchw = xs[:floats].transpose(0, 3, 1, 2) if xs.ndim == 4 else xs[:floats]
    tensors["input.float"] = np.ascontiguousarray(nchw)
    tensors["input.values"] = np.ascontiguousarray(np.stack(inputs).astype(np.int8))
    tensors["output.values"] = np.ascontiguousarray(np.stack(outputs).astype(np.int8))
    path = os.path.join(ROOT, "tests", "int8", f"{name}_tflite.safetensors")
    save_file(tensors, path, metadata=meta)
    os.chmod(path, 0o644)
    print(f"{name}: wrote {path}, {os.path.getsize(path)} bytes")


def main():
    import tensorflow as tf
    import ai_edge_litert
    from ai_edge_litert import interpreter as litert

    print("tensorflow", tf.__version__, "ai-edge-litert", ai_edge_litert.__version__)
    meta = {"tensorflow": tf.__version__, "ai_edge_litert": ai_edge_litert.__version__,
            "calibration": "200 standard normal inputs, numpy seed 0", "kernels": "BUILTIN_REF"}
    for name in sys.argv[1:] or {**NETWORKS, **ZOO}:
        one(name, tf, litert, meta)


if __name__ == "__main__":
    sys.exit(main())
