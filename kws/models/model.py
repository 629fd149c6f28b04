"""The Keras 3 model zoo: a registry of small functional builders for keyword spotting.

Every model takes the raw waveform, float32 [batch, clip_samples] in [-1, 1] (input named
"waveform"; 16000, one second, unless `build_model` is given another `clip_samples`: the run's
setting `clip_duration_ms`), and returns softmax probabilities [batch, num_classes] (output layer
named "probs"). Feature extraction (framing, log-mel, MFCC; see `features.py`) is a layer inside the model, so a saved
`.keras` file, a frozen graph and a TFLite model all start from samples. Custom layers are
registered under the Keras package "kws": after `import model`, `keras.models.load_model(path)`
needs no custom_objects.

Models (`MODELS`; builder parameters in each builder's docstring):
  pi                the Kaggle TF Speech Recognition Challenge Raspberry Pi prize model
                    (raw waveform, depthwise-separable 1D convs, attention pooling; ~1.2 M params)
  raw_large         the winning team's large raw-waveform model (Xception-like residual 1D net)
  conv              the TensorFlow speech_commands tutorial's `conv` (log-mel, two big 2D convs)
  low_latency_conv  the tutorial's `low_latency_conv` (one full-height conv, two linear layers)
  ds_cnn            ARM "Hello Edge" DS-CNN on MFCC or log-mel (Zhang et al. 2017)
  bc_resnet         BC-ResNet, broadcasted residual learning (Kim et al. 2021)

API: `build_model(name, num_classes, clip_samples=audio.CLIP_SAMPLES, **params) -> keras.Model`;
`clip_samples_of(model) -> int` (its input length, which every later script reads);
`count_macs(model) -> int` (multiply-adds per clip).

Command line, a table of every model (parameters, float32 bytes, millions of multiply-adds):
    python model.py --list [--num_classes 12]
Reads and writes nothing.
"""

import argparse
import inspect
import logging
import math

import keras
from keras import layers, ops

from kws import cli
from kws.data.audio import CLIP_SAMPLES, SAMPLE_RATE
from kws.models.features import MFCC, Frame, LogMelSpectrogram, MuLaw, SpecAugment

log = logging.getLogger(__name__)

FLOAT32_BYTES = 4


def _scaled(channels, width):
    """Channel count times a width multiplier (at least 1)."""
    return max(1, int(round(channels * width)))


def _waveform_input(clip_samples):
    return keras.Input(shape=(clip_samples,), dtype="float32", name="waveform")


def clip_samples_of(keras_model):
    """Samples per clip a model takes: the length of its waveform input [batch, N]."""
    return int(keras_model.input_shape[-1])


def _classifier(x, num_classes):
    return layers.Dense(num_classes, activation="softmax", name="probs")(x)


def _log_mel_features(waveform, features, frame_length_ms, frame_step_ms, num_mel_bins, num_mfcc=None,
                      spec_augment=0):
    """[batch, frames, bins] log-mel ("logmel") or MFCC ("mfcc") features, standardised per bin,
    then `spec_augment` SpecAugment masks of each kind in training.

    The BatchNormalization learns the features' scale from training data (log power spans about
    -14..+8), and folds into the first convolution at inference.
    """
    if features not in ("logmel", "mfcc"):
        raise cli.UserError(f"features must be 'logmel' or 'mfcc', got {features!r}")
    x = LogMelSpectrogram(SAMPLE_RATE, frame_length_ms, frame_step_ms, num_mel_bins, name="log_mel")(waveform)
    if features == "mfcc":
        x = MFCC(num_mfcc or num_mel_bins, name="mfcc")(x)
    x = layers.BatchNormalization(name="feature_norm")(x)
    return SpecAugment(spec_augment, name="spec_augment")(x) if spec_augment else x


def _as_image(x):
    """[batch, frames, bins] -> [batch, frames, bins, 1] for 2D convolutions."""
    return layers.Reshape((x.shape[1], x.shape[2], 1))(x)


def _conv1d_bn_relu6(x, filters, kernel_size, strides=1, padding="same"):
    x = layers.Conv1D(filters, kernel_size, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU(max_value=6.0)(x)


def _separable1d_bn_relu6(x, filters, kernel_size=3, strides=1):
    """Depthwise conv over time + pointwise conv, BN, ReLU6 (bounded for int8 quantisation)."""
    x = layers.SeparableConv1D(filters, kernel_size, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU(max_value=6.0)(x)


def _attention_pooling(x):
    """A learned score per time step, softmax over time, the score-weighted sum of the features."""
    scores = layers.Conv1D(1, 1, name="attention_scores")(x)
    weights = layers.Softmax(axis=1, name="attention_weights")(scores)
    pooled = layers.Dot(axes=1, name="attention_pool")([weights, x])  # [batch, 1, channels]
    return layers.Flatten()(pooled)


def _framed_waveform(waveform, mu_law):
    """40-sample frames with a 20-sample hop (2.5 / 1.25 ms), of the mu-law companded waveform when
    `mu_law` (features.MuLaw: int8 exports then keep quiet speech)."""
    x = MuLaw(name="mu_law")(waveform) if mu_law else waveform
    return Frame(40, 20, name="frame")(x)


def pi_model(num_classes, clip_samples=CLIP_SAMPLES, width=1.0, dropout_rate=0.3, mu_law=True):
    """Raspberry Pi prize model (Heng-Ryan-See, Kaggle TF Speech Recognition Challenge 2018).

    Raw waveform framed into 40-sample windows with a 20-sample hop (799 x 40), a strided Conv1D,
    then depthwise-separable 1D blocks that halve time while widening 128 -> 512 channels
    (399 -> 7 steps), attention pooling over time concatenated with global average pooling,
    dropout and a softmax layer. The original ran in 58 ms on a Raspberry Pi 3 in 4.87 MB.

    Args:
      width: channel multiplier (1.0 = ~1.2 M params at 12 classes, below the 5 MB float32 budget).
      dropout_rate: dropout before the classifier.
      mu_law: compand the waveform first (features.MuLaw; False = the original linear input).
    """
    waveform = _waveform_input(clip_samples)
    x = _framed_waveform(waveform, mu_law)
    x = _conv1d_bn_relu6(x, _scaled(64, width), 3, strides=2, padding="valid")
    x = _separable1d_bn_relu6(x, _scaled(64, width))
    for channels in (128, 192, 256, 320, 384, 512):
        x = _separable1d_bn_relu6(x, _scaled(channels, width), strides=2)
        x = _separable1d_bn_relu6(x, _scaled(channels, width))
    x = layers.Concatenate()([_attention_pooling(x), layers.GlobalAveragePooling1D()(x)])
    x = layers.Dropout(dropout_rate)(x)
    return keras.Model(waveform, _classifier(x, num_classes))


def _xception_block(x, filters, strides=1):
    """Two separable convs and a max pool, plus a (projected when the shape changes) shortcut."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv1D(filters, 1, strides=strides, padding="same", use_bias=False)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    x = _separable1d_bn_relu6(x, filters)
    x = _separable1d_bn_relu6(x, filters)
    if strides != 1:
        x = layers.MaxPooling1D(3, strides=strides, padding="same")(x)
    return layers.Add()([x, shortcut])


def raw_large_model(num_classes, clip_samples=CLIP_SAMPLES, width=1.0, num_middle_blocks=8, dropout_rate=0.5,
                    mu_law=True):
    """Large raw-waveform model of the winning team's ensemble (trained there on 32 classes).

    Xception-like residual net in 1D (Chollet 2017): 40/20-sample framing, a strided Conv1D, residual
    blocks of two separable convs with max-pool downsampling (128, 256 channels), `num_middle_blocks`
    blocks at 256 channels, downsampling blocks at 512, 728, 728, two separable convs at 1024,
    global average pooling, dropout, softmax. ~6.5 M params at width 1.

    Args:
      width: channel multiplier.
      num_middle_blocks: residual blocks at 100 time steps.
      dropout_rate: dropout before the classifier.
      mu_law: compand the waveform first (features.MuLaw; False = the original linear input).
    """
    waveform = _waveform_input(clip_samples)
    x = _framed_waveform(waveform, mu_law)
    x = _conv1d_bn_relu6(x, _scaled(64, width), 3, strides=2, padding="valid")
    for channels in (128, 256):
        x = _xception_block(x, _scaled(channels, width), strides=2)
    for _ in range(num_middle_blocks):
        x = _xception_block(x, _scaled(256, width))
    for channels in (512, 728, 728):
        x = _xception_block(x, _scaled(channels, width), strides=2)
    x = _separable1d_bn_relu6(x, _scaled(1024, width), strides=2)
    x = _separable1d_bn_relu6(x, _scaled(1024, width))
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(dropout_rate)(x)
    return keras.Model(waveform, _classifier(x, num_classes))


def conv_model(num_classes, clip_samples=CLIP_SAMPLES, features="logmel", num_mel_bins=40, filters=64,
               dropout_rate=0.5, spec_augment=0):
    """The TensorFlow speech_commands tutorial's `conv` model (after Sainath & Parada 2015).

    30 ms / 10 ms log-mel (98 x 40 for 1 s), Conv2D 20x8 + ReLU + dropout + 2x2 max pool, Conv2D 10x4 +
    ReLU + dropout, and a softmax layer on the flattened maps. Accurate but heavy (~200 M MACs).

    Args:
      features: "logmel" or "mfcc" (then num_mel_bins cepstral coefficients, as the tutorial).
      num_mel_bins: mel filters.
      filters: channels of both convolutions.
      dropout_rate: dropout after each convolution.
      spec_augment: SpecAugment time and feature masks of each kind in training (0 = off).
    """
    waveform = _waveform_input(clip_samples)
    x = _as_image(_log_mel_features(waveform, features, 30.0, 10.0, num_mel_bins, spec_augment=spec_augment))
    x = layers.Conv2D(filters, (20, 8), padding="same", activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Conv2D(filters, (10, 4), padding="same", activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    x = layers.Flatten()(x)
    return keras.Model(waveform, _classifier(x, num_classes))


def low_latency_conv_model(num_classes, clip_samples=CLIP_SAMPLES, features="logmel", num_mel_bins=40, filters=186,
                           fc_units=128, dropout_rate=0.5, spec_augment=0):
    """The TensorFlow speech_commands tutorial's `low_latency_conv` (after Sainath & Parada 2015).

    One Conv2D spanning all 98 frames and 8 mel bins (stride 1, valid) so the time axis collapses
    at once, then two linear fully connected layers (no activation, as in the tutorial: a low-rank
    classifier) with dropout, and a softmax layer.

    Args:
      features: "logmel" or "mfcc".
      num_mel_bins: mel filters.
      filters: channels of the convolution.
      fc_units: width of the two linear layers.
      dropout_rate: dropout after the convolution and each linear layer.
      spec_augment: SpecAugment time and feature masks of each kind in training (0 = off).
    """
    waveform = _waveform_input(clip_samples)
    x = _as_image(_log_mel_features(waveform, features, 30.0, 10.0, num_mel_bins, spec_augment=spec_augment))
    x = layers.Conv2D(filters, (x.shape[1], 8), padding="valid", activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    x = layers.Flatten()(x)
    for _ in range(2):
        x = layers.Dense(fc_units)(x)
        x = layers.Dropout(dropout_rate)(x)
    return keras.Model(waveform, _classifier(x, num_classes))


def ds_cnn_model(num_classes, clip_samples=CLIP_SAMPLES, features="mfcc", frame_length_ms=40.0, frame_step_ms=20.0,
                 num_mel_bins=40, num_mfcc=10, filters=64, num_blocks=4, dropout_rate=0.2, spec_augment=0):
    """DS-CNN of ARM's "Hello Edge: Keyword Spotting on Microcontrollers" (Zhang et al. 2017).

    40 ms / 20 ms windows (49 frames for 1 s) -> 10 MFCC of 40 mel bins (or the 40 log-mel bins), a Conv2D
    10x4 stride 2 + BN + ReLU, `num_blocks` depthwise-separable blocks (3x3 depthwise + BN + ReLU,
    1x1 pointwise + BN + ReLU), global average pooling, dropout, softmax. The defaults are DS-CNN-S
    (~24 k params); filters=172/num_blocks=5 is DS-CNN-M and 276/5 is DS-CNN-L.

    Args:
      features: "mfcc" (num_mfcc coefficients) or "logmel" (num_mel_bins bins).
      frame_length_ms, frame_step_ms: analysis window and hop (the paper's 40 ms / 20 ms).
      num_mel_bins: mel filters.
      num_mfcc: cepstral coefficients kept with features="mfcc" (ignored with "logmel").
      filters: channels of every convolution.
      num_blocks: depthwise-separable blocks.
      dropout_rate: dropout before the classifier.
      spec_augment: SpecAugment time and feature masks of each kind in training (0 = off).
    """
    waveform = _waveform_input(clip_samples)
    x = _as_image(_log_mel_features(waveform, features, frame_length_ms, frame_step_ms, num_mel_bins,
                                     num_mfcc=num_mfcc, spec_augment=spec_augment))
    x = layers.Conv2D(filters, (10, 4), strides=2, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for _ in range(num_blocks):
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2D(filters, 1, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout_rate)(x)
    return keras.Model(waveform, _classifier(x, num_classes))


@keras.saving.register_keras_serializable(package="kws")
class SubSpectralNorm(layers.Layer):
    """Batch norm with separate statistics per frequency sub-band (Chang et al. 2021).

    Input [batch, freq, time, channels]; the frequency axis is cut into `sub_bands` equal bands and
    each (band, channel) pair gets its own mean, variance, scale and offset.
    """

    def __init__(self, sub_bands, **kwargs):
        super().__init__(**kwargs)
        self.sub_bands = int(sub_bands)
        self.norm = layers.BatchNormalization(name="batch_norm")

    def build(self, input_shape):
        freq, time, channels = input_shape[1:]
        if freq % self.sub_bands:
            raise cli.UserError(f"{freq} frequency bins do not split into {self.sub_bands} equal sub-bands")
        self.norm.build((None, freq // self.sub_bands, time, self.sub_bands * channels))

    def call(self, inputs, training=None):
        freq, time, channels = inputs.shape[1:]
        band = freq // self.sub_bands
        x = ops.reshape(inputs, (-1, self.sub_bands, band, time, channels))
        x = ops.transpose(x, (0, 2, 3, 1, 4))
        x = self.norm(ops.reshape(x, (-1, band, time, self.sub_bands * channels)), training=training)
        x = ops.transpose(ops.reshape(x, (-1, band, time, self.sub_bands, channels)), (0, 3, 1, 2, 4))
        return ops.reshape(x, (-1, freq, time, channels))

    def get_config(self):
        config = super().get_config()
        config.update(sub_bands=self.sub_bands)
        return config


def _frequency_depthwise(x, freq_stride):
    """A (3, 1) depthwise conv with 'same' padding and stride `freq_stride` along frequency, as a stride-1
    conv followed by every `freq_stride`-th bin: the same values and weights, but TensorFlow's default CPU
    kernel has no unequal strides (it refuses them where oneDNN is off, e.g. on AMD CPUs)."""
    x = layers.DepthwiseConv2D((3, 1), padding="same", use_bias=False)(x)
    if freq_stride == 1:
        return x
    bins = x.shape[1]
    out = -(-bins // freq_stride)
    pad_before = max((out - 1) * freq_stride + 3 - bins, 0) // 2  # what stride-s 'same' padding puts first
    first = 1 - pad_before  # the stride-1 output centred where the strided one's first output is
    if first < 0:
        raise ValueError(f"frequency stride {freq_stride} over {bins} bins has no stride-1 equivalent")
    return x[:, first::freq_stride]


def _bc_res_block(x, channels, freq_stride, dilation, sub_bands, dropout_rate):
    """Broadcasted residual block: a frequency-wise 2D branch plus a temporal 1D branch broadcast back."""
    transition = x.shape[-1] != channels
    shortcut = x
    if transition:  # the channel change happens before the frequency-depthwise conv
        x = layers.Conv2D(channels, 1, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = _frequency_depthwise(x, freq_stride)
    x = SubSpectralNorm(sub_bands)(x) if sub_bands > 1 else layers.BatchNormalization()(x)
    frequency_branch = x
    x = layers.AveragePooling2D((x.shape[1], 1))(x)  # [batch, 1, time, channels]
    x = layers.DepthwiseConv2D((1, 3), dilation_rate=(1, dilation), padding="same", use_bias=False)(x)
    x = layers.Activation("swish")(layers.BatchNormalization()(x))
    x = layers.Conv2D(channels, 1, use_bias=False)(x)
    x = layers.SpatialDropout2D(dropout_rate)(x)
    branches = [frequency_branch, x] if transition else [frequency_branch, x, shortcut]
    return layers.ReLU()(layers.Add()(branches))  # Add broadcasts the 1-bin temporal branch


def bc_resnet_model(num_classes, clip_samples=CLIP_SAMPLES, frame_length_ms=30.0, frame_step_ms=10.0, num_mel_bins=40,
                    width=6.0, sub_bands=5, dropout_rate=0.1, spec_augment=0):
    """BC-ResNet-<width> (Kim et al. 2021, "Broadcasted Residual Learning for Efficient KWS").

    30 ms / 10 ms log-mel 40 bins as [freq, time]; Conv2D 5x5 stride (2, 1); four stages of
    broadcasted residual blocks (2, 2, 4, 4 blocks; 8, 12, 16, 20 x width channels; frequency
    stride 2 in stages 2 and 3; temporal dilation 1, 2, 4, 8); a depthwise 5x5 that collapses the
    5 remaining bins, a 1x1 conv to 32 x width channels, average pooling over time, softmax.
    BC-ResNet-6 has ~0.2 M params (BC-ResNet-1 ~12 k, BC-ResNet-8 ~0.34 M).

    Args:
      frame_length_ms, frame_step_ms: analysis window and hop of the log-mel features.
      num_mel_bins: mel filters; the frequency axis is halved three times and each stage splits it into
        `sub_bands` bands, so 40 (20, 10, 5 bins) or another multiple of 8 x sub_bands keeps them whole.
      width: the paper's tau (base channels = 8 x width).
      sub_bands: SubSpectralNorm sub-bands after the frequency convs (1 = plain batch norm).
      dropout_rate: channel-wise dropout in the temporal branch.
      spec_augment: SpecAugment time and feature masks of each kind in training (0 = off).
    """
    base = _scaled(8, width)
    channels = [2 * base, base, int(1.5 * base), 2 * base, int(2.5 * base), 4 * base]
    waveform = _waveform_input(clip_samples)
    x = _log_mel_features(waveform, "logmel", frame_length_ms, frame_step_ms, num_mel_bins,
                          spec_augment=spec_augment)
    x = layers.Permute((2, 1))(x)  # [batch, freq, time]: the paper's layout
    x = _as_image(x)
    x = layers.Conv2D(channels[0], 5, strides=(2, 1), padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for stage, num_blocks in enumerate((2, 2, 4, 4)):
        for block in range(num_blocks):
            freq_stride = 2 if stage in (1, 2) and block == 0 else 1
            x = _bc_res_block(x, channels[stage + 1], freq_stride, 2**stage, sub_bands, dropout_rate)
    x = layers.ZeroPadding2D(((0, 0), (2, 2)))(x)  # pad time only: the 5x5 collapses frequency
    x = layers.DepthwiseConv2D((x.shape[1], 5), use_bias=False)(x)
    x = layers.Conv2D(channels[-1], 1, use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(waveform, _classifier(x, num_classes))


MODELS = {
    "pi": pi_model,
    "raw_large": raw_large_model,
    "conv": conv_model,
    "low_latency_conv": low_latency_conv_model,
    "ds_cnn": ds_cnn_model,
    "bc_resnet": bc_resnet_model,
}


_NOT_PARAMS = ("num_classes", "clip_samples")  # every builder's; set by the run, not by model_params


def model_params(name):
    """The keyword parameters (with defaults) that a registered model accepts."""
    signature = inspect.signature(MODELS[name])
    return {key: p.default for key, p in signature.parameters.items() if key not in _NOT_PARAMS}


def build_model(name, num_classes, clip_samples=CLIP_SAMPLES, **params):
    """A fresh (uncompiled) registered model taking clips of `clip_samples`; unknown names or parameters
    raise ValueError."""
    if name not in MODELS:
        raise cli.UserError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise cli.UserError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    accepted = model_params(name)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise cli.UserError(
            f"model {name!r} has no parameter(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(f'{k}={v!r}' for k, v in accepted.items())}"
        )
    log.debug("building %s with %d classes and %s", name, num_classes, params)
    built = MODELS[name](num_classes, clip_samples=int(clip_samples), **params)
    built.name = name  # so a checkpoint says which registry entry made it
    return built


def _layer_macs(layer):
    """Multiply-adds of one layer for one example (see `count_macs`)."""
    if hasattr(layer, "multiply_adds"):
        return layer.multiply_adds(tuple(layer.input.shape))
    if not isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.DepthwiseConv1D, layers.DepthwiseConv2D,
                              layers.SeparableConv1D, layers.SeparableConv2D, layers.Dense, layers.Dot)):
        return 0
    if isinstance(layer, layers.Dot):  # batched matrix product: every output sums over the contracted axis
        contracted = layer.input[0].shape[layer.axes[0] if isinstance(layer.axes, (list, tuple)) else layer.axes]
        return math.prod(layer.output.shape[1:]) * contracted
    in_channels = layer.input.shape[-1]
    out_elements = math.prod(layer.output.shape[1:])
    if isinstance(layer, layers.Dense):
        return out_elements * in_channels
    kernel = math.prod(layer.kernel_size)
    if isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
        return out_elements * kernel
    if isinstance(layer, (layers.SeparableConv1D, layers.SeparableConv2D)):
        depthwise_outputs = out_elements // layer.filters * in_channels * layer.depth_multiplier
        return depthwise_outputs * kernel + out_elements * in_channels * layer.depth_multiplier
    return out_elements * kernel * in_channels // layer.groups


def count_macs(model):
    """Multiply-adds to classify one clip.

    Counted: Conv1D/Conv2D (output elements x kernel x input channels / groups), depthwise convs
    (output elements x kernel), separable convs (both parts), Dense (output elements x inputs),
    Dot (attention pooling) and the feature layers' own `multiply_adds` (window, FFT as
    N*log2(N), power, mel and DCT matrix products). Not counted: batch norm (folded into the
    convolutions at inference), activations, pooling, softmax, log, additions of residuals.
    """
    return int(sum(_layer_macs(layer) for layer in model.layers))


def float32_bytes(model):
    """Size of all weights (trainable and batch-norm statistics) stored as float32."""
    return model.count_params() * FLOAT32_BYTES


def zoo_table(num_classes):
    """Rows (name, parameters, float32 bytes, MMACs per clip) for every registered model."""
    rows = []
    for name in MODELS:
        built = build_model(name, num_classes)
        rows.append((name, built.count_params(), float32_bytes(built), count_macs(built) / 1e6))
        keras.backend.clear_session()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print every registered model's size and cost")
    parser.add_argument("--num_classes", type=int, default=12,
                        help="output classes used for the table (default: 12, the Kaggle labels)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.list:
        parser.error("nothing to do: pass --list")
    print(f"{'model':<18}{'parameters':>12}{'float32 bytes':>16}{'MMACs/clip':>12}")
    for name, params, size_bytes, mmacs in zoo_table(args.num_classes):
        print(f"{name:<18}{params:>12,}{size_bytes:>16,}{mmacs:>12.1f}")

